import { randomUUID } from 'node:crypto';
import { validate as uuidValidate } from 'uuid';

let lastMs = -1;
let sequence = 0;

/**
 * A new event id: a UUIDv7 (RFC 9562), so ids sort by creation time. The 48-bit Unix
 * millisecond timestamp comes first; `rand_a` (12 bits) is a counter that starts at a
 * random value each millisecond and counts up within it, so ids made by this process are
 * strictly increasing even within one millisecond or when the clock steps back (the
 * "monotonic random" method of RFC 9562 §6.2); the other 62 bits are random.
 *
 * The random bits come from `crypto.randomUUID()`, whose entropy Node draws in blocks: the
 * `uuid` package's v7 asks the OS-level generator for 16 fresh bytes per id, which made
 * id generation the largest single cost of `bus.publish` (6.7 µs of about 25 µs per event).
 */
export function newEventId(): string {
  const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx
  let ms = Date.now();
  if (ms > lastMs) {
    lastMs = ms;
    // a random start in the lower half leaves room to count up within the millisecond
    sequence = Number.parseInt(random.slice(15, 18), 16) & 0x7ff;
  } else if (++sequence > 0xfff) {
    // 2,048+ ids in one millisecond (or a clock that stepped back): borrow the next one
    lastMs++;
    sequence = 0;
  }
  ms = lastMs;
  const time = ms.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8)}-7${sequence.toString(16).padStart(3, '0')}${random.slice(18)}`;
}

/** True for any RFC 9562 UUID string (any version), in canonical 8-4-4-4-12 form. */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && uuidValidate(value);
}
