// Child processes of the end-to-end bench: start, wait until listening, sample RSS, stop.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GATEWAY_NODE_FLAGS, SERVICE_NODE_FLAGS } from '../types.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  url: string;
  /** Everything the child wrote (bounded), for error messages. */
  output(): string;
}

/** Only what a part needs: the bench's own configuration never leaks into a child. */
export function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { LOG_LEVEL: 'silent', NODE_ENV: 'production' };
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[k]) env[k] = process.env[k];
  return { ...env, ...extra };
}

/**
 * Spawns `node [--import tsx] <script> args` and resolves once `ready` matches a line of its
 * output (stdout or stderr), with the first capture group as the URL.
 */
export function startChild(
  name: string,
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  timeoutMs = 60_000,
  nodeFlags: readonly string[] = SERVICE_NODE_FLAGS,
): Promise<Child> {
  // Plain JavaScript runs without the TypeScript source loader.
  const loader = script.endsWith('.ts') ? ['--conditions=source', '--import', 'tsx'] : [];
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...nodeFlags, ...loader, join(here, script), ...args], {
      // stdin stays open for the child's life: it exits when it closes (see launch.mjs).
      stdio: ['pipe', 'pipe', 'pipe'],
      env,
    });
    let log = '';
    let settled = false;
    const timer = setTimeout(() => {
      fail(new Error(`${name} did not start within ${timeoutMs / 1000}s:\n${log.slice(-2000)}`));
    }, timeoutMs);
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(err);
    };
    const onData = (chunk: string) => {
      // Keep reading whatever comes (a full pipe would stall the child); keep only the tail.
      log = (log + chunk).slice(-20_000);
      if (settled) return;
      const m = ready.exec(log);
      if (m?.[1]) {
        settled = true;
        clearTimeout(timer);
        resolve({
          name,
          proc,
          pid: proc.pid!,
          url: m[1].replace('0.0.0.0', '127.0.0.1'),
          output: () => log,
        });
      }
    };
    proc.stdout!.setEncoding('utf8').on('data', onData);
    proc.stderr!.setEncoding('utf8').on('data', onData);
    proc.on('error', fail);
    proc.on('exit', (code) =>
      fail(new Error(`${name} exited with ${code} before it was ready:\n${log.slice(-2000)}`)),
    );
  });
}

/**
 * Starts one part through its CLI (`<part> serve`) with only `env` as configuration. One more
 * attempt after a failed start: on this shared machine someone may be restarting the broker or
 * the database just then.
 */
export async function startPart(
  name: string,
  part: 'bloodbank' | 'candystore' | 'candybar' | 'infra-dispatcher' | 'noop',
  env: Record<string, string>,
  log: (line: string) => void = () => {},
): Promise<Child> {
  const start = () =>
    startChild(
      name,
      'launch.mjs',
      part === 'noop' ? ['noop'] : [part, 'serve'],
      baseEnv(env),
      // The character after the port, so a port split across two reads is never taken short.
      /(?:listening on|health on) (https?:\/\/[0-9.]+:\d+)[\s/]/,
      undefined,
      // as deploy/compose.yaml starts each part
      part === 'bloodbank' ? GATEWAY_NODE_FLAGS : SERVICE_NODE_FLAGS,
    );
  try {
    return await start();
  } catch (err) {
    log(`${name} failed to start, trying once more: ${(err as Error).message.split('\n').join(' ')}`);
    await reachable([env.AMQP_URL, env.DATABASE_URL]);
    await new Promise((r) => setTimeout(r, 1000));
    return start();
  }
}

/** Resolves once every URL's host accepts TCP connections (after someone else's restart), or after `timeoutMs`. */
export async function reachable(urls: (string | undefined)[], timeoutMs = 60_000): Promise<void> {
  for (const raw of urls) {
    if (!raw) continue;
    const u = new URL(raw);
    const port = Number(u.port || (u.protocol.startsWith('amqp') ? 5672 : 5432));
    await waitFor(
      `${u.hostname}:${port} to accept connections`,
      timeoutMs,
      () =>
        new Promise<true | undefined>((resolve) => {
          const socket = connect({ host: u.hostname, port });
          socket.once('connect', () => {
            socket.destroy();
            resolve(true);
          });
          socket.once('error', () => resolve(undefined));
        }),
      500,
    ).catch(() => {});
  }
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export function stopChild(child: Child | undefined, graceMs = 15_000): Promise<void> {
  if (!child) return Promise.resolve();
  const { proc } = child;
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

/** Resident set size of a process in MB, from /proc; 0 once it is gone. */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples the RSS of several processes every `everyMs` until stopped; keeps each one's peak. */
export class RssSampler {
  readonly #pids: Map<string, number>;
  readonly #peak = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(pids: Record<string, number>, everyMs = 100) {
    this.#pids = new Map(Object.entries(pids));
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), everyMs);
  }

  #sample(): void {
    for (const [name, pid] of this.#pids) {
      this.#peak.set(name, Math.max(this.#peak.get(name) ?? 0, rssMb(pid)));
    }
  }

  /** Stops sampling and returns the peak RSS (MB) of each process. */
  stop(): Record<string, number> {
    clearInterval(this.#timer);
    this.#sample();
    return Object.fromEntries(this.#peak);
  }
}

export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? ` (${(last as Error).message})` : ''}`,
  );
}

const RESTART_LOCK = '/tmp/33god-restart.lock';

/**
 * Runs `fn` holding the lock that broker and database restart tests take around their outage,
 * so a timed phase never straddles someone else's restart on this shared machine. Held only
 * for one timed phase at a time; waits at most `waitMs` for it, then runs without it (logged).
 */
export async function withoutRestarts<T>(
  log: (line: string) => void,
  fn: () => Promise<T>,
  waitMs = 20_000,
): Promise<T> {
  const holder = spawn(
    'flock',
    ['-w', String(Math.ceil(waitMs / 1000)), RESTART_LOCK, 'sh', '-c', 'echo locked; exec cat >/dev/null'],
    { stdio: ['pipe', 'pipe', 'ignore'] },
  );
  const locked = await new Promise<boolean>((resolve) => {
    holder.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('locked')) resolve(true);
    });
    holder.on('error', () => resolve(false));
    holder.on('exit', () => resolve(false));
  });
  if (!locked)
    log(`warning: could not take ${RESTART_LOCK}; a restart by someone else may disturb this phase`);
  try {
    return await fn();
  } finally {
    if (holder.exitCode === null) {
      const gone = new Promise((r) => holder.once('exit', r));
      holder.stdin!.end();
      await gone;
    }
  }
}

/** Resolves once every URL's `/health` answers 200 (e.g. the parts reconnected after a restart). */
export function healthy(urls: string[], timeoutMs = 60_000): Promise<true> {
  return waitFor(
    `200 from /health of ${urls.join(', ')}`,
    timeoutMs,
    async () => {
      for (const u of urls) {
        const res = await fetch(`${u}/health`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status !== 200) return undefined;
      }
      return true as const;
    },
    250,
  );
}
