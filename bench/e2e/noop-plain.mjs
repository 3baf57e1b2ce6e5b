// The idle no-op Fastify server of bench/e2e/launch.ts as plain JavaScript, run without the
// TypeScript source loader: the difference between the two is what the loader adds to every
// figure measured under it.
import Fastify from 'fastify';

// Exit with the bench: its end of our stdin closes when it goes, however it goes.
process.stdin.on('end', () => process.exit(1)).resume();

const app = Fastify({ logger: false });
app.post('/noop', async (_request, reply) => reply.code(202).send({ ok: true }));
const url = await app.listen({ port: 0, host: '127.0.0.1' });
console.log(`noop listening on ${url}`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
