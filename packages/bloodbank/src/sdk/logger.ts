import { LOG_LEVEL, readEnv } from '@33god/core';
import { pino } from 'pino';

/** The log calls the SDK makes; a pino or Fastify logger fits. */
export interface BusLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export function defaultLogger(): BusLogger {
  return pino({ name: 'bloodbank', level: readEnv(LOG_LEVEL) ?? 'info' });
}
