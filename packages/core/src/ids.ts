import { validate as uuidValidate, v7 as uuidv7 } from 'uuid';

/** A new event id: a UUIDv7, so ids sort by creation time. */
export function newEventId(): string {
  return uuidv7();
}

/** True for any RFC 9562 UUID string (any version), in canonical 8-4-4-4-12 form. */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && uuidValidate(value);
}
