import { AppError, toProblem } from '@33god/core';
import type { FastifyReply } from 'fastify';

export function sendProblem(reply: FastifyReply, err: unknown, instance?: string): FastifyReply {
  const doc = toProblem(err, instance);
  if (doc.status === 401) reply.header('www-authenticate', 'Bearer');
  if (typeof doc.retry_after === 'number') reply.header('retry-after', String(doc.retry_after));
  return reply.code(doc.status).type('application/problem+json').send(doc);
}

/** The error for a backend that did not answer: why, without the driver's words. */
export function unavailable(name: string, target: string, err: unknown): AppError {
  const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
  const detail = timedOut
    ? `${name} at ${target} did not answer in time`
    : `${name} at ${target} is not reachable`;
  return new AppError('SERVICE_UNAVAILABLE', detail, { cause: err, extra: { backend: name } });
}
