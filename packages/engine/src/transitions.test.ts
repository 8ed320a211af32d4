import type { TaskState } from '@updraft/core/state';
import { rowsOf, schema } from '@updraft/db';
import {
  createTestDatabase,
  insertBareDag,
  TEST_DATABASE_KINDS,
  type TestDatabase,
} from '@updraft/db/testing';
import { sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { intArray, textArray, transitionRuns, transitionTasksStatement } from './transitions.ts';

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

describe.each(TEST_DATABASE_KINDS)('a transition with another target instead (%s)', (kind) => {
  let t: TestDatabase;
  let runPk: number;
  beforeAll(async () => {
    t = await createTestDatabase(kind);
    const versionId = await insertBareDag(t.handle.db, 'either');
    const at = new Date('2026-01-01T00:00:00Z');
    const [run] = await t.handle.db
      .insert(schema.dagRuns)
      .values({
        dagId: 'either',
        runId: 'r1',
        dagVersionId: versionId,
        runType: 'manual',
        state: 'running',
        logicalDate: at,
        dataIntervalStart: at,
        dataIntervalEnd: at,
        triggeredBy: 'test',
      })
      .returning({ id: schema.dagRuns.id });
    runPk = run!.id;
  });
  afterAll(async () => {
    await t?.drop();
  });

  /** Task instances in the given states; their ids in the same order. */
  const insertTis = async (prefix: string, states: TaskState[]) =>
    (
      await t.handle.db
        .insert(schema.taskInstances)
        .values(
          states.map((state, i) => ({
            dagRunId: runPk,
            dagId: 'either',
            runId: 'r1',
            taskId: `${prefix}${i}`,
            operator: 'function',
            state,
          })),
        )
        .returning({ id: schema.taskInstances.id })
    ).map((r) => r.id);

  const schedule = async (ids: number[], when: boolean) => {
    const statement = transitionTasksStatement(ids, 'scheduled', {
      actor: 'test',
      reason: 'dependencies met',
      instead: {
        to: 'queued',
        when: sql`${when}::boolean`,
        reason: 'slot available',
        set: [sql`queued_at = now()`],
      },
    });
    return statement!.parse(await t.handle.db.execute(statement!.sql));
  };

  const rowsAndEvents = async (prefix: string) => ({
    rows: rowsOf<{ task_id: string; state: string; state_reason: string | null; queued: boolean }>(
      await t.handle.db.execute(sql`select task_id, state, state_reason, queued_at is not null as queued
        from task_instances where task_id like ${`${prefix}%`} order by task_id`),
    ),
    events: rowsOf<{ task_id: string; from_state: string; to_state: string; reason: string }>(
      await t.handle.db.execute(sql`select task_id, from_state, to_state, reason from events
        where task_id like ${`${prefix}%`} order by task_id, id`),
    ),
  });

  it('moves every row to the first state when the condition does not hold', async () => {
    const ids = await insertTis('f', ['none', 'none', 'running']);
    const changes = await schedule(ids, false);
    expect(changes.map((c) => [c.taskId, c.from, c.to, c.reason])).toEqual([
      ['f0', 'none', 'scheduled', 'dependencies met'],
      ['f1', 'none', 'scheduled', 'dependencies met'],
    ]);
    expect(await rowsAndEvents('f')).toEqual({
      rows: [
        { task_id: 'f0', state: 'scheduled', state_reason: 'dependencies met', queued: false },
        { task_id: 'f1', state: 'scheduled', state_reason: 'dependencies met', queued: false },
        { task_id: 'f2', state: 'running', state_reason: null, queued: false },
      ],
      events: [
        { task_id: 'f0', from_state: 'none', to_state: 'scheduled', reason: 'dependencies met' },
        { task_id: 'f1', from_state: 'none', to_state: 'scheduled', reason: 'dependencies met' },
      ],
    });
  });

  it('moves them to the other state, with its reason and assignments, when it holds', async () => {
    // q1 is already scheduled: the first transition may not move it, so neither may the other.
    const ids = await insertTis('q', ['none', 'scheduled', 'up_for_retry']);
    const changes = await schedule(ids, true);
    expect(changes.map((c) => [c.taskId, c.from, c.to, c.reason, c.tryNumber])).toEqual([
      ['q0', 'none', 'queued', 'slot available', 1],
      ['q2', 'up_for_retry', 'queued', 'slot available', 1],
    ]);
    expect(await rowsAndEvents('q')).toEqual({
      rows: [
        { task_id: 'q0', state: 'queued', state_reason: 'slot available', queued: true },
        { task_id: 'q1', state: 'scheduled', state_reason: null, queued: false },
        { task_id: 'q2', state: 'queued', state_reason: 'slot available', queued: true },
      ],
      events: [
        { task_id: 'q0', from_state: 'none', to_state: 'queued', reason: 'slot available' },
        { task_id: 'q2', from_state: 'up_for_retry', to_state: 'queued', reason: 'slot available' },
      ],
    });
  });
});

describe.each(TEST_DATABASE_KINDS)('DAG runs moved at once (%s)', (kind) => {
  let t: TestDatabase;
  let versionId: number;
  beforeAll(async () => {
    t = await createTestDatabase(kind);
    versionId = await insertBareDag(t.handle.db, 'many');
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('moves the runs whose state allows it, with an event each, and leaves the others', async () => {
    const states = ['queued', 'running', 'failed', 'queued'] as const;
    const ids = (
      await t.handle.db
        .insert(schema.dagRuns)
        .values(
          states.map((state, i) => {
            const at = new Date(Date.UTC(2026, 0, i + 1));
            return {
              dagId: 'many',
              runId: `r${i}`,
              dagVersionId: versionId,
              runType: 'backfill' as const,
              state,
              logicalDate: at,
              dataIntervalStart: at,
              dataIntervalEnd: at,
              triggeredBy: 'test',
            };
          }),
        )
        .returning({ id: schema.dagRuns.id })
    ).map((r) => r.id);
    // queued → failed and running → failed are legal; failed → failed is not a change.
    const changes = await transitionRuns(t.handle.db, [...ids].reverse(), 'failed', {
      actor: 'test',
      reason: 'cancelled',
      set: [sql`end_date = now()`],
    });
    expect(changes.map((c) => [c.runId, c.from, c.to, c.reason])).toEqual([
      ['r0', 'queued', 'failed', 'cancelled'],
      ['r1', 'running', 'failed', 'cancelled'],
      ['r3', 'queued', 'failed', 'cancelled'],
    ]);
    const rows = rowsOf<{ run_id: string; state: string; ended: boolean }>(
      await t.handle.db.execute(
        sql`select run_id, state, end_date is not null as ended from dag_runs where dag_id = 'many' order by run_id`,
      ),
    );
    expect(rows.map((r) => [r.run_id, r.state, r.ended])).toEqual([
      ['r0', 'failed', true],
      ['r1', 'failed', true],
      ['r2', 'failed', false],
      ['r3', 'failed', true],
    ]);
    const events = rowsOf<{ run_id: string; from_state: string; to_state: string; actor: string }>(
      await t.handle.db.execute(sql`select run_id, from_state, to_state, actor from events
        where entity = 'dag_run' and dag_id = 'many' order by id`),
    );
    expect(events.map((e) => `${e.run_id}:${e.from_state}->${e.to_state}:${e.actor}`)).toEqual([
      'r0:queued->failed:test',
      'r1:running->failed:test',
      'r3:queued->failed:test',
    ]);
    expect(await transitionRuns(t.handle.db, [], 'failed', { actor: 'test' })).toEqual([]);
  });
});
