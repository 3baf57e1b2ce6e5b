import { publishDeadLetter } from '../dead-letters/dead-letter.js';
import type { Transport } from '../transport/transport.js';
import { RequeueSignal } from './errors.js';
import type { MessageContext, Middleware } from './types.js';

export interface DeadLetterMiddlewareOptions {
  transport: Transport;
  dlx: string;
  onDeadLetter?: (info: { message: MessageContext; error: unknown }) => void;
}

/**
 * The poison-message guard (the outermost middleware): whatever error reaches it
 * sends the message to `<queue>.dlq` with the reason, so a failure is never only a
 * log line and a bad message never stops the consumer. If the dead letter itself
 * cannot be published the error propagates and the consumer requeues the message.
 */
export function deadLetterOnFailure(options: DeadLetterMiddlewareOptions): Middleware {
  return (next) => async (message) => {
    try {
      await next(message);
    } catch (err) {
      if (err instanceof RequeueSignal) throw err;
      await publishDeadLetter(
        options.transport,
        message.delivery,
        { error: err, handler: message.handler, attempts: message.attempt },
        { dlx: options.dlx, queue: message.queue },
      );
      options.onDeadLetter?.({ message, error: err });
    }
  };
}
