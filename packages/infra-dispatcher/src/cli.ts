import { AMQP_URL, accessConfigFromEnv, formatError, readEnv } from '@33god/core';
import { assertServeable, configFromEnv } from './config.js';
import { startDispatcher } from './service.js';

const USAGE = `usage: infra-dispatcher serve

Consumes webhook.plane.# from the bus, applies the ready gate, runs the component
check and dispatches ready tickets to OpenClaw. Configuration comes from the
environment (OPENCLAW_HOOK_TOKEN is required; see the README's table).
SIGTERM or SIGINT stop it gracefully: running events finish, then it exits.`;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

const consoleIo: CliIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

/** `infra-dispatcher serve`. Resolves with the exit code once the service has stopped. */
export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliIo = consoleIo,
): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    (command === undefined ? io.err : io.out)(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'serve') {
    io.err(`error: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  if (rest.length > 0) {
    io.err(
      `error: 'serve' takes no arguments (got ${rest.join(' ')}); configure it with environment variables`,
    );
    return 2;
  }

  let dispatcher: Awaited<ReturnType<typeof startDispatcher>>;
  try {
    const config = configFromEnv(env);
    assertServeable(config);
    const amqpUrl = readEnv(AMQP_URL, env);
    if (amqpUrl === undefined) {
      io.err(
        'warning: AMQP_URL is unset: using the embedded in-process broker, which only this process can publish to',
      );
    }
    dispatcher = await startDispatcher({
      config,
      access: accessConfigFromEnv(env),
      ...(amqpUrl ? { amqpUrl } : {}),
    });
  } catch (err) {
    io.err(formatError(err));
    return 1;
  }
  io.out(`infra-dispatcher: consuming ${dispatcher.queue}; health on ${dispatcher.url}/health`);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  try {
    await dispatcher.close();
  } catch (err) {
    io.err(formatError(err));
    return 1;
  }
  return 0;
}
