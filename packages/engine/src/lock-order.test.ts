/**
 * The engine's lock order (DAGs by name, then pools) holds in a worker's batch that decides runs
 * of two DAGs: it takes both DAGs' locks before any pool's. Otherwise, holding the pool after
 * deciding one DAG while it waits for the other, it deadlocks with a transaction that holds that
 * other DAG and wants the pool (an API trigger, a scheduler pass): seen under load as "deadlock
 * detected" and as a trigger answered with a 500.
 */
import { rowsOf } from '@updraft/db';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockDag } from './runs.ts';
import { createEngineHarness, type EngineHarness, waitFor } from './testing.ts';

// Two DAGs whose first tasks finish together (one gate), so one batch records both and decides
// both runs; each has a task downstream, so both runs are decided.
const DAGS = `
import { dag } from '@updraft/sdk';
const gate = (globalThis.__updraftLockGate ??= {});
gate.open ??= new Promise((resolve) => (gate.release = resolve));
export const a = dag({ id: 'lock_a', team: 'data-eng' }, (d) => {
  d.fn('first', async () => { await gate.open; return 1; }).then(d.fn('second', async () => 2));
});
export const b = dag({ id: 'lock_b', team: 'data-eng' }, (d) => {
  d.fn('first', async () => { await gate.open; return 1; }).then(d.fn('second', async () => 2));
});
`;

const gate = () =>
  (globalThis as { __updraftLockGate?: { release?: () => void } }).__updraftLockGate;

describe('lock order in a worker batch of two DAGs (postgres)', () => {
  let h: EngineHarness;

  beforeAll(async () => {
    h = await createEngineHarness('postgres');
    await h.writeDag('locks.ts', DAGS);
    await h.processor.sync();
    await h.worker({ concurrency: 4 }).start();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('takes both DAG locks before the pool, so a holder of one DAG that wants the pool goes first', async () => {
    const { db } = h.resources.database;
    const runA = await h.ops.triggerRun('lock_a', { actor: 'test' });
    const runB = await h.ops.triggerRun('lock_b', { actor: 'test' });
    await waitFor(
      async () => {
        const [row] = rowsOf<{ n: number }>(
          await db.execute(sql`select count(*)::int as n from task_instances
            where task_id = 'first' and state = 'running'`),
        );
        // Running, and their file loaded here (the gate exists once it is).
        return row!.n === 2 && gate()?.release ? true : null;
      },
      { what: 'both first tasks to run' },
    );
    // Another transaction holds DAG lock_b. Once the worker's batch waits for a lock, it asks for
    // the pool: with a short deadlock_timeout, so that if the two were in a deadlock, this one
    // would be the one PostgreSQL aborts.
    const holder = db.transaction(async (tx) => {
      await tx.execute(sql`set local deadlock_timeout = '50ms'`);
      await lockDag(tx, 'lock_b');
      gate()!.release!();
      await waitFor(
        async () => {
          const [row] = rowsOf<{ n: number }>(
            await db.execute(sql`select count(*)::int as n from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock'
                and wait_event = 'advisory'`),
          );
          return row!.n > 0 ? true : null;
        },
        { what: "the worker's batch to wait for a lock" },
      );
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext('updraft:pool:default_pool'))`);
      return 'committed';
    });
    await expect(holder).resolves.toBe('committed');
    for (const { runId } of [runA, runB]) {
      expect((await h.finishedRun(runId)).state).toBe('success');
    }
    // Both tries were recorded by one batch (one transaction: one now()), the case under test.
    const ends = rowsOf<{ at: string }>(
      await db.execute(sql`select at::text as at from events
        where task_id = 'first' and from_state = 'running' and to_state = 'success'`),
    );
    expect(ends).toHaveLength(2);
    expect(ends[0]!.at).toBe(ends[1]!.at);
  });
});
