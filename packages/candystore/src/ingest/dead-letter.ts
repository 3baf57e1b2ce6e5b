import { dlqName, type Transport } from '@33god/bloodbank';

/**
 * Makes sure `<queue>.dlq` exists and is bound to the dead-letter exchange with key
 * `<queue>` (Bloodbank's convention). The exchange is declared only when missing, as the
 * topic exchange Bloodbank declares, so it is never redeclared with another type.
 */
export async function declareDeadLetterQueue(
  transport: Transport,
  dlx: string,
  queue: string,
): Promise<void> {
  if (!(await transport.checkExchange(dlx))) await transport.assertExchange(dlx, 'topic', { durable: true });
  await transport.assertQueue(dlqName(queue), { durable: true });
  await transport.bindQueue(dlqName(queue), dlx, queue);
}
