import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase, rowsOf } from './index.ts';
import { createTestDatabase, type TestDatabase } from './testing.ts';

describe('prepared statements on PostgreSQL', () => {
  let t: TestDatabase;
  let one: DatabaseHandle;
  beforeAll(async () => {
    t = await createTestDatabase('postgres');
    // One connection, so every statement below lands on the session that is inspected.
    one = await openDatabase({ url: t.handle.url, maxConnections: 1 });
  });
  afterAll(async () => {
    await one?.close();
    await t.drop();
  });

  const preparedLike = async (marker: string) =>
    rowsOf<{ statement: string }>(
      await one.db.execute(
        sql`select statement from pg_prepared_statements where statement like ${`%${marker}%`}
          and statement not like '%pg_prepared_statements%'`,
      ),
    );

  it('prepares a parameterised query once and reuses it, also inside transactions', async () => {
    for (const n of [1, 2, 3]) {
      const [row] = rowsOf<{ v: number }>(
        await one.db.execute(sql`select ${n}::int + 1 as v /* marker-a */`),
      );
      expect(row!.v).toBe(n + 1);
    }
    const inTx = await one.db.transaction(async (tx) =>
      rowsOf<{ v: number }>(await tx.execute(sql`select ${41}::int + 1 as v /* marker-b */`)),
    );
    expect(inTx[0]!.v).toBe(42);
    expect(await preparedLike('marker-a')).toHaveLength(1);
    expect(await preparedLike('marker-b')).toHaveLength(1);
  });

  it('keeps working when a prepared statement goes stale (the table changes under it)', async () => {
    await one.db.execute(sql`create table stale_probe (a int)`);
    await one.db.execute(sql`insert into stale_probe values (1)`);
    const read = async () =>
      rowsOf<Record<string, unknown>>(
        await one.db.execute(sql`select * from stale_probe where a = ${1}`),
      );
    expect(await read()).toEqual([{ a: 1 }]);
    await one.db.execute(sql`alter table stale_probe add column b int default 7`);
    expect(await read()).toEqual([{ a: 1, b: 7 }]);
  });
});

describe('prepared statements turned off (a pooler that cannot carry them)', () => {
  let t: TestDatabase;
  let one: DatabaseHandle;
  beforeAll(async () => {
    t = await createTestDatabase('postgres');
    one = await openDatabase({ url: t.handle.url, maxConnections: 1, preparedStatements: false });
  });
  afterAll(async () => {
    await one?.close();
    await t.drop();
  });

  it('prepares nothing', async () => {
    await one.db.execute(sql`select ${1}::int as v /* marker-off */`);
    await one.db.transaction((tx) => tx.execute(sql`select ${2}::int as v /* marker-off */`));
    const [row] = rowsOf<{ n: number }>(
      await one.db.execute(sql`select count(*)::int as n from pg_prepared_statements
        where statement like '%marker-off%' and statement not like '%pg_prepared_statements%'`),
    );
    expect(row!.n).toBe(0);
  });
});
