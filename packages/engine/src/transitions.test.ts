import { rowsOf } from '@updraft/db';
import { createTestDatabase, TEST_DATABASE_KINDS, type TestDatabase } from '@updraft/db/testing';
import { sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { intArray, textArray } from './transitions.ts';

describe.each(TEST_DATABASE_KINDS)('id lists as parameters (%s)', (kind) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(kind);
    await t.handle.db.execute(
      sql`create table probe as select g as id, g * 10 as n from generate_series(1, 2000) g`,
    );
    await t.handle.db.execute(sql`alter table probe add primary key (id)`);
  });
  afterAll(async () => {
    await t?.drop();
  });

  const ids = async (list: number[]) =>
    rowsOf<{ id: number }>(
      await t.handle.db.execute(
        sql`select id from probe where id = any(${intArray(list)}) order by id`,
      ),
    ).map((r) => Number(r.id));

  it('matches none, one and many ids with the same kind of statement', async () => {
    expect(await ids([])).toEqual([]);
    expect(await ids([7])).toEqual([7]);
    expect(await ids([9, 3, 1999])).toEqual([3, 9, 1999]);
  });

  it('zips one-element and longer columns in unnest', async () => {
    const zip = async (a: number[], b: string[]) =>
      rowsOf<{ id: number; label: string }>(
        await t.handle.db.execute(
          sql`select * from unnest(${intArray(a, 'int')}, ${textArray(b)}) as z(id, label)`,
        ),
      ).map((r) => `${r.id}:${r.label}`);
    expect(await zip([5], ['a "quoted" \\ one'])).toEqual(['5:a "quoted" \\ one']);
    expect(await zip([1, 2], ['x', 'y'])).toEqual(['1:x', '2:y']);
  });
});

describe('a one-element id list on PostgreSQL', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase('postgres');
    await t.handle.db.execute(sql`create table probe (id bigint primary key, n int)`);
    await t.handle.db.execute(sql`insert into probe select g, g from generate_series(1, 1000) g`);
    await t.handle.db.execute(sql`analyze probe`);
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('is written as one value, which a generic plan turns into one primary-key probe', async () => {
    const dialect = new PgDialect();
    const text = (list: number[]) =>
      dialect.sqlToQuery(sql`select n from probe where id = any(${intArray(list)})`).sql;
    expect(text([3])).toBe('select n from probe where id = any(array[$1::bigint])');
    expect(text([3, 4])).toBe('select n from probe where id = any($1::bigint[])');
    // The generic plan a prepared statement gets after five runs. (An array parameter is assumed
    // to hold ten elements: on a table that was small when the plan was made, a scan, which a
    // chain's hand-off kept paying as task_instances grew.)
    const plan = await t.handle.db.transaction(async (tx) => {
      // One connection: the prepared statement and the setting live on it.
      await tx.execute(sql.raw(`prepare one(bigint) as ${text([3])}`));
      await tx.execute(sql`set local plan_cache_mode = force_generic_plan`);
      return rowsOf<{ 'QUERY PLAN': string }>(await tx.execute(sql`explain execute one(3)`))
        .map((r) => r['QUERY PLAN'])
        .join('\n');
    });
    expect(plan).toMatch(/^Index Scan using probe_pkey/);
  });
});
