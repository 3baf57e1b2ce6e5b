// Child process of bench/e2e.ts: runs one part through its own CLI (`<part> serve`, configured
// only by the environment, as in production), or an idle no-op Fastify server that is the
// memory reference. Plain JavaScript on the compiled packages (`npm run bench` builds first),
// started with the service V8 flags, exactly as `deploy/compose.yaml` runs each part: the
// memory figures are what a deployment uses, with no TypeScript loader in them.
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Fastify from 'fastify';

// Exit with the bench: its end of our stdin closes when it goes, however it goes.
process.stdin.on('end', () => process.exit(1)).resume();

const root = fileURLToPath(new URL('../../', import.meta.url));
const PARTS = new Set(['bloodbank', 'candystore', 'candybar', 'infra-dispatcher']);
const [part, ...args] = process.argv.slice(2);

if (part === 'noop') {
  const app = Fastify({ logger: false });
  app.post('/noop', async (_request, reply) => reply.code(202).send({ ok: true }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  console.log(`noop listening on ${url}`);
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
} else if (part && PARTS.has(part)) {
  // What each part's bin runs (packages/<part>/bin/<part>.mjs).
  const { main } = await import(pathToFileURL(join(root, 'packages', part, 'dist', 'cli.js')).href);
  // Exit explicitly: the stdin watch above would keep a failed part alive.
  process.exit(await main(args));
} else {
  console.error(`usage: launch.mjs <noop|${[...PARTS].join('|')}> [args]`);
  process.exit(2);
}
