import { AppError } from '@33god/core';

/**
 * Deepest nesting of objects and arrays a request body may have. JSON.parse takes far
 * deeper documents, but publishing re-serialises them recursively and runs out of stack
 * (a few thousand levels), which would turn bad input into a broker error.
 */
export const MAX_JSON_DEPTH = 256;

/** Throws INVALID_REQUEST when `text` nests deeper than `max`; a linear scan, no recursion. */
export function assertJsonDepth(text: string, max = MAX_JSON_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) {
        throw new AppError('INVALID_REQUEST', `the JSON is nested more than ${max} levels deep`);
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
}
