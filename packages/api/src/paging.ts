/**
 * `total_entries` for listings without counting every row on every request. Counting all 100,000
 * runs of a DAG costs a scan of all of them per page; instead:
 * - a page that is not full ends the listing, so the total is `offset + rows` (no query);
 * - otherwise the rows are counted up to COUNT_CAP (an index-only scan of at most that many rows, ~0.3 ms);
 * - beyond the cap the planner's row estimate is used (EXPLAIN, no scan), flagged with
 *   `total_entries_estimated: true`. It is never below what the page shows.
 */
import type { Queryable } from '@updraft/db';
import { rowsOf } from '@updraft/db';
import { type SQL, sql } from 'drizzle-orm';

export const COUNT_CAP = 1000;

export interface Total {
  total_entries: number;
  /** Present (true) only when the total is the planner's estimate. */
  total_entries_estimated?: true;
}

/**
 * `from` is the listing's `from … where …` (without order, limit or offset); `rows` is how many
 * rows the page query returned for this limit and offset.
 */
export async function pageTotal(
  db: Queryable,
  from: SQL,
  page: { limit: number; offset: number },
  rows: number,
  cap = COUNT_CAP,
): Promise<Total> {
  if (rows < page.limit && (rows > 0 || page.offset === 0))
    return { total_entries: page.offset + rows };
  const [counted] = rowsOf<{ n: number | string }>(
    await db.execute(sql`select count(*) as n from (select 1 ${from} limit ${cap + 1}) s`),
  );
  const n = Number(counted?.n ?? 0);
  if (n <= cap) return { total_entries: n };
  // Bounds the estimate by what the page proves: a full page means at least one more row; an
  // empty page past the end means at most `offset` rows.
  const full = rows === page.limit;
  const lower = Math.max(cap + 1, rows > 0 ? page.offset + rows + (full ? 1 : 0) : 0);
  const upper = full ? Number.POSITIVE_INFINITY : page.offset + rows;
  return {
    total_entries: Math.min(upper, Math.max(lower, await estimate(db, from))),
    total_entries_estimated: true,
  };
}

async function estimate(db: Queryable, from: SQL): Promise<number> {
  try {
    const result = rowsOf<Record<string, unknown>>(
      await db.execute(sql`explain (format json) select 1 ${from}`),
    );
    const cell = Object.values(result[0] ?? {})[0];
    const plan = (typeof cell === 'string' ? JSON.parse(cell) : cell) as {
      Plan?: { 'Plan Rows'?: number };
    }[];
    return Math.round(plan[0]?.Plan?.['Plan Rows'] ?? 0);
  } catch {
    return 0;
  }
}
