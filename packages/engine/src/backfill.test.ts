/**
 * Backfills on PostgreSQL with a fake clock: the backfill's own max_active_runs (never exceeded,
 * independent of the DAG's), oldest or newest first, each reprocess mode, active runs always
 * skipped, pause, cancel, completion, and DAGs that cannot be backfilled.
 */
import { ConflictError, InvalidError } from '@updraft/core/errors';
import { type Queryable, rowsOf, schema } from '@updraft/db';
import { asc, eq, type SQL, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backfills, backfillRunsToStart, type IntervalPlan, planIntervals } from './backfill.ts';

interface PlanNode {
  'Actual Loops': number;
  Plans?: PlanNode[];
}

import type { Clock } from './resources.ts';
import { createEngineHarness, type EngineHarness, waitFor } from './testing.ts';

const clock: Clock & { current: Date } = {
  current: new Date('2026-01-09T00:00:01Z'),
  now() {
    return new Date(this.current);
  },
};

// The run for 2026-01-02 always fails; the others succeed. The DAG allows one active run only:
// backfills run beside it within their own limits. endDate stops the scheduler's own runs.
const DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'bf', team: 'data-eng', schedule: '@daily', startDate: '2026-01-01', endDate: '2026-01-01', catchup: false, maxActiveRuns: 1 }, (d) => {
  d.shell('check', { command: 'sleep 0.2; test "{{ ds }}" != "2026-01-02"' });
});
export const manual = dag({ id: 'manual_only', team: 'data-eng' }, (d) => {
  d.shell('a', { command: 'true' });
});
export const hourly = dag({ id: 'hourly_bf', team: 'data-eng', schedule: '@hourly', startDate: '2025-01-01', endDate: '2025-01-01', catchup: false }, (d) => {
  d.shell('a', { command: 'true' }).then(d.shell('b', { command: 'true' }));
});
export const wide = dag({ id: 'wide_bf', team: 'data-eng', schedule: '@hourly', startDate: '2025-01-01', endDate: '2025-01-01', catchup: false }, (d) => {
  for (let i = 0; i < 25; i++) d.shell(\`t\${i}\`, { command: 'true' });
});
`;

const day = (n: number) => new Date(Date.UTC(2026, 0, n));

describe('planIntervals (pure)', () => {
  const intervals = [1, 2, 3, 4, 5].map((n) => ({
    logicalDate: day(n),
    dataInterval: { start: day(n), end: day(n + 1) },
  }));
  const existing = new Map([
    [day(1).getTime(), { runId: 'r1', runPk: 1, state: 'success' }],
    [day(2).getTime(), { runId: 'r2', runPk: 2, state: 'failed' }],
    [day(3).getTime(), { runId: 'r3', runPk: 3, state: 'running' }],
    [day(4).getTime(), { runId: 'r4', runPk: 4, state: 'queued' }],
  ]);
  it.each<[string, string[]]>([
    ['none', ['skip', 'skip', 'skip', 'skip', 'create']],
    ['failed', ['skip', 'reprocess', 'skip', 'skip', 'create']],
    ['completed', ['reprocess', 'reprocess', 'skip', 'skip', 'create']],
  ])('reprocess %s → %j (queued and running always skipped)', (mode, actions) => {
    const plan = planIntervals(intervals, existing, mode as 'none');
    expect(plan.map((p: IntervalPlan) => p.action)).toEqual(actions);
  });
});

describe('backfills (postgres)', () => {
  let h: EngineHarness;
  let backfills: Backfills;
  const db = () => h.resources.database.db;

  const runsOf = async (backfillId: number) =>
    db()
      .select()
      .from(schema.dagRuns)
      .where(eq(schema.dagRuns.backfillId, backfillId))
      .orderBy(asc(schema.dagRuns.logicalDate));

  /** Replays run events: the most runs of the backfill running at once, and their start order. */
  const history = async (backfillId: number, afterEvent = 0) => {
    const events = rowsOf<{ run_id: string; from_state: string | null; to_state: string }>(
      await db().execute(
        sql`select e.run_id, e.from_state, e.to_state from events e join dag_runs r on r.dag_id = e.dag_id and r.run_id = e.run_id
         where e.entity = 'dag_run' and r.backfill_id = ${backfillId} and e.id > ${afterEvent} order by e.id`,
      ),
    );
    let running = 0;
    let peak = 0;
    const starts: string[] = [];
    for (const e of events) {
      if (e.to_state === 'running') {
        running++;
        starts.push(e.run_id);
      } else if (e.from_state === 'running') running--;
      peak = Math.max(peak, running);
    }
    return { peak, starts };
  };

  const completed = (id: number) =>
    waitFor(
      async () => {
        const b = await backfills.get(id);
        return b.completedAt ? b : null;
      },
      { timeoutMs: 30_000, what: `backfill ${id} to complete` },
    );

  beforeAll(async () => {
    h = await createEngineHarness('postgres', { clock });
    await h.writeDag('bf.ts', DAG);
    await h.processor.sync();
    backfills = new Backfills(h.resources);
    h.scheduler().start();
    h.worker({ concurrency: 8 }).start();
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('runs every interval within its own max_active_runs, oldest first, and completes', async () => {
    const { backfill, plan } = await backfills.create({
      dagId: 'bf',
      from: day(1),
      to: day(6),
      maxActiveRuns: 2,
      actor: 'test',
    });
    expect(plan.map((p) => p.action)).toEqual(Array(6).fill('create'));
    const done = await completed(backfill!.id);
    expect(done.runs).toEqual({ success: 5, failed: 1 });
    const runs = await runsOf(backfill!.id);
    expect(runs.map((r) => [r.runId, r.runType, r.state])).toEqual([
      ['backfill__2026-01-01T00:00:00.000Z', 'backfill', 'success'],
      ['backfill__2026-01-02T00:00:00.000Z', 'backfill', 'failed'],
      ['backfill__2026-01-03T00:00:00.000Z', 'backfill', 'success'],
      ['backfill__2026-01-04T00:00:00.000Z', 'backfill', 'success'],
      ['backfill__2026-01-05T00:00:00.000Z', 'backfill', 'success'],
      ['backfill__2026-01-06T00:00:00.000Z', 'backfill', 'success'],
    ]);
    const { peak, starts } = await history(backfill!.id);
    // Two at once although the DAG's own max_active_runs is 1; never more than the backfill's 2.
    expect(peak).toBe(2);
    expect(starts).toEqual(runs.map((r) => r.runId));
  });

  it.each<[string, string[]]>([
    ['none', []],
    ['failed', ['2026-01-02']],
    ['completed', ['2026-01-01', '2026-01-02', '2026-01-03']],
  ])('reprocess %s re-runs %j (dry run)', async (reprocess, rerun) => {
    const attempt = backfills.create({
      dagId: 'bf',
      from: day(1),
      to: day(3),
      reprocess: reprocess as 'none',
      dryRun: true,
      actor: 'test',
    });
    const { plan } = await attempt;
    expect(
      plan
        .filter((p) => p.action === 'reprocess')
        .map((p) => p.logicalDate.toISOString().slice(0, 10)),
    ).toEqual(rerun);
  });

  it('reprocess none with nothing new is a conflict naming the DAG', async () => {
    await expect(
      backfills.create({ dagId: 'bf', from: day(1), to: day(3), actor: 'test' }),
    ).rejects.toThrow(ConflictError);
  });

  it('reprocess failed clears the failed run, attaches it to the new backfill and runs it again', async () => {
    const { backfill, plan } = await backfills.create({
      dagId: 'bf',
      from: day(1),
      to: day(7),
      reprocess: 'failed',
      actor: 'test',
    });
    expect(plan.map((p) => p.action)).toEqual([
      'skip',
      'reprocess',
      'skip',
      'skip',
      'skip',
      'skip',
      'create',
    ]);
    const done = await completed(backfill!.id);
    expect(done.runs).toEqual({ success: 1, failed: 1 });
    const runs = await runsOf(backfill!.id);
    expect(runs.map((r) => r.runId)).toEqual([
      'backfill__2026-01-02T00:00:00.000Z',
      'backfill__2026-01-07T00:00:00.000Z',
    ]);
    const [ti] = await db()
      .select()
      .from(schema.taskInstances)
      .where(eq(schema.taskInstances.dagRunId, runs[0]!.id));
    expect(ti!.tryNumber).toBe(2);
  });

  it('newest first with backwards; queued and running runs of another backfill are skipped', async () => {
    const [mark] = rowsOf<{ n: number }>(
      await db().execute(sql`select coalesce(max(id), 0)::int as n from events`),
    );
    const { backfill } = await backfills.create({
      dagId: 'bf',
      from: day(1),
      to: day(7),
      reprocess: 'completed',
      maxActiveRuns: 1,
      backwards: true,
      actor: 'test',
    });
    // While it runs, a second backfill over the same days skips every run still queued or running.
    const second = await backfills.create({
      dagId: 'bf',
      from: day(1),
      to: day(7),
      reprocess: 'completed',
      dryRun: true,
      actor: 'test',
    });
    const active = second.plan.filter((p) => p.action === 'skip');
    expect(active.length).toBeGreaterThan(0);
    for (const p of active)
      expect(p).toMatchObject({ reason: expect.stringMatching(/queued|running/) });
    await completed(backfill!.id);
    const { peak, starts } = await history(backfill!.id, mark!.n);
    expect(peak).toBe(1);
    expect(starts).toEqual([7, 6, 5, 4, 3, 2, 1].map((n) => `backfill__${day(n).toISOString()}`));
  });

  it('a paused backfill starts nothing; cancelling fails its queued runs and completes it', async () => {
    const { backfill } = await backfills.create({
      dagId: 'bf',
      from: day(1),
      to: day(8),
      reprocess: 'completed',
      maxActiveRuns: 1,
      actor: 'test',
    });
    await backfills.setPaused(backfill!.id, true, 'test');
    // Whatever had started before the pause finishes; then nothing new starts.
    await waitFor(
      async () => {
        const runs = await runsOf(backfill!.id);
        return runs.every((r) => r.state !== 'running') ? runs : null;
      },
      { timeoutMs: 20_000, what: 'running backfill runs to finish' },
    );
    const before = await runsOf(backfill!.id);
    const queuedBefore = before.filter((r) => r.state === 'queued').length;
    expect(queuedBefore).toBeGreaterThan(5);
    // Several scheduler passes later, still nothing started.
    const passes = h.scheduler({ id: 'extra' });
    await passes.runOnce();
    await passes.runOnce();
    expect((await runsOf(backfill!.id)).filter((r) => r.state === 'queued').length).toBe(
      queuedBefore,
    );
    const cancelled = await backfills.cancel(backfill!.id, 'test');
    expect(cancelled.completedAt).not.toBeNull();
    const after = await runsOf(backfill!.id);
    expect(after.filter((r) => r.state === 'queued')).toEqual([]);
    expect(after.filter((r) => r.state === 'failed').length).toBeGreaterThanOrEqual(queuedBefore);
    await expect(backfills.setPaused(backfill!.id, false, 'test')).rejects.toThrow(ConflictError);
  });

  it('creates hundreds of runs in batches, each with its task instances, up to now when "to" is far off', async () => {
    // 2025-12-01 to now (2026-01-09T00:00:01): 936 hourly intervals, two batches of runs. A
    // "to" in year 9999 once listed intervals up to the 10,000-run limit before keeping the due.
    const { backfill, plan } = await backfills.create({
      dagId: 'hourly_bf',
      from: new Date('2025-12-01T00:00:00Z'),
      to: new Date('9999-12-31T00:00:00Z'),
      maxActiveRuns: 1,
      actor: 'test',
    });
    await backfills.cancel(backfill!.id, 'test');
    expect(plan).toHaveLength(936);
    expect(plan.at(-1)!.logicalDate.toISOString()).toBe('2026-01-08T23:00:00.000Z');
    const [counts] = rowsOf<{ runs: number; tis: number; ordered: boolean; events: number }>(
      await db().execute(sql`select
        (select count(*)::int from dag_runs where backfill_id = ${backfill!.id}) as runs,
        (select count(*)::int from task_instances t join dag_runs r on r.id = t.dag_run_id
          where r.backfill_id = ${backfill!.id}) as tis,
        (select bool_and(t.task_id = case when t.id % 2 = (select min(id) % 2 from task_instances
            where dag_id = 'hourly_bf') then 'a' else 'b' end and t.run_id = r.run_id
            and t.logical_date = r.logical_date)
          from task_instances t join dag_runs r on r.id = t.dag_run_id
          where r.backfill_id = ${backfill!.id}) as ordered,
        (select count(*)::int from events e join dag_runs r on r.dag_id = e.dag_id and r.run_id = e.run_id
          where r.backfill_id = ${backfill!.id} and e.entity = 'dag_run' and e.from_state = 'none'
            and e.to_state = 'queued') as events`),
    );
    expect(counts).toEqual({ runs: 936, tis: 1872, ordered: true, events: 936 });
  });

  it('picks the runs to start with work per backfill, not per queued run', async () => {
    const { backfill } = await backfills.create({
      // 960 hourly runs, before those of the test above.
      dagId: 'hourly_bf',
      from: new Date('2025-10-01T00:00:00Z'),
      to: new Date('2025-11-09T23:00:00Z'),
      maxActiveRuns: 2,
      actor: 'test',
    });
    try {
      // The query as the scheduler sends it, executed under EXPLAIN ANALYZE: no step of its plan
      // may run once per queued run (it did: a year of hourly runs took 22 s a scheduler pass).
      let statement: SQL | undefined;
      const capture = {
        execute: (q: SQL) => {
          statement = q;
          return db().execute(q);
        },
      } as unknown as Queryable;
      const picked = await backfillRunsToStart(capture, 'hourly_bf');
      const [{ 'QUERY PLAN': plan }] = rowsOf<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
        await db().execute(sql`explain (analyze, format json) ${statement}`),
      ) as [{ 'QUERY PLAN': { Plan: PlanNode }[] }];
      const loops = (node: PlanNode): number =>
        Math.max(node['Actual Loops'], ...(node.Plans ?? []).map(loops));
      const [{ queued }] = rowsOf<{ queued: number }>(
        await db().execute(sql`select count(*)::int as queued from dag_runs
          where backfill_id = ${backfill!.id} and state = 'queued'`),
      ) as [{ queued: number }];
      expect(queued).toBeGreaterThan(800);
      expect(loops(plan[0]!.Plan)).toBeLessThanOrEqual(2);
      // Never more than the backfill's room.
      expect(picked.length).toBeLessThanOrEqual(2);
    } finally {
      await backfills.cancel(backfill!.id, 'test').catch(() => {});
    }
  });

  it('refuses a backfill of more task instances than one transaction should write, naming the counts', async () => {
    // 8,952 hourly runs of 25 tasks: 223,800 task instances.
    const attempt = backfills.create({
      dagId: 'wide_bf',
      from: new Date('2025-01-01T00:00:00Z'),
      to: day(9),
      dryRun: true,
      actor: 'test',
    });
    await expect(attempt).rejects.toThrow(InvalidError);
    await expect(attempt).rejects.toThrow(
      /would create 223800 task instances \(8952 runs of 25 tasks\); at most 200000 at once: split the range/,
    );
  });

  it.each<[string, Parameters<Backfills['create']>[0], RegExp]>([
    [
      'a DAG without a schedule',
      { dagId: 'manual_only', from: day(1), to: day(2), actor: 't' },
      /DAG "manual_only" has no schedule and cannot be backfilled/,
    ],
    [
      '"to" before "from"',
      { dagId: 'bf', from: day(3), to: day(2), actor: 't' },
      /"to" is before "from"/,
    ],
    [
      'the future',
      { dagId: 'bf', from: day(20), to: day(21), actor: 't' },
      /"from" is in the future/,
    ],
    [
      'max_active_runs 0',
      { dagId: 'bf', from: day(1), to: day(2), maxActiveRuns: 0, actor: 't' },
      /max_active_runs must be a positive integer/,
    ],
  ])('refuses %s', async (_name, input, message) => {
    await expect(backfills.create(input)).rejects.toThrow(InvalidError);
    await expect(backfills.create(input)).rejects.toThrow(message);
  });
});
