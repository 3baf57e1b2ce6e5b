import type { Delivery, Transport } from '@33god/bloodbank';

/**
 * Consumes `queue` until the event `eventId` arrives (others are acked), hands that delivery to
 * `settle` (default: ack) while the consumer is still open, then cancels. Fails after 10 s.
 */
export async function takeOne(
  transport: Transport,
  queue: string,
  eventId: string,
  settle: (d: Delivery) => Promise<void> = async (d) => d.ack(),
): Promise<Delivery> {
  let done!: (d: Delivery) => void;
  let fail!: (e: unknown) => void;
  const got = new Promise<Delivery>((resolveGot, rejectGot) => {
    done = resolveGot;
    fail = rejectGot;
  });
  const consumer = await transport.consume(queue, (d) => {
    const env = JSON.parse(d.body.toString('utf8')) as { event_id: string };
    if (env.event_id !== eventId) return d.ack();
    settle(d).then(() => done(d), fail);
  });
  const timer = setTimeout(() => fail(new Error(`${eventId} not delivered`)), 10_000);
  try {
    return await got;
  } finally {
    clearTimeout(timer);
    await consumer.cancel();
  }
}
