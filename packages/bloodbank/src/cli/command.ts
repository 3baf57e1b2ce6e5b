import { AMQP_URL, AppError, formatError, readEnv } from '@33god/core';
import { openTransport } from '../sdk/transport.js';
import { redactUrl } from '../transport/rabbitmq/url.js';
import type { Transport } from '../transport/transport.js';

/** Where a command writes and what it reads; tests pass their own. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
}

export const stdio: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
};

/** A command of the `bloodbank` CLI: `run` returns the exit code. */
export interface CliCommand {
  run(argv: string[], io?: CliIo): Promise<number>;
}

/** Exit codes: 0 ok, 1 the operation failed or found a problem (drift), 2 usage error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export class UsageError extends Error {}

/**
 * Opens the RabbitMQ named by `--amqp-url`, else `AMQP_URL`. There is no embedded fallback: an
 * embedded broker lives inside the process that runs it (`npm start`), so one opened here would
 * be a new, empty broker that disappears when the command ends.
 */
export async function cliTransport(url: string | undefined, io: CliIo, command: string): Promise<Transport> {
  const target = url ?? readEnv(AMQP_URL, io.env);
  if (target === undefined) {
    throw new AppError(
      'CONFIG_INVALID',
      `${command} needs RabbitMQ: set AMQP_URL or pass --amqp-url (an embedded broker lives only inside the process running it)`,
    );
  }
  return openTransport({ url: target });
}

/** Runs a command body, turning errors into a one-line message and an exit code. */
export async function guarded(io: CliIo, usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`error: ${(err as Error).message}`);
      io.err(usage);
      return EXIT.usage;
    }
    io.err(redactUrl(formatError(err)));
    return EXIT.failed;
  }
}
