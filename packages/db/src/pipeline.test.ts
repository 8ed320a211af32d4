import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, pipeline, rowsOf } from './index.ts';
import { createTestDatabase, TEST_DATABASE_KINDS, type TestDatabase } from './testing.ts';

describe.each(TEST_DATABASE_KINDS)('pipeline (%s)', (kind) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(kind);
    await t.handle.db.execute(sql`create table pipeline_probe (n int)`);
  });
  afterAll(async () => {
    await t.drop();
  });

  it('runs statements in the order given, each seeing the ones before', async () => {
    const results = await t.handle.db.transaction((tx) =>
      pipeline(tx, [
        sql`insert into pipeline_probe values (${1})`,
        sql`select count(*)::int as n from pipeline_probe`,
        sql`insert into pipeline_probe values (${2}), (${3})`,
        sql`select count(*)::int as n from pipeline_probe`,
      ]),
    );
    expect(rowsOf<{ n: number }>(results[1])[0]!.n).toBe(1);
    expect(rowsOf<{ n: number }>(results[3])[0]!.n).toBe(3);
  });

  it('aborts the transaction when a statement fails', async () => {
    await expect(
      t.handle.db.transaction((tx) =>
        pipeline(tx, [
          sql`insert into pipeline_probe values (${10})`,
          sql`select 1 / ${0}::int`,
          sql`insert into pipeline_probe values (${11})`,
        ]),
      ),
    ).rejects.toThrow();
    const [row] = rowsOf<{ n: number }>(
      await t.handle.db.execute(
        sql`select count(*)::int as n from pipeline_probe where n in (10, 11)`,
      ),
    );
    expect(row!.n).toBe(0);
  });
});

describe('pipeline: a read after a lock reads under it (postgres)', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase('postgres');
    await t.handle.db.execute(sql`create table guarded (n int)`);
    await t.handle.db.execute(sql`insert into guarded values (0)`);
  });
  afterAll(async () => {
    await t.drop();
  });

  it('sees what the previous lock holder committed', async () => {
    const other = await openDatabase({ url: t.handle.url, maxConnections: 1 });
    try {
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const holder = other.db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(${42})`);
        await tx.execute(sql`update guarded set n = ${7}`);
        locked();
        await held;
      });
      await isLocked;
      const reader = t.handle.db.transaction((tx) =>
        pipeline(tx, [sql`select pg_advisory_xact_lock(${42})`, sql`select n from guarded`]),
      );
      // The reader waits for the lock; the holder commits its update, then lets go.
      await new Promise((resolve) => setTimeout(resolve, 100));
      release();
      await holder;
      const results = await reader;
      expect(rowsOf<{ n: number }>(results[1])[0]!.n).toBe(7);
    } finally {
      await other.close();
    }
  });
});
