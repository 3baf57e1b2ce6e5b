// Parts of the system run as child processes, as their bins run them, and a local OpenClaw
// stand-in: what the restart suite (restarts.rabbitmq.test.ts) and the cluster load suite
// (test/cluster) start beside the brokers.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One part, run as `<part> serve` from its sources, as its bin runs the compiled CLI. */
export class Part {
  #child: ChildProcess | null = null;
  #output: string[] = [];
  /** Every line with the time it came, for the lines printed during a fault. */
  #timed: { at: number; line: string }[] = [];
  starts = 0;

  constructor(
    readonly name: string,
    readonly cli: string,
    readonly env: NodeJS.ProcessEnv,
    readonly healthUrl: string,
  ) {}

  start(): void {
    const code = `import(${JSON.stringify(resolve(ROOT, this.cli))}).then((m) => m.main(process.argv.slice(1))).then((c) => { process.exitCode = c; })`;
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', '-e', code, 'serve'], {
      cwd: ROOT,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      const at = Date.now();
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        this.#output.push(line);
        this.#timed.push({ at, line });
      }
      if (this.#output.length > 80) this.#output.splice(0, this.#output.length - 80);
      if (this.#timed.length > 5000) this.#timed.splice(0, this.#timed.length - 5000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#child = child;
    this.starts++;
  }

  get pid(): number | undefined {
    return this.alive ? this.#child?.pid : undefined;
  }

  get alive(): boolean {
    return this.#child !== null && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Resolves once /health answers 200; fails at once when the process exited. */
  async healthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (!this.alive) throw new Error(`${this.name} exited:\n${this.tail()}`);
      try {
        const res = await fetch(this.healthUrl, { signal: AbortSignal.timeout(2000) });
        last = `${res.status} ${(await res.text()).slice(0, 300)}`;
        if (res.status === 200) return;
      } catch (err) {
        last = String(err);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${this.name} did not answer /health with 200 within ${timeoutMs} ms (last: ${last})`,
        );
      }
      await sleep(200);
    }
  }

  /** SIGKILL: no drain, no goodbye. */
  async kill9(): Promise<void> {
    const child = this.#child;
    if (!child || !this.alive) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM, then SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || !this.alive) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Up to `max` lines printed in `[at, until)`, each as "+0.12 s <line>". */
  linesBetween(at: number, until: number, max = 12): string[] {
    const picked = this.#timed.filter((l) => l.at >= at && l.at < until);
    const shown = picked
      .slice(0, max)
      .map((l) => `+${((l.at - at) / 1000).toFixed(2)} s ${l.line.slice(0, 300)}`);
    if (picked.length > max) shown.push(`(${picked.length - max} more lines)`);
    return shown;
  }

  tail(): string {
    return this.#output.slice(-30).join('\n');
  }
}

// --- OpenClaw stand-in -----------------------------------------------------------------

export interface OpenClawStandIn {
  url: string;
  token: string;
  /** Requests received, by session key (`hook:infra:<issue id>`). */
  bySession: Map<string, number>;
  /** Requests received and not answered yet. */
  inFlight(): number;
  close(): Promise<void>;
}

/** Takes every authorised hook request, counts it by session and answers 200 after `answerMs`. */
export async function startOpenClaw(token: string, answerMs = 50): Promise<OpenClawStandIn> {
  const bySession = new Map<string, number>();
  let unanswered = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401).end();
        return;
      }
      let session = '?';
      try {
        session = String(
          (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { sessionKey?: string }).sessionKey,
        );
      } catch {}
      // Taken (the agent run starts now); the answer comes a little later, as a real gateway's would.
      bySession.set(session, (bySession.get(session) ?? 0) + 1);
      unanswered++;
      setTimeout(() => {
        unanswered--;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true, runId: randomUUID() }));
      }, answerMs);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/agent`,
    token,
    bySession,
    inFlight: () => unanswered,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
