/**
 * How a page with a payload filter (`payload.task_id=abc`) is read.
 *
 * PostgreSQL estimates `payload @> '{"task_id": "abc"}'` from a histogram of whole payload
 * documents: a value that happens to sit in one of its ~100 entries is taken to match 1 % of
 * the table, any other value 0.01 %. Both are often wrong by far:
 * - A value that matches 200 of 1,000,000 events but sits in the histogram: the planner walked
 *   the position index backwards looking for 51 matches (250,000 rows read, 330 ms) or ANDed
 *   the payload index with the type and source indexes (150,000 index entries, 28-35 ms),
 *   where reading the 200 rows the payload index finds takes 0.5 ms.
 * - A value that matches 2 % but missed the histogram: the planner read all 20,000 matches
 *   through the payload index (150 ms), where walking the table in position order finds a
 *   page of matches in about 2,500 rows.
 *
 * So the store measures instead of trusting the histogram: it counts the payload filter's
 * matches in a fixed sample of about 2,000 rows (`TABLESAMPLE SYSTEM … REPEATABLE`, 1 ms) and
 * compares the two ways a page can be read:
 * - through the payload index: every match is a random row read, about `selectivity × rows`;
 * - in position order, filtering as it goes: about `limit / selectivity` rows read, mostly
 *   neighbours on the same pages.
 * The first puts the payload conditions in a subquery the planner cannot merge (`OFFSET 0`),
 * so the payload index is the only way in. The second reads a bounded window of the rows that
 * match the other conditions, newest (or oldest) first, and filters it; when the window holds
 * fewer matches than the page needs, the page is read again the planner's way.
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

export type PayloadPlan =
  /** The payload conditions alone find the rows (the payload index). */
  | { kind: 'index' }
  /** The newest (or oldest) `window` rows that match the other conditions are filtered. */
  | { kind: 'ordered'; window: number }
  /** The sample says nothing useful: the planner decides. */
  | { kind: 'planner' };

/** The ordered window holds about this many times the matches a page needs. */
const WINDOW_MARGIN = 4;
export const MIN_WINDOW = 500;
/** About 50-100 ms of rows read in order, at most. */
export const MAX_WINDOW = 100_000;

/** How a page of `limit` rows with a payload filter should be read, given a sample. */
export function choosePayloadPlan(s: PayloadSample): PayloadPlan {
  // too small a sample to say anything: leave it to the planner
  if (s.sampled < PAYLOAD_SAMPLE_ROWS / 10) return { kind: 'planner' };
  // half a hit when there was none: an upper guess for a filter the sample missed
  const selectivity = (s.hits + 0.5) / s.sampled;
  const viaIndex = selectivity * s.tableRows * RANDOM_READ_COST;
  const inOrder = s.limit / selectivity;
  if (viaIndex <= inOrder) return { kind: 'index' };
  const window = Math.min(
    MAX_WINDOW,
    Math.max(MIN_WINDOW, Math.ceil((WINDOW_MARGIN * s.limit) / selectivity)),
  );
  // a window that would rarely hold a page's matches: the index, after all
  if (window * selectivity < s.limit) return { kind: 'index' };
  return { kind: 'ordered', window };
}
