// Child process of bench/e2e.ts: runs one part through its own CLI (`<part> serve`, configured
// only by the environment, as in production), or an idle no-op Fastify server that is the
// memory reference. Everything runs from source under the same loader, so the reference
// carries the same loader overhead as the parts.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { projectRoot } from '@33god/core';
import Fastify from 'fastify';

// Exit with the bench: its end of our stdin closes when it goes, however it goes.
process.stdin.on('end', () => process.exit(1)).resume();

const PARTS = new Set(['bloodbank', 'candystore', 'candybar', 'infra-dispatcher']);
const [part, ...args] = process.argv.slice(2);

if (part === 'noop') {
  const app = Fastify({ logger: false });
  app.post('/noop', async (_request, reply) => reply.code(202).send({ ok: true }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  console.log(`noop listening on ${url}`);
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
} else if (part && PARTS.has(part)) {
  // The CLIs are not part of the packages' public entries; load each by path (not type-checked here).
  const cli = pathToFileURL(join(projectRoot(), 'packages', part, 'src', 'cli.ts')).href;
  const { main } = (await import(cli)) as { main(argv: string[]): Promise<number> };
  // Exit explicitly: the stdin watch above would keep a failed part alive.
  process.exit(await main(args));
} else {
  console.error(`usage: launch.ts <noop|${[...PARTS].join('|')}> [args]`);
  process.exit(2);
}
