/**
 * Pools and concurrency limits on real PostgreSQL: a 2-slot pool shared by several DAGs under two
 * schedulers and two workers never has more than 2 slots in use (measured twice: by the tasks
 * themselves, and from the event log in commit order); waiting work is released in priority
 * order across DAGs; pool_slots=2 takes both slots; the per-run limit; a missing pool.
 */
import { schema } from '@updraft/db';
import { asc, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declarePools, deletePool, poolStats, setPool } from './pools.ts';
import { createEngineHarness, type EngineHarness, waitFor } from './testing.ts';

/** Counts weighted executions at once, per key, across every worker in this process. */
const SAMPLER = `
const g = globalThis as any;
g.__pool = g.__pool ?? {};
export async function hold(keys: string[], slots: number, ms: number) {
  const ss = keys.map((k) => (g.__pool[k] = g.__pool[k] ?? { active: 0, max: 0 }));
  for (const s of ss) {
    s.active += slots;
    s.max = Math.max(s.max, s.active);
  }
  await new Promise((r) => setTimeout(r, ms));
  for (const s of ss) s.active -= slots;
}
`;

const contentionDag = (id: string, priority: number) => `
import { dag } from '@updraft/sdk';
import { hold } from './_sampler.ts';
export default dag({ id: '${id}', team: 'data-eng', maxActiveTasks: 16, defaults: { pool: 'tiny', priorityWeight: ${priority}, weightRule: 'absolute' } }, (d) => {
  for (let i = 0; i < 5; i++) d.fn('t' + i, () => hold(['tiny'], 1, 30));
  d.fn('big', () => hold(['tiny'], 2, 30), { poolSlots: 2 });
});
`;

const PRIORITY_DAGS = `
import { dag } from '@updraft/sdk';
export const low = dag({ id: 'prio_low', team: 'data-eng', defaults: { pool: 'solo', priorityWeight: 1, weightRule: 'absolute' } }, (d) => {
  for (let i = 0; i < 3; i++) d.shell('low' + i, { command: 'true' });
});
export const high = dag({ id: 'prio_high', team: 'data-eng', defaults: { pool: 'solo', priorityWeight: 9, weightRule: 'absolute' } }, (d) => {
  for (let i = 0; i < 3; i++) d.shell('high' + i, { command: 'true' });
});
`;

const PER_RUN_DAG = `
import { dag } from '@updraft/sdk';
import { hold } from './_sampler.ts';
export default dag({ id: 'per_run', team: 'data-eng', maxActiveTasks: 16, maxActiveTasksPerRun: 2 }, (d) => {
  for (let i = 0; i < 6; i++) d.fn('p' + i, (ctx) => hold([ctx.runId, 'per_run_all'], 1, 60));
});
`;

const PER_TASK_DAG = `
import { dag } from '@updraft/sdk';
import { hold } from './_sampler.ts';
export default dag({ id: 'per_task', team: 'data-eng', maxActiveTasks: 16 }, (d) => {
  d.fn('exclusive', () => hold(['per_task_exclusive'], 1, 200), { maxActiveTisPerDag: 1 });
  d.fn('free', () => hold(['per_task_free'], 1, 200));
});
`;

const MISSING_POOL_DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'nopool', team: 'data-eng' }, (d) => {
  d.shell('waits', { command: 'true', pool: 'does_not_exist' });
});
`;

interface Sample {
  active: number;
  max: number;
}
const samples = () => (globalThis as { __pool?: Record<string, Sample> }).__pool ?? {};

describe('pools and concurrency limits (postgres)', () => {
  let h: EngineHarness;

  beforeAll(async () => {
    h = await createEngineHarness('postgres');
    await h.writeDag('_sampler.ts', SAMPLER);
    for (const [id, p] of [
      ['pool_a', 1],
      ['pool_b', 5],
      ['pool_c', 3],
    ] as const)
      await h.writeDag(`${id}.ts`, contentionDag(id, p));
    await h.writeDag('prio.ts', PRIORITY_DAGS);
    await h.writeDag('per_run.ts', PER_RUN_DAG);
    await h.writeDag('nopool.ts', MISSING_POOL_DAG);
    await h.writeDag('per_task.ts', PER_TASK_DAG);
    await h.processor.sync();
    await setPool(h.resources.database.db, { name: 'tiny', slots: 2 });
    await setPool(h.resources.database.db, { name: 'solo', slots: 0 });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('never uses more than the pool has, under two schedulers and two workers', async () => {
    const runIds: string[] = [];
    for (const dagId of ['pool_a', 'pool_b', 'pool_c']) {
      for (let i = 0; i < 2; i++)
        runIds.push((await h.ops.triggerRun(dagId, { actor: 'test' })).runId);
    }
    await Promise.all([
      h.scheduler({ id: 'scheduler-1' }).start(),
      h.scheduler({ id: 'scheduler-2' }).start(),
      h.worker({ id: 'worker-1', concurrency: 8 }).start(),
      h.worker({ id: 'worker-2', concurrency: 8 }).start(),
    ]);
    for (const runId of runIds) expect((await h.finishedRun(runId)).state).toBe('success');

    // 1. Measured by the tasks themselves (weighted by pool_slots): at most 2, and it was reached.
    expect(samples().tiny?.max).toBe(2);

    // 2. From the event log in id order: an event id is taken inside its transaction, and a queueing
    // transaction takes ids only after it holds the pool lock, so the sweep never under-counts.
    const tis = await h.resources.database.db
      .select()
      .from(schema.taskInstances)
      .where(inArray(schema.taskInstances.runId, runIds));
    const slotsOf = new Map(tis.map((t) => [`${t.runId}/${t.taskId}`, t.poolSlots]));
    expect(slotsOf.get(`${runIds[0]}/big`)).toBe(2);
    const events = await h.resources.database.db
      .select()
      .from(schema.events)
      .where(inArray(schema.events.runId, runIds))
      .orderBy(asc(schema.events.id));
    let inUse = 0;
    let max = 0;
    for (const e of events) {
      if (e.entity !== 'task_instance') continue;
      const slots = slotsOf.get(`${e.runId}/${e.taskId}`) ?? 0;
      const holds = (s: string | null) => s === 'queued' || s === 'running';
      if (!holds(e.fromState) && holds(e.toState)) inUse += slots;
      if (holds(e.fromState) && !holds(e.toState)) inUse -= slots;
      max = Math.max(max, inUse);
    }
    expect(max).toBe(2);
    expect(inUse).toBe(0);
  });

  it('reports occupied, queued, running and open slots', async () => {
    const [tiny] = await poolStats(h.resources.database.db, 'tiny');
    expect(tiny).toMatchObject({ name: 'tiny', slots: 2, occupied: 0, open: 2, running: 0 });
  });

  it('releases waiting work across DAGs in priority order as slots free', async () => {
    const low = await h.ops.triggerRun('prio_low', { actor: 'test' });
    const high = await h.ops.triggerRun('prio_high', { actor: 'test' });
    // Everything is scheduled but the pool has no slot yet.
    await waitFor(
      async () => {
        const rows = await h.resources.database.db
          .select()
          .from(schema.taskInstances)
          .where(inArray(schema.taskInstances.runId, [low.runId, high.runId]));
        return rows.length === 6 && rows.every((r) => r.state === 'scheduled') ? rows : null;
      },
      { what: 'all six task instances to be scheduled' },
    );
    await setPool(h.resources.database.db, { name: 'solo', slots: 1 });
    expect((await h.finishedRun(low.runId)).state).toBe('success');
    expect((await h.finishedRun(high.runId)).state).toBe('success');
    const order = (
      await h.resources.database.db
        .select()
        .from(schema.events)
        .where(inArray(schema.events.runId, [low.runId, high.runId]))
        .orderBy(asc(schema.events.id))
    )
      .filter((e) => e.entity === 'task_instance' && e.toState === 'queued')
      .map((e) => e.taskId);
    expect(order).toEqual(['high0', 'high1', 'high2', 'low0', 'low1', 'low2']);
  });

  it('limits queued and running task instances per run (maxActiveTasksPerRun), not per DAG', async () => {
    const a = await h.ops.triggerRun('per_run', { actor: 'test' });
    const b = await h.ops.triggerRun('per_run', { actor: 'test' });
    expect((await h.finishedRun(a.runId)).state).toBe('success');
    expect((await h.finishedRun(b.runId)).state).toBe('success');
    expect(samples()[a.runId]?.max).toBe(2);
    expect(samples()[b.runId]?.max).toBe(2);
    // Both runs ran at once: the limit is per run, not per DAG.
    expect(samples().per_run_all?.max).toBeGreaterThan(2);
  });

  it('runs one instance of a task at a time across runs (maxActiveTisPerDag)', async () => {
    const runs = await Promise.all(
      [0, 1, 2].map(() => h.ops.triggerRun('per_task', { actor: 'test' })),
    );
    for (const { runId } of runs) expect((await h.finishedRun(runId)).state).toBe('success');
    expect(samples().per_task_exclusive?.max).toBe(1);
    expect(samples().per_task_free?.max).toBeGreaterThan(1);
  });

  it('keeps a task whose pool does not exist scheduled, saying why', async () => {
    const { runId } = await h.ops.triggerRun('nopool', { actor: 'test' });
    const ti = await waitFor(
      async () => {
        const [row] = await h.resources.database.db
          .select()
          .from(schema.taskInstances)
          .where(eq(schema.taskInstances.runId, runId));
        return row?.stateReason?.includes('does not exist') ? row : null;
      },
      { what: 'the missing pool to be reported' },
    );
    expect(ti.state).toBe('scheduled');
    expect(ti.stateReason).toContain('pool "does_not_exist" does not exist');
    // Creating the pool lets it run.
    await setPool(h.resources.database.db, { name: 'does_not_exist', slots: 1 });
    expect((await h.finishedRun(runId)).state).toBe('success');
  });

  it('refuses to delete default_pool or a busy pool; deletes others', async () => {
    const { db } = h.resources.database;
    await expect(deletePool(db, 'default_pool')).rejects.toThrow(/cannot be deleted/);
    await expect(deletePool(db, 'nope')).rejects.toThrow(/does not exist/);
    await setPool(db, { name: 'scratch', slots: 3, description: 'temp' });
    await deletePool(db, 'scratch');
    expect(await poolStats(db, 'scratch')).toEqual([]);
    await expect(setPool(db, { name: 'bad name!', slots: 1 })).rejects.toThrow(/pool name/);
    // Names a URL could not reach (/pools/.. is resolved away).
    for (const name of ['.', '..'])
      await expect(setPool(db, { name, slots: 1 })).rejects.toThrow(/not "\." or "\.\."/);
    await setPool(db, { name: '.hidden..ok', slots: 1 });
    await deletePool(db, '.hidden..ok');
  });

  it("declares an environment's pools from processes starting at once, then resizes them", async () => {
    const declared = [{ name: 'declared', slots: 3, description: 'from teams.yaml' }];
    // A scheduler, a worker and the API start together and all declare the same pools.
    await Promise.all(
      Array.from({ length: 5 }, () => declarePools(h.resources.database.db, declared)),
    );
    expect((await poolStats(h.resources.database.db, 'declared'))[0]).toMatchObject({
      name: 'declared',
      slots: 3,
      description: 'from teams.yaml',
    });
    await declarePools(h.resources.database.db, [{ name: 'declared', slots: 5 }]);
    expect((await poolStats(h.resources.database.db, 'declared'))[0]).toMatchObject({ slots: 5 });
  });
});
