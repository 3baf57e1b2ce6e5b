import { formatError } from '@33god/core';
import { candybarOptionsFromEnv } from './config.js';
import { startCandybar } from './server.js';

const USAGE = `usage: candybar serve [--port N] [--host H]

Serves the dashboard and its same-origin backend.
  --port N   port (env CANDYBAR_PORT, default 3000)
  --host H   interface (env CANDYBAR_HOST, default 127.0.0.1)
Backends: CANDYSTORE_URL (default http://127.0.0.1:8080), BLOODBANK_URL (default http://127.0.0.1:8682),
registry: SERVICES_REGISTRY (default services/registry.yaml).
Access: AUTH_TOKENS or AUTH_TOKENS_FILE (the page asks for a token), ALLOWED_ORIGINS, ALLOWED_HOSTS;
with no tokens the dashboard listens on loopback only (ALLOW_UNAUTHENTICATED=true to override).`;

/** `candybar serve`: runs until SIGTERM or SIGINT, then closes gracefully. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'serve') {
    console.error(`unknown command '${command}'\n${USAGE}`);
    return 2;
  }
  try {
    const flags = parseFlags(rest);
    const server = await startCandybar({ ...candybarOptionsFromEnv(env), ...flags });
    console.log(`candybar listening on ${server.url}`);
    await new Promise<void>((resolveSignal) => {
      const stop = () => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        resolveSignal();
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
    await server.close();
    return 0;
  } catch (err) {
    console.error(formatError(err));
    return 1;
  }
}

function parseFlags(args: readonly string[]): { port?: number; host?: string } {
  const out: { port?: number; host?: string } = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = args[i + 1];
    if (a === '--port' && v !== undefined) {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port must be 0-65535, got '${v}'`);
      out.port = n;
      i++;
    } else if (a === '--host' && v !== undefined) {
      out.host = v;
      i++;
    } else {
      throw new Error(`unknown option '${a}'`);
    }
  }
  return out;
}
