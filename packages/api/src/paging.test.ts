/**
 * `total_entries` without a full count: exact from the page when it is the last one, an exact
 * count up to the cap, and the planner's estimate (flagged) beyond it — never below what the page
 * shows. Real databases; 30 runs of one DAG, a cap of 10.
 */
import { schema } from '@updraft/db';
import {
  createTestDatabase,
  insertBareDag,
  TEST_DATABASE_KINDS,
  type TestDatabase,
} from '@updraft/db/testing';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pageTotal } from './paging.ts';

/** want: the exact total, or the estimate (the planner's 30, bounded by what the page proves). */
const CASES: [name: string, limit: number, offset: number, want: number | ['estimate', number]][] =
  [
    ['first page, not full: the page is the total', 100, 0, 30],
    ['last page, not full', 8, 24, 30],
    ['page past the end: over the cap, estimated', 10, 40, ['estimate', 30]],
    ['full page: over the cap, estimated', 10, 0, ['estimate', 30]],
    ['full page at the end: at least one more row than shown', 10, 20, ['estimate', 31]],
  ];

describe.each(TEST_DATABASE_KINDS)('pageTotal (%s)', (kind) => {
  let t: TestDatabase;
  const from = sql`from ${schema.dagRuns} where ${eq(schema.dagRuns.dagId, 'paged')}`;

  beforeAll(async () => {
    t = await createTestDatabase(kind);
    const { db } = t.handle;
    const versionId = await insertBareDag(db, 'paged');
    await db.execute(sql`insert into dag_runs (dag_id, run_id, dag_version_id, run_type, state,
        logical_date, data_interval_start, data_interval_end, triggered_by)
      select 'paged', 'r' || g, ${versionId}, 'manual', 'success', now(), now(), now(), 'test'
      from generate_series(1, 30) g`);
    await db.execute(sql`analyze dag_runs`);
  }, 60_000);
  afterAll(async () => {
    await t?.drop();
  });

  it.each(CASES)('%s', async (_, limit, offset, want) => {
    const rows = Math.max(0, Math.min(limit, 30 - offset));
    const total = await pageTotal(t.handle.db, from, { limit, offset }, rows, { cap: 10 });
    if (Array.isArray(want)) {
      expect(total).toEqual({ total_entries: want[1], total_entries_estimated: true });
    } else {
      expect(total).toEqual({ total_entries: want });
    }
  });

  it('counts exactly up to the cap', async () => {
    const total = await pageTotal(t.handle.db, from, { limit: 10, offset: 0 }, 10, { cap: 50 });
    expect(total).toEqual({ total_entries: 30 });
  });

  it('reuses a far-beyond-the-cap estimate for a while instead of counting again', async () => {
    const key = `paged-${kind}`;
    const first = await pageTotal(t.handle.db, from, { limit: 10, offset: 0 }, 10, {
      cap: 5,
      cacheKey: key,
    });
    expect(first).toEqual({ total_entries: 30, total_entries_estimated: true });
    // The table changes and is analysed; within the estimate's lifetime the answer stays.
    await t.handle.db.execute(sql`delete from dag_runs where dag_id = 'paged' and run_id <> 'r1'`);
    await t.handle.db.execute(sql`analyze dag_runs`);
    const again = await pageTotal(t.handle.db, from, { limit: 10, offset: 0 }, 10, {
      cap: 5,
      cacheKey: key,
    });
    expect(again).toEqual(first);
    // Without the key it is worked out afresh: one row now.
    const fresh = await pageTotal(t.handle.db, from, { limit: 10, offset: 0 }, 10, { cap: 5 });
    expect(fresh).toEqual({ total_entries: 1 });
  });
});
