import { formatError } from '@33god/core';
import { optionsFromEnv, startCandystore } from './service.js';
import { openStore } from './storage/open.js';

const USAGE = `usage: candystore <command>

commands:
  serve     run the store: ingest from the broker, HTTP API on CANDYSTORE_PORT (default 8080)
  migrate   apply the database migrations and exit
  help      show this text

Configuration comes from the environment (see the README's table): DATABASE_URL (unset: embedded
PGlite in CANDYSTORE_DATA_DIR), AMQP_URL (unset: embedded broker), CANDYSTORE_*. It listens on
127.0.0.1 unless CANDYSTORE_HOST says otherwise; another address needs AUTH_TOKENS (or
AUTH_TOKENS_FILE), and then every route but /health and /docs needs a token.`;

/** `candystore serve` and friends. Returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        if (rest.length > 0) return usageError(`serve takes no arguments, got ${rest.join(' ')}`);
        return await serve();
      case 'migrate': {
        const o = optionsFromEnv();
        const store = await openStore({
          ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
          ...(o.dataDir ? { dataDir: o.dataDir } : {}),
        });
        await store.close();
        console.log('candystore: schema is up to date');
        return 0;
      }
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return 0;
      default:
        return usageError(`unknown command '${command}'`);
    }
  } catch (err) {
    console.error(formatError(err));
    return 1;
  }
}

function usageError(message: string): number {
  console.error(`error: ${message}\n\n${USAGE}`);
  return 2;
}

async function serve(): Promise<number> {
  const running = await startCandystore(optionsFromEnv());
  console.error(`candystore listening on ${running.url} (docs: ${running.url}/docs)`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.error(`candystore: ${signal}, finishing the current batch and closing`);
      running.close().then(
        () => resolve(0),
        (err: unknown) => {
          console.error(formatError(err));
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
