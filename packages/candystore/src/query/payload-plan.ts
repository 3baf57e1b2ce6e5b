/**
 * How a page with a payload filter (`payload.task_id=abc`) is read.
 *
 * PostgreSQL estimates `payload @> '{"task_id": "abc"}'` from a histogram of whole payload
 * documents: a value that happens to sit in one of its ~100 entries is taken to match 1 % of
 * the table, any other value 0.01 %. For a value that matches 200 of 1,000,000 events, the
 * first estimate is 50 times too high, and the planner then either walks the position index
 * backwards looking for 51 matches (250,000 rows read, 330 ms) or ANDs the payload index with
 * the type and source indexes (150,000 index entries, 28-35 ms), where reading the 200 rows
 * the payload index finds takes 0.5 ms.
 *
 * So the store measures instead of trusting the histogram: it counts the payload filter's
 * matches in a fixed sample of about 2,000 rows (`TABLESAMPLE SYSTEM … REPEATABLE`, 1 ms) and
 * compares the two ways a page can be read:
 * - through the payload index: every match is a random row read, about `selectivity × rows`;
 * - in position order, filtering as it goes: about `limit / selectivity` rows read, mostly
 *   neighbours on the same pages.
 * When the first is cheaper, the payload conditions go in a subquery the planner cannot merge
 * (`OFFSET 0`), so the payload index is the only way in; otherwise the planner decides, its
 * estimate now being near enough (a filter matching more than about 0.3 % of the table).
 */

/** Below this many rows (by the statistics) every plan is fast; the planner decides. */
export const PAYLOAD_PLAN_MIN_ROWS = 20_000;

/** Rows the sample aims at. */
export const PAYLOAD_SAMPLE_ROWS = 2_000;

/**
 * A row found through the payload index (a random heap read) against a row read in position
 * order (its neighbours share its page), as measured on a 1,000,000-event table: 2.5 µs
 * against about 1 µs.
 */
const RANDOM_READ_COST = 3;

/** The share of the table to sample for about PAYLOAD_SAMPLE_ROWS rows, in percent. */
export function samplePercent(tableRows: number): number {
  if (tableRows <= 0) return 100;
  return Math.min(100, (100 * PAYLOAD_SAMPLE_ROWS) / tableRows);
}

export interface PayloadSample {
  /** Sampled rows matching the payload conditions. */
  hits: number;
  /** Rows the sample read. */
  sampled: number;
  /** Rows in the table, by the statistics. */
  tableRows: number;
  /** Rows the page asks for. */
  limit: number;
}

/** Whether the page should be read through the payload index alone. */
export function readThroughPayloadIndex(s: PayloadSample): boolean {
  // too small a sample to say anything: leave it to the planner
  if (s.sampled < PAYLOAD_SAMPLE_ROWS / 10) return false;
  // half a hit when there was none: an upper guess for a filter the sample missed
  const selectivity = (s.hits + 0.5) / s.sampled;
  const viaIndex = selectivity * s.tableRows * RANDOM_READ_COST;
  const inOrder = s.limit / selectivity;
  return viaIndex <= inOrder;
}
