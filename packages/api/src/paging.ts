/**
 * `total_entries` for listings without counting every row on every request. Counting all 100,000
 * runs of a DAG costs a scan of all of them per page; instead:
 * - a page that is not full ends the listing, so the total is `offset + rows` (no query);
 * - otherwise the rows are counted up to COUNT_CAP (an index-only scan of at most that many rows, ~0.3 ms);
 * - beyond the cap the planner's row estimate is used (EXPLAIN, no scan), flagged with
 *   `total_entries_estimated: true`. It is never below what the page shows. With a `cacheKey`, a
 *   listing known to be far beyond the cap reuses its estimate for ESTIMATE_TTL_MS instead of
 *   counting and explaining again on every page.
 */
import type { Queryable } from '@updraft/db';
import { rowsOf } from '@updraft/db';
import { type SQL, sql } from 'drizzle-orm';

export const COUNT_CAP = 1000;
export const ESTIMATE_TTL_MS = 10_000;

const estimates = new Map<string, { at: number; n: number }>();

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
  opts: { cap?: number; cacheKey?: string } = {},
): Promise<Total> {
  const cap = opts.cap ?? COUNT_CAP;
  if (rows < page.limit && (rows > 0 || page.offset === 0))
    return { total_entries: page.offset + rows };
  // Bounds an estimate by what the page proves: a full page means at least one more row; an
  // empty page past the end means at most `offset` rows.
  const full = rows === page.limit;
  const bounded = (n: number): Total => ({
    total_entries: Math.min(
      full ? Number.POSITIVE_INFINITY : page.offset + rows,
      Math.max(cap + 1, rows > 0 ? page.offset + rows + (full ? 1 : 0) : 0, n),
    ),
    total_entries_estimated: true,
  });
  const cached = opts.cacheKey === undefined ? undefined : estimates.get(opts.cacheKey);
  if (cached && Date.now() - cached.at < ESTIMATE_TTL_MS && cached.n > 2 * cap)
    return bounded(cached.n);
  const [counted] = rowsOf<{ n: number | string }>(
    await db.execute(sql`select count(*) as n from (select 1 ${from} limit ${cap + 1}) s`),
  );
  const n = Number(counted?.n ?? 0);
  if (n <= cap) return { total_entries: n };
  const estimated = await estimate(db, from);
  if (opts.cacheKey !== undefined) {
    if (estimates.size >= 1000) estimates.delete(estimates.keys().next().value!);
    estimates.set(opts.cacheKey, { at: Date.now(), n: estimated });
  }
  return bounded(estimated);
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
