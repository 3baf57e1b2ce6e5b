// Broker clean-up of the end-to-end bench: everything the run's parts declared lives under one
// random name prefix, so the run removes exactly what it created and nothing else.
import amqplib from 'amqplib';

/** Deletes every queue and exchange this run declared: known names plus any the broker lists under the prefix. */
export async function cleanBroker(amqpUrl: string, prefix: string, known: string[]): Promise<void> {
  const queues = new Set(known);
  const exchanges = new Set(known);
  try {
    const u = new URL(amqpUrl);
    const auth = `Basic ${Buffer.from(`${decodeURIComponent(u.username || 'guest')}:${decodeURIComponent(u.password || 'guest')}`).toString('base64')}`;
    for (const kind of ['queues', 'exchanges'] as const) {
      const res = await fetch(`http://${u.hostname}:15672/api/${kind}/%2F?columns=name`, {
        headers: { authorization: auth },
        signal: AbortSignal.timeout(3000),
      });
      if (!res.ok) continue;
      for (const { name } of (await res.json()) as { name: string }[]) {
        if (name.startsWith(prefix)) (kind === 'queues' ? queues : exchanges).add(name);
      }
    }
  } catch {
    // No management plugin: the known names are all there is to go on.
  }
  const conn = await amqplib.connect(amqpUrl);
  conn.on('error', () => {});
  try {
    for (const q of queues) {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await ch.deleteQueue(q).catch(() => {});
      await ch.close().catch(() => {});
    }
    for (const x of exchanges) {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await ch.deleteExchange(x).catch(() => {});
      await ch.close().catch(() => {});
    }
  } finally {
    await conn.close().catch(() => {});
  }
}
