import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '..', '..', '..');

/** `npm start` with only PATH, HOME and `env`; its output is collected as it comes. */
export function npmStart(env: NodeJS.ProcessEnv, detached = false, args: readonly string[] = []) {
  const child = spawn('npm', ['start', ...(args.length > 0 ? ['--', ...args] : [])], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    detached,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const io = { out: '', err: '' };
  child.stdout.on('data', (d: Buffer) => {
    io.out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    io.err += d.toString();
  });
  const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, io, closed };
}

/** Waits until `npm start` says it is up; fails with its output if it exits or takes too long. */
export async function untilUp(run: ReturnType<typeof npmStart>, timeoutMs = 150_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!run.io.out.includes('Ctrl-C stops everything.')) {
    if (run.child.exitCode !== null) throw new Error(`npm start exited early:\n${run.io.out}\n${run.io.err}`);
    if (Date.now() > deadline) throw new Error(`npm start did not come up:\n${run.io.out}\n${run.io.err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
