/**
 * Deadline alerts with a fake clock on real PostgreSQL: deadline_at is set when the run is created
 * (data interval end + after); two schedulers past it mark the run missed, log one event and request
 * one callback — exactly once; the callback receives the deadline; the run itself goes on.
 */
import { rowsOf } from '@updraft/db';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackRunner } from './callbacks.ts';
import type { Clock } from './resources.ts';
import { createEngineHarness, type EngineHarness } from './testing.ts';
import { VersionCache } from './versions.ts';
import { DagFileCache } from './worker/executors/function.ts';

class FakeClock implements Clock {
  current: Date;
  constructor(iso: string) {
    this.current = new Date(iso);
  }
  now(): Date {
    return new Date(this.current);
  }
}

const DAG = `
import { dag } from '@updraft/sdk';
const g = globalThis as any;
export default dag({
  id: 'late', team: 'data-eng', schedule: '@daily', startDate: '2026-01-01',
  deadline: { after: '30m', callback: (ctx) => { (g.__deadlines ??= []).push(ctx); } },
}, (d) => {
  d.shell('work', { command: 'true' });
});
`;

describe('deadline alerts with a fake clock (postgres)', () => {
  let h: EngineHarness;
  const clock = new FakeClock('2026-01-05T00:00:01Z');

  beforeAll(async () => {
    h = await createEngineHarness('postgres', { clock });
    await h.writeDag('late.ts', DAG);
    await h.processor.sync();
  });
  afterAll(async () => {
    await h?.close();
  });

  const state = async () =>
    rowsOf<{
      run_id: string;
      state: string;
      deadline_at: Date;
      deadline_missed_at: Date | null;
      events: number;
      requests: number;
    }>(
      await h.resources.database.db.execute(sql`select r.run_id, r.state, r.deadline_at, r.deadline_missed_at,
          (select count(*)::int from events e where e.run_id = r.run_id and e.reason = 'deadline missed') as events,
          (select count(*)::int from callback_requests c where c.dag_run_id = r.id and c.event = 'deadline_missed') as requests
        from dag_runs r where r.dag_id = 'late'`),
    );

  it('sets deadline_at from the data interval end when the run is created', async () => {
    // No worker runs: the run stays running past its deadline.
    await h.scheduler({ id: 's1' }).runOnce();
    const [run] = await state();
    expect(run).toMatchObject({
      run_id: 'scheduled__2026-01-04T00:00:00.000Z',
      state: 'running',
      deadline_missed_at: null,
      events: 0,
      requests: 0,
    });
    expect(new Date(run!.deadline_at).toISOString()).toBe('2026-01-05T00:30:00.000Z');
  });

  it('does nothing before the deadline', async () => {
    clock.current = new Date('2026-01-05T00:29:59Z');
    await Promise.all([h.scheduler({ id: 's2' }).runOnce(), h.scheduler({ id: 's3' }).runOnce()]);
    expect((await state())[0]).toMatchObject({ deadline_missed_at: null, events: 0, requests: 0 });
  });

  it('marks a missed deadline exactly once with two schedulers', async () => {
    clock.current = new Date('2026-01-05T00:30:01Z');
    const a = h.scheduler({ id: 's4' });
    const b = h.scheduler({ id: 's5' });
    await Promise.all([a.runOnce(), b.runOnce(), a.runOnce(), b.runOnce()]);
    clock.current = new Date('2026-01-05T02:00:00Z');
    await Promise.all([a.runOnce(), b.runOnce()]);
    const [run] = await state();
    expect(run).toMatchObject({ state: 'running', events: 1, requests: 1 });
    expect(new Date(run!.deadline_missed_at!).toISOString()).toBe('2026-01-05T00:30:01.000Z');
  });

  it('runs the deadline callback with the deadline in its context', async () => {
    const runner = new CallbackRunner(h.resources, {
      id: 'test-runner',
      files: new DagFileCache(),
      versions: new VersionCache(),
    });
    expect(await runner.runPending()).toBe(1);
    const seen = (globalThis as { __deadlines?: Record<string, unknown>[] }).__deadlines ?? [];
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      event: 'deadline_missed',
      dagId: 'late',
      runId: 'scheduled__2026-01-04T00:00:00.000Z',
      taskId: null,
      state: 'running',
      deadlineAt: '2026-01-05T00:30:00.000Z',
      dataIntervalEnd: '2026-01-05T00:00:00.000Z',
    });
    const [req] = rowsOf<{ state: string; attempts: number }>(
      await h.resources.database.db.execute(sql`select state, attempts from callback_requests`),
    );
    expect(req).toEqual({ state: 'success', attempts: 1 });
  });
});
