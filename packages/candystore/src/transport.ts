import { AppError } from '@33god/core';
import type { Transport } from '@33god/bloodbank';

/** The RabbitMQ transport for an AMQP URL (Bloodbank's implementation). */
export async function createTransport(url: string): Promise<Transport> {
  throw new AppError('CONFIG_INVALID', `the RabbitMQ transport is not available in this build (${new URL(url).host})`);
}
