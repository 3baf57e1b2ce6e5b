import { parseArgs } from 'node:util';
import { formatError, readEnv } from '@33god/core';
import { interruptHandler } from './interrupts.js';
import { LOG_FORMAT, startStack } from './stack.js';

const USAGE = `usage: 33god up [--demo] [--host ADDRESS]

Starts every part of the 33GOD event infrastructure in this process: gateway, store,
dashboard and dispatcher. Embedded broker and database unless AMQP_URL and DATABASE_URL
are set. --demo adds realistic traffic from the example services of services/registry.yaml.
Every part listens on 127.0.0.1 unless --host (or its own *_HOST variable) says otherwise;
any other address needs AUTH_TOKENS or AUTH_TOKENS_FILE (README: "Tokens and the dashboard
login"). Ctrl-C stops everything cleanly.`;

export async function main(argv: string[]): Promise<number> {
  let values: { demo?: boolean; host?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        demo: { type: 'boolean' },
        host: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const command = positionals[0] ?? 'up';
  if (command !== 'up') {
    console.error(`unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  let stack: Awaited<ReturnType<typeof startStack>>;
  try {
    readEnv(LOG_FORMAT); // read by the launcher (scripts/start.mjs); a bad value is refused here
    stack = await startStack({
      demo: values.demo === true,
      ...(values.host === undefined ? {} : { host: values.host }),
      log: (l) => console.log(l),
    });
  } catch (err) {
    console.error(formatError(err));
    return 1;
  }
  const { broker, brokerStorage, database } = stack.mode;
  const storage =
    brokerStorage === 'durable'
      ? ' (durable)'
      : brokerStorage === 'memory'
        ? ' (in memory: a crash loses its queues)'
        : '';
  console.log(
    `\n33GOD event infrastructure is up — broker: ${broker}${storage}, database: ${database}${values.demo ? ', demo traffic on' : ''}\n`,
  );
  const width = Math.max(...stack.parts.map((p) => p.name.length));
  for (const p of stack.parts) console.log(`  ${p.name.padEnd(width)}  ${p.url.padEnd(24)}  ${p.note}`);
  // Where the parts really listen, so a bind beyond loopback never hides behind a 127.0.0.1 URL.
  const bound = [...new Set(stack.parts.flatMap((p) => p.listening.map((a) => a.replace(/:\d+$/, ''))))];
  const where = bound.map((a) => (a === '0.0.0.0' || a === '[::]' ? `${a} (every interface)` : a));
  console.log(
    `\nlistening on ${where.join(', ')}; ${stack.auth ? 'tokens required (log in to the dashboard with one)' : 'no tokens configured'}`,
  );
  console.log('\nCtrl-C stops everything.');
  await new Promise<void>((resolve) => {
    const onSignal = interruptHandler(resolve, () => {
      console.error('second interrupt: exiting without finishing in-flight events');
      process.exit(130);
    });
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  console.log('\nstopping: finishing in-flight events…');
  const force = setTimeout(() => {
    console.error('shutdown took longer than 30 s; exiting');
    process.exit(1);
  }, 30_000);
  force.unref();
  try {
    await stack.close();
  } catch (err) {
    console.error(formatError(err));
    return 1;
  }
  console.log('stopped.');
  return 0;
}
