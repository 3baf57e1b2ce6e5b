import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppError, toProblem } from '../errors.js';
import { SECURITY_HEADERS } from './headers.js';

/**
 * Time a client has to send a whole request, headers and body. Fastify turns Node's own limit
 * off (0): a client trickling its body a byte at a time would hold its connection, and a file
 * descriptor, for ever. It bounds receiving the request only; a WebSocket or a slow answer is
 * not cut by it.
 */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Time a client has to send its headers (at most the request's). */
export const HEADERS_TIMEOUT_MS = 20_000;

/**
 * Answers what Node refuses before any route runs (headers over 16 KiB, a request not received
 * in time, malformed HTTP) with a problem+json document from the catalogue, as every other
 * refusal, instead of Fastify's own JSON; then closes the connection.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const e =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new AppError('REQUEST_TIMEOUT', `send the whole request within ${REQUEST_TIMEOUT_MS / 1000} s`)
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? new AppError('HEADERS_TOO_LARGE', 'the request headers exceed 16 KiB')
        : new AppError('INVALID_REQUEST', 'the request is not well-formed HTTP/1.1');
  if (socket.writable) {
    const body = JSON.stringify(toProblem(e));
    const hardening = Object.entries(SECURITY_HEADERS)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.end(
      `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${hardening}Connection: close\r\n\r\n${body}`,
    );
  }
  // Ended, not destroyed at once: a reset would often discard the answer before the client
  // read it. A client that does not hang up is cut off shortly after.
  setTimeout(() => socket.destroy(), 1000).unref();
}

/**
 * The Fastify options every HTTP part starts with: the timeouts above and problem+json answers
 * for what Node refuses on its own.
 */
export const SERVER_LIMITS = {
  requestTimeout: REQUEST_TIMEOUT_MS,
  http: { headersTimeout: HEADERS_TIMEOUT_MS },
  clientErrorHandler: answerClientError,
};
