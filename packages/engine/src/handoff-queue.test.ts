/**
 * A worker's hand-off queues the next task of a chain in the round trip that schedules it, but
 * only where picking could not have chosen otherwise (runs.ts, queueJustScheduledStatement).
 * Here it must not: more important work of another DAG waits in the pool, the next task needs
 * more slots than the finished one freed, the DAG has room for fewer than were scheduled, or it
 * was paused. Tasks wait on gates, so each situation is set up exactly before the hand-off. Its
 * DAG and pool locks, taken in one statement, keep picking's order (DAG first).
 */
import { rowsOf, schema } from '@updraft/db';
import { asc, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueingLocksSql, setPool } from './pools.ts';
import { createEngineHarness, type EngineHarness, waitFor } from './testing.ts';

const GATES = `
const g = globalThis as any;
g.__gates = g.__gates ?? {};
export function gate(name: string): Promise<void> {
  const entry = (g.__gates[name] = g.__gates[name] ?? {});
  entry.promise = entry.promise ?? new Promise<void>((r) => (entry.open = r));
  return entry.promise;
}
`;
type Gate = { open?: () => void; promise?: Promise<void> };
/** Opens a gate the DAG files wait on (before or after a task reaches it). */
const openGate = (name: string) => {
  const g = globalThis as { __gates?: Record<string, Gate> };
  g.__gates = g.__gates ?? {};
  const entry = g.__gates[name] ?? {};
  g.__gates[name] = entry;
  if (entry.open) entry.open();
  else entry.promise = Promise.resolve();
};

const DAGS = `
import { dag } from '@updraft/sdk';
import { gate } from './_gates.ts';
// Low priority chain: a hands off to b.
export const chain = dag({ id: 'relay_chain', team: 'data-eng', defaults: { pool: 'relay', priorityWeight: 1, weightRule: 'absolute' } }, (d) => {
  d.fn('a', (ctx) => gate(ctx.conf.gate as string)).then(d.fn('b', () => undefined));
});
// More important work in the same pool.
export const other = dag({ id: 'relay_other', team: 'data-eng', defaults: { pool: 'relay', priorityWeight: 9, weightRule: 'absolute' } }, (d) => {
  d.fn('x', () => undefined);
});
// A chain whose second task needs both slots of the pool.
export const wide = dag({ id: 'wide_chain', team: 'data-eng', defaults: { pool: 'pair' } }, (d) => {
  d.fn('first', () => gate('first')).then(d.fn('both', () => undefined, { poolSlots: 2 }));
});
export const holder = dag({ id: 'pair_holder', team: 'data-eng', defaults: { pool: 'pair' } }, (d) => {
  d.fn('hold', () => gate('hold'));
});
// Two tasks after one, in a DAG that may run two at once while another of its tasks runs.
export const roomy = dag({ id: 'room_dag', team: 'data-eng', maxActiveTasks: 2, defaults: { pool: 'roomy' } }, (d) => {
  const start = d.fn('start', () => gate('start'));
  start.then(d.fn('next1', () => gate('next')));
  start.then(d.fn('next2', () => gate('next')));
  d.fn('side', () => gate('side'), { pool: 'side' });
});
`;

describe('queueing at the hand-off (postgres)', () => {
  let h: EngineHarness;

  beforeAll(async () => {
    h = await createEngineHarness('postgres');
    await h.writeDag('_gates.ts', GATES);
    await h.writeDag('relay.ts', DAGS);
    await h.processor.sync();
    await setPool(h.resources.database.db, { name: 'relay', slots: 1 });
    await setPool(h.resources.database.db, { name: 'pair', slots: 2 });
    await setPool(h.resources.database.db, { name: 'roomy', slots: 10 });
    await setPool(h.resources.database.db, { name: 'side', slots: 10 });
    await h.scheduler().start();
    await h.worker({ concurrency: 4 }).start();
  });
  afterAll(async () => {
    await h?.close();
  });

  const statesOf = async (runIds: string[]) =>
    new Map(
      (
        await h.resources.database.db
          .select()
          .from(schema.taskInstances)
          .where(inArray(schema.taskInstances.runId, runIds))
      ).map((t) => [`${t.dagId}.${t.taskId}`, t.state]),
    );
  const queuedOrder = async (runIds: string[]) =>
    (
      await h.resources.database.db
        .select()
        .from(schema.events)
        .where(inArray(schema.events.runId, runIds))
        .orderBy(asc(schema.events.id))
    )
      .filter((e) => e.entity === 'task_instance' && e.toState === 'queued')
      .map((e) => `${e.dagId}.${e.taskId}`);

  it('gives the freed slot to more important work waiting in the pool, not to the next task', async () => {
    const chain = await h.ops.triggerRun('relay_chain', { actor: 'test', conf: { gate: 'a' } });
    await waitFor(async () => (await statesOf([chain.runId])).get('relay_chain.a') === 'running', {
      what: 'a to run',
    });
    const other = await h.ops.triggerRun('relay_other', { actor: 'test' });
    const runs = [chain.runId, other.runId];
    // x waits for the pool's only slot, which a holds.
    await waitFor(async () => (await statesOf(runs)).get('relay_other.x') === 'scheduled', {
      what: 'x to wait in the pool',
    });
    openGate('a');
    expect((await h.finishedRun(other.runId)).state).toBe('success');
    expect((await h.finishedRun(chain.runId)).state).toBe('success');
    expect(await queuedOrder(runs)).toEqual(['relay_chain.a', 'relay_other.x', 'relay_chain.b']);
  });

  it('keeps the next task scheduled when the slots freed are not enough for it', async () => {
    const holder = await h.ops.triggerRun('pair_holder', { actor: 'test' });
    const wide = await h.ops.triggerRun('wide_chain', { actor: 'test' });
    const runs = [holder.runId, wide.runId];
    await waitFor(
      async () => {
        const s = await statesOf(runs);
        return s.get('pair_holder.hold') === 'running' && s.get('wide_chain.first') === 'running';
      },
      { what: 'both slots of the pool to be taken' },
    );
    // first ends and frees one slot; both needs two, and hold still has the other.
    openGate('first');
    await waitFor(async () => (await statesOf(runs)).get('wide_chain.first') === 'success', {
      what: 'first to end',
    });
    // Give a wrong hand-off time to show itself: the worker and scheduler loop meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await statesOf(runs)).get('wide_chain.both')).toBe('scheduled');
    openGate('hold');
    expect((await h.finishedRun(holder.runId)).state).toBe('success');
    expect((await h.finishedRun(wide.runId)).state).toBe('success');
    const order = await queuedOrder(runs);
    expect(order.sort()).toEqual(['pair_holder.hold', 'wide_chain.both', 'wide_chain.first']);
    expect((await queuedOrder(runs)).at(-1)).toBe('wide_chain.both');
  });

  it("queues no more than the DAG's max_active_tasks leaves room for", async () => {
    const run = await h.ops.triggerRun('room_dag', { actor: 'test' });
    await waitFor(
      async () => {
        const s = await statesOf([run.runId]);
        return s.get('room_dag.start') === 'running' && s.get('room_dag.side') === 'running';
      },
      { what: 'start and side to run (the DAG at its max_active_tasks)' },
    );
    // start ends: one of next1 and next2 fits beside side, not both.
    openGate('start');
    await waitFor(async () => (await statesOf([run.runId])).get('room_dag.start') === 'success', {
      what: 'start to end',
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const waiting = [...(await statesOf([run.runId])).entries()].filter(
      ([task, state]) => task.startsWith('room_dag.next') && state === 'scheduled',
    );
    expect(waiting).toHaveLength(1);
    openGate('next');
    openGate('side');
    expect((await h.finishedRun(run.runId)).state).toBe('success');
    // From the event log in id order: never more than two queued or running at once.
    const events = (
      await h.resources.database.db
        .select()
        .from(schema.events)
        .where(inArray(schema.events.runId, [run.runId]))
        .orderBy(asc(schema.events.id))
    ).filter((e) => e.entity === 'task_instance');
    const holds = (state: string | null) => state === 'queued' || state === 'running';
    let active = 0;
    let most = 0;
    for (const e of events) {
      if (!holds(e.fromState) && holds(e.toState)) active++;
      if (holds(e.fromState) && !holds(e.toState)) active--;
      most = Math.max(most, active);
    }
    expect(most).toBe(2);
  });

  it('queues nothing for a DAG paused while its task ran', async () => {
    const chain = await h.ops.triggerRun('relay_chain', { actor: 'test', conf: { gate: 'a2' } });
    await waitFor(async () => (await statesOf([chain.runId])).get('relay_chain.a') === 'running', {
      what: 'a to run',
    });
    await h.ops.setPaused('relay_chain', true, 'test');
    openGate('a2');
    await waitFor(async () => (await statesOf([chain.runId])).get('relay_chain.a') === 'success', {
      what: 'a to end',
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await statesOf([chain.runId])).get('relay_chain.b')).toBe('scheduled');
    await h.ops.setPaused('relay_chain', false, 'test');
    expect((await h.finishedRun(chain.runId)).state).toBe('success');
  });

  it("takes the DAG's lock before the pool's, as picking does, although in one statement", async () => {
    const { db } = h.resources.database;
    // The keys as pools.ts writes them.
    const dagKey = 'updraft:dag:lock_order';
    const poolKey = 'updraft:pool:lock_order';
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let holding = () => {};
    const held = new Promise<void>((resolve) => (holding = resolve));
    // Another transaction holds the pool's lock.
    const holder = db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${poolKey}))`);
      holding();
      await released;
    });
    await held;
    const waiter = db.transaction(async (tx) => {
      for (const statement of queueingLocksSql('lock_order', 'lock_order'))
        await tx.execute(statement);
    });
    // pg_locks splits an advisory lock's 64-bit key into classid (high half) and objid.
    const isLock = (alias: 'd' | 'p', key: string) =>
      sql`${sql.raw(alias)}.locktype = 'advisory' and ((${sql.raw(alias)}.classid::bigint << 32)
        | ${sql.raw(alias)}.objid::bigint) = hashtext(${key})::bigint`;
    // While it waits for the pool's lock, the waiter already holds the DAG's.
    const waiting = await waitFor(
      async () =>
        rowsOf<{ dag_held: boolean }>(
          await db.execute(sql`select exists (select 1 from pg_locks d
              where d.pid = p.pid and d.granted and ${isLock('d', dagKey)}) as dag_held
            from pg_locks p where not p.granted and ${isLock('p', poolKey)}`),
        )[0] ?? null,
      { what: 'the waiter to wait for the pool lock' },
    );
    expect(waiting.dag_held).toBe(true);
    release();
    await Promise.all([holder, waiter]);
  });
});
