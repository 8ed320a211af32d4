/**
 * Plans that must not depend on statistics being fresh. Most task instances are finished most of
 * the time, so statistics say few are scheduled; in a burst there are thousands. Queueing must
 * still find task instances by id and read a pool's queue through its own index (bench W3 ran
 * 3.4 times slower after an ANALYZE before these were made robust).
 */
import { rowsOf } from '@updraft/db';
import { createTestDatabase, type TestDatabase } from '@updraft/db/testing';
import { type SQL, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueingReadsSql } from './pools.ts';
import { transitionTasksStatement } from './transitions.ts';

/** Some of the scheduled task instances (ids 5001–10000). */
const SCHEDULED_IDS = [5001, 7500, 9999];

describe('plans on statistics taken while few task instances were scheduled (postgres)', () => {
  let t: TestDatabase;
  const explain = async (statement: SQL) =>
    rowsOf<{ 'QUERY PLAN': string }>(await t.handle.db.execute(sql`explain ${statement}`))
      .map((r) => r['QUERY PLAN'])
      .join('\n');

  beforeAll(async () => {
    t = await createTestDatabase('postgres');
    const { db } = t.handle;
    // One running run; the DAG and its version are beside the point here.
    await db.execute(sql`alter table dag_runs drop constraint dag_runs_dag_id_dags_dag_id_fk,
      drop constraint dag_runs_dag_version_id_dag_versions_id_fk`);
    await db.execute(sql`insert into dag_runs (id, dag_id, run_id, dag_version_id, run_type, state, triggered_by,
        logical_date, data_interval_start, data_interval_end)
      values (1, 'd', 'r', 1, 'manual', 'running', 'test', now(), now(), now())`);
    const insert = (from: number, to: number, state: string) =>
      db.execute(sql`insert into task_instances (id, dag_run_id, dag_id, run_id, task_id, state,
          operator, logical_date, priority_weight)
        select g, 1, 'd', 'r', 't' || g, ${state}, 'shell', now(), g % 7
        from generate_series(${from}::int, ${to}::int) g`);
    await insert(1, 5000, 'success');
    await db.execute(sql`analyze task_instances`);
    await insert(5001, 10_000, 'scheduled');
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('finds the task instances of a transition by id', async () => {
    const statement = transitionTasksStatement(SCHEDULED_IDS, 'queued', {
      actor: 'test',
      from: ['scheduled'],
    });
    const plan = await explain(statement!.sql);
    expect(plan).toMatch(
      /Index Scan using task_instances_pkey|Bitmap Index Scan on task_instances_pkey/,
    );
    expect(plan).not.toMatch(/scheduled_idx|pool_queue_idx/);
  });

  it("reads a pool's queue through the pool queue's index, in its order", async () => {
    const firstRound = queueingReadsSql('d', ['default_pool']).at(-1)!;
    const plan = await explain(firstRound);
    expect(plan).toMatch(/task_instances_pool_queue_idx/);
    expect(plan).not.toMatch(/task_instances_scheduled_idx/);
  });
});
