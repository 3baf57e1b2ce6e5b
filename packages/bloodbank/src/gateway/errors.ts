import { AppError, isAppError, type ProblemDocument, toProblem } from '@33god/core';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Seconds a client is told to wait after a 503 from the broker side. */
export const BROKER_RETRY_AFTER_S = 5;

/**
 * Maps anything thrown inside Fastify (its own content-type, body-limit and JSON errors
 * included) onto the error catalogue. Anything unrecognised becomes INTERNAL without detail.
 */
export function asAppError(err: unknown): AppError {
  if (isAppError(err)) return err;
  const e = err as { code?: string; statusCode?: number; message?: string; validation?: unknown };
  switch (e?.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError(
        'UNSUPPORTED_MEDIA_TYPE',
        'send application/json, application/cloudevents+json or application/x-ndjson',
      );
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('BODY_TOO_LARGE', 'the request body exceeds the configured limit');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('MALFORMED_JSON', 'the body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('MALFORMED_JSON', 'the body is not valid JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('INVALID_REQUEST', 'Content-Length does not match the body');
    case 'FST_ERR_CTP_INVALID_TYPE':
    case 'FST_ERR_CTP_EMPTY_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'the Content-Type header is not valid');
  }
  if (err instanceof SyntaxError || (e?.statusCode === 400 && /JSON/i.test(e?.message ?? ''))) {
    return new AppError('MALFORMED_JSON', 'the body is not valid JSON');
  }
  if (e?.validation) return new AppError('INVALID_REQUEST', 'the request does not match the API');
  if (e?.statusCode === 413)
    return new AppError('BODY_TOO_LARGE', 'the request body exceeds the configured limit');
  if (e?.statusCode === 415) return new AppError('UNSUPPORTED_MEDIA_TYPE');
  if (e?.statusCode === 404) return new AppError('NOT_FOUND');
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new AppError('INVALID_REQUEST', 'the request could not be read');
  }
  return new AppError('INTERNAL', 'the server could not complete the request', { cause: err });
}

/** Publish failures that are not AppErrors (a driver error) become a retryable 503. */
export function asBrokerError(err: unknown): AppError {
  if (isAppError(err)) return err;
  return new AppError('BROKER_UNAVAILABLE', 'the broker did not take the event', { cause: err });
}

export function sendProblem(
  err: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  onError?: (e: AppError) => void,
): FastifyReply {
  const appErr = asAppError(err);
  onError?.(appErr);
  const doc: ProblemDocument = toProblem(appErr, request.url);
  if (appErr.status === 503 || appErr.status === 429) {
    const after = typeof doc.retry_after === 'number' ? doc.retry_after : BROKER_RETRY_AFTER_S;
    doc.retry_after = after;
    reply.header('retry-after', String(after));
  }
  if (appErr.status === 401 && appErr.code === 'UNAUTHORIZED') {
    reply.header('www-authenticate', 'Bearer realm="bloodbank"');
  }
  return reply.code(appErr.status).type('application/problem+json').send(doc);
}
