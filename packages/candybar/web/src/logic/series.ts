import type { StatsBucket } from './types.js';

/** Candystore's per-bucket counts turned into one series per key (and a total), gaps filled with 0. */
export function bucketSeries(
  rows: readonly StatsBucket[],
  since: string,
  until: string,
  bucketSeconds: number,
): { buckets: number[]; total: number[]; byKey: Map<string, number[]> } {
  const step = bucketSeconds * 1000;
  const start = Math.floor(Date.parse(since) / step) * step;
  const end = Date.parse(until);
  const buckets: number[] = [];
  for (let t = start; t < end && buckets.length < 10_000; t += step) buckets.push(t);
  const slot = (b: string) => Math.floor((Date.parse(b) - start) / step);
  const total = buckets.map(() => 0);
  const byKey = new Map<string, number[]>();
  for (const r of rows) {
    const i = slot(r.bucket);
    if (i < 0 || i >= buckets.length) continue;
    total[i]! += r.count;
    let s = byKey.get(r.key);
    if (!s) {
      s = buckets.map(() => 0);
      byKey.set(r.key, s);
    }
    s[i]! += r.count;
  }
  return { buckets, total, byKey };
}

/** SVG path data for a small line chart of `values` in a `w`×`h` box (and the area under it). */
export function sparkPath(
  values: readonly number[],
  w: number,
  h: number,
): { line: string; area: string; max: number } {
  const max = Math.max(1, ...values);
  if (values.length === 0) return { line: '', area: '', max };
  const dx = values.length > 1 ? w / (values.length - 1) : 0;
  const pts = values.map((v, i) => `${(i * dx).toFixed(1)},${(h - (v / max) * (h - 2) - 1).toFixed(1)}`);
  const line = `M${pts.join(' L')}`;
  const area = `${line} L${((values.length - 1) * dx).toFixed(1)},${h} L0,${h} Z`;
  return { line, area, max };
}
