import type { PlaneNamed } from '../plane/work-item.js';

/**
 * How a configured word (`automation:go`, `unstarted`) is compared with what Plane
 * sent. Plane gives a label's name as typed (`Automation:Go`), sometimes a slug
 * (`automation-go`) or a key; users configure whichever they saw. Two spellings match
 * when they are equal ignoring case, or when their slugs are equal.
 */

/** Lowercase, runs of anything but letters and digits collapsed to one `-`, trimmed of `-`. */
export function slugify(value: string): string {
  return value
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '-')
    .replace(/^-+|-+$/g, '');
}

export function sameName(a: string, b: string): boolean {
  if (a.trim().toLowerCase() === b.trim().toLowerCase()) return true;
  const sa = slugify(a);
  return sa.length > 0 && sa === slugify(b);
}

/** Whether any spelling Plane gave for the thing matches the configured word. */
export function namedMatches(thing: PlaneNamed, wanted: string): boolean {
  return thing.names.some((n) => sameName(n, wanted));
}

/**
 * The value after `prefix` in any of the label's spellings (`comp:bloodbank` → `bloodbank`).
 * The prefix is compared like a name, so `comp:` also finds a slug `comp-bloodbank`.
 */
export function valueAfterPrefix(label: PlaneNamed, prefix: string): string | undefined {
  const p = prefix.trim().toLowerCase();
  for (const n of label.names) {
    const lower = n.trim().toLowerCase();
    if (p && lower.startsWith(p) && lower.length > p.length) return lower.slice(p.length).trim();
  }
  const sp = slugify(prefix);
  if (!sp) return undefined;
  for (const n of label.names) {
    const s = slugify(n);
    if (s.startsWith(`${sp}-`) && s.length > sp.length + 1) return s.slice(sp.length + 1);
  }
  return undefined;
}
