import { parseArgs } from 'node:util';
import { BLOODBANK_URL, CANDYSTORE_URL, readEnv } from '@33god/core';
import { type CliIo, EXIT, guarded, stdio, UsageError } from './command.js';

export const HEALTH_USAGE = `bb health [name=URL ...] [--timeout SECONDS]

Checks GET <URL>/health of every part and prints one line each; exits 1 when any is down.
Default: gateway ${'$'}BLOODBANK_URL (http://127.0.0.1:8682), store ${'$'}CANDYSTORE_URL (http://127.0.0.1:8080),
dashboard http://127.0.0.1:3000, dispatcher http://127.0.0.1:8690.`;

export interface HealthTarget {
  name: string;
  url: string;
}

export function defaultHealthTargets(env: NodeJS.ProcessEnv): HealthTarget[] {
  return [
    { name: 'gateway', url: readEnv(BLOODBANK_URL, env)! },
    { name: 'store', url: readEnv(CANDYSTORE_URL, env)! },
    { name: 'dashboard', url: 'http://127.0.0.1:3000' },
    { name: 'dispatcher', url: 'http://127.0.0.1:8690' },
  ];
}

export interface HealthLine {
  name: string;
  url: string;
  up: boolean;
  detail: string;
}

export async function checkHealth(target: HealthTarget, timeoutMs: number): Promise<HealthLine> {
  const url = new URL('/health', target.url).toString();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json().catch(() => null)) as { status?: string; errors?: string[] } | null;
    const status = body?.status ?? `HTTP ${res.status}`;
    const why = body?.errors?.length ? `: ${body.errors.join('; ')}` : '';
    return { ...target, up: res.ok, detail: `${status}${why}` };
  } catch (err) {
    return { ...target, up: false, detail: networkReason(err) };
  }
}

/** A short reason for a failed fetch: `connection refused`, `timed out`, ... */
export function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const code = cause?.code ?? (err as { name?: string })?.name;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'TimeoutError':
    case 'AbortError':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'timed out';
    case 'ECONNRESET':
      return 'connection reset';
    default:
      return cause?.message ?? (err instanceof Error ? err.message : String(err));
  }
}

export async function run(argv: string[], io: CliIo = stdio): Promise<number> {
  return guarded(io, HEALTH_USAGE, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { timeout: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      io.out(HEALTH_USAGE);
      return EXIT.ok;
    }
    const timeoutMs = Number(values.timeout ?? 3) * 1000;
    if (!(timeoutMs > 0)) throw new UsageError('--timeout must be a positive number');
    const targets = positionals.length > 0 ? positionals.map(parseTarget) : defaultHealthTargets(io.env);
    const lines = await Promise.all(targets.map((t) => checkHealth(t, timeoutMs)));
    const width = Math.max(...lines.map((l) => l.name.length));
    for (const l of lines)
      io.out(`${l.up ? 'up  ' : 'DOWN'}  ${l.name.padEnd(width)}  ${l.url}  ${l.detail}`);
    return lines.every((l) => l.up) ? EXIT.ok : EXIT.failed;
  });
}

function parseTarget(arg: string, i: number): HealthTarget {
  const eq = arg.indexOf('=');
  const name = eq > 0 && !arg.slice(0, eq).includes(':') ? arg.slice(0, eq) : `target${i + 1}`;
  const url = eq > 0 && name !== `target${i + 1}` ? arg.slice(eq + 1) : arg;
  try {
    new URL(url);
  } catch {
    throw new UsageError(`'${arg}' is not a URL (give name=URL or URL)`);
  }
  return { name, url };
}
