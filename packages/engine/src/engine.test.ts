import { schema } from '@updraft/db';
import { TEST_DATABASE_KINDS } from '@updraft/db/testing';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, waitFor } from './testing.ts';

const CHAIN_DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'chain', team: 'data-eng', schedule: null }, (d) => {
  const hello = d.shell('hello', { command: 'echo "hello {{ ds }}"; echo result-line' });
  const double = d.fn('double', async (ctx) => { ctx.log('doubling'); return { n: 21 * 2 }; });
  const check = d.fn('check', async (ctx) => {
    const up = await ctx.pull(double);
    if (up?.n !== 42) throw new Error('bad upstream value ' + JSON.stringify(up));
    return (await ctx.pullKey('hello', 'return_value'));
  });
  hello.then(double).then(check);
});
`;

const FAILING_DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'failing', team: 'analytics' }, (d) => {
  const flaky = d.shell('flaky', { command: 'echo trying; exit 3', retries: 1, retryDelay: 0 });
  const after = d.shell('after', { command: 'echo never' });
  const cleanup = d.shell('cleanup', { command: 'echo cleanup', triggerRule: 'all_done' });
  flaky.then(after).then(cleanup);
});
`;

const CYCLE_DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'cyclic', team: 'data-eng' }, (d) => {
  const a = d.shell('a', { command: 'true' });
  const b = d.shell('b', { command: 'true' });
  a.then(b); b.then(a);
});
`;

describe.each(TEST_DATABASE_KINDS)('engine end to end (%s)', (kind) => {
  let h: EngineHarness;

  beforeAll(async () => {
    h = await createEngineHarness(kind);
    await h.writeDag('chain.ts', CHAIN_DAG);
    await h.writeDag('failing.ts', FAILING_DAG);
    await h.writeDag('cyclic.ts', CYCLE_DAG);
    await h.writeDag('bad.yaml', 'id: bad\nteam: nobody\ntasks:\n  - id: x\n    shell: echo\n');
    const report = await h.processor.sync();
    expect(report.dags).toBe(2);
    h.worker({ concurrency: 4 }).start();
    h.scheduler().start();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('records import errors for broken files and keeps loading the others', async () => {
    const errors = await h.resources.database.db
      .select()
      .from(schema.importErrors)
      .orderBy(asc(schema.importErrors.fileloc));
    expect(errors.map((e) => e.fileloc.split('/').pop())).toEqual(['bad.yaml', 'cyclic.ts']);
    expect(errors[0]!.message).toContain('team "nobody" is not defined');
    expect(errors[1]!.message).toMatch(/DAG "cyclic".*cycle detected: (a → b → a|b → a → b)/);
    const dags = await h.resources.database.db
      .select()
      .from(schema.dags)
      .orderBy(asc(schema.dags.dagId));
    expect(dags.map((d) => d.dagId)).toEqual(['chain', 'failing']);
  });

  it('runs a chain of shell and function tasks passing results downstream', async () => {
    const { runId } = await h.ops.triggerRun('chain', { actor: 'test' });
    const run = await h.finishedRun(runId);
    expect(run.state).toBe('success');
    const tis = await h.resources.database.db
      .select()
      .from(schema.taskInstances)
      .where(eq(schema.taskInstances.runId, runId));
    expect(Object.fromEntries(tis.map((t) => [t.taskId, [t.state, t.tryNumber]]))).toEqual({
      hello: ['success', 1],
      double: ['success', 1],
      check: ['success', 1],
    });
    const check = tis.find((t) => t.taskId === 'check')!;
    const [xcom] = await h.resources.database.db
      .select()
      .from(schema.xcoms)
      .where(eq(schema.xcoms.taskInstanceId, check.id));
    expect(xcom?.value).toBe('result-line');
    const hello = tis.find((t) => t.taskId === 'hello')!;
    const logs = await h.resources.database.db
      .select()
      .from(schema.taskLogs)
      .where(eq(schema.taskLogs.taskInstanceId, hello.id));
    expect(logs.map((l) => l.content).join('')).toMatch(/hello \d{4}-\d{2}-\d{2}/);
    // Every state change is in the event log, in order. The worker's hand-off queues the next
    // task at once (one change); a scheduler that decides the run first schedules, then queues.
    const events = await h.resources.database.db
      .select()
      .from(schema.events)
      .where(and(eq(schema.events.runId, runId), eq(schema.events.taskId, 'double')))
      .orderBy(asc(schema.events.id));
    expect([
      ['none->queued', 'queued->running', 'running->success'],
      ['none->scheduled', 'scheduled->queued', 'queued->running', 'running->success'],
    ]).toContainEqual(events.map((e) => `${e.fromState}->${e.toState}`));
  });

  it('retries a failing task, then fails it, marks downstream upstream_failed and runs all_done cleanup', async () => {
    const { runId } = await h.ops.triggerRun('failing', { actor: 'test' });
    const run = await h.finishedRun(runId);
    const tis = await h.resources.database.db
      .select()
      .from(schema.taskInstances)
      .where(eq(schema.taskInstances.runId, runId));
    const byId = Object.fromEntries(tis.map((t) => [t.taskId, t]));
    expect(byId.flaky?.state).toBe('failed');
    expect(byId.flaky?.tryNumber).toBe(2);
    expect(byId.flaky?.stateReason).toContain('exited with code 3');
    expect(byId.after?.state).toBe('upstream_failed');
    expect(byId.cleanup?.state).toBe('success');
    // The leaf (cleanup) succeeded, so like Airflow the run succeeds.
    expect(run.state).toBe('success');
    const logs = await h.resources.database.db
      .select()
      .from(schema.taskLogs)
      .where(eq(schema.taskLogs.taskInstanceId, byId.flaky!.id));
    expect(new Set(logs.map((l) => l.tryNumber))).toEqual(new Set([1, 2]));
  });
});

describe('clearing a finished run (postgres)', () => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await createEngineHarness('postgres');
    await h.writeDag('failing.ts', FAILING_DAG);
    await h.processor.sync();
    await h.scheduler().start();
    await h.worker().start();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('leaves it finished when nothing in it matches; reopens it when something is cleared', async () => {
    const { runId } = await h.ops.triggerRun('failing', { actor: 'test' });
    const finished = await h.finishedRun(runId);
    const runEvents = async () =>
      (
        await h.resources.database.db
          .select()
          .from(schema.events)
          .where(and(eq(schema.events.runId, runId), eq(schema.events.entity, 'dag_run')))
      ).length;
    const before = await runEvents();
    // Only running task instances: there are none.
    const none = await h.ops.clearTaskInstances('failing', runId, {
      onlyRunning: true,
      actor: 'test',
    });
    expect(none.cleared).toEqual([]);
    const [same] = await h.resources.database.db
      .select()
      .from(schema.dagRuns)
      .where(eq(schema.dagRuns.runId, runId));
    expect(same!.state).toBe(finished.state);
    expect(same!.endDate).toEqual(finished.endDate);
    expect(await runEvents()).toBe(before);
    // The failed task: the run goes back to work, and finishes again.
    const some = await h.ops.clearTaskInstances('failing', runId, {
      onlyFailed: true,
      actor: 'test',
    });
    expect(some.cleared.sort()).toEqual(['after', 'flaky']);
    expect(await runEvents()).toBeGreaterThan(before);
    const again = await waitFor(
      async () => {
        const [r] = await h.resources.database.db
          .select()
          .from(schema.dagRuns)
          .where(eq(schema.dagRuns.runId, runId));
        return r!.endDate && r!.endDate > finished.endDate! ? r : null;
      },
      { what: 'the reopened run to finish again' },
    );
    // It started again: its duration (and any run timeout) counts from the second start.
    expect(again.startDate!.getTime()).toBeGreaterThanOrEqual(finished.endDate!.getTime());
  });
});

describe('event try numbers', () => {
  // The run's first task, decided when the run starts: scheduled, then queued.
  const FIRST_TRY = [
    '1:none->scheduled',
    '1:scheduled->queued',
    '1:queued->running',
    '1:running->up_for_retry',
  ];

  it('records scheduling events with the try they lead to', async () => {
    const h = await createEngineHarness('pglite');
    try {
      await h.writeDag(
        'retry.ts',
        `import { dag } from '@updraft/sdk';
export default dag({ id: 'retry', team: 'data-eng' }, (d) => {
  d.shell('flaky', { command: '[ "$UPDRAFT_TRY_NUMBER" = 2 ]', retries: 1, retryDelay: 0 });
});`,
      );
      await h.processor.sync();
      await h.worker().start();
      await h.scheduler().start();
      const { runId } = await h.ops.triggerRun('retry', { actor: 'test' });
      expect((await h.finishedRun(runId)).state).toBe('success');
      const events = await h.resources.database.db
        .select()
        .from(schema.events)
        .where(and(eq(schema.events.runId, runId), eq(schema.events.taskId, 'flaky')))
        .orderBy(asc(schema.events.id));
      // The retry is queued at once by the worker's hand-off, or scheduled, then queued, by the
      // scheduler; with the second try's number either way.
      const retried = ['2:queued->running', '2:running->success'];
      expect([
        [...FIRST_TRY, '2:up_for_retry->queued', ...retried],
        [...FIRST_TRY, '2:up_for_retry->scheduled', '2:scheduled->queued', ...retried],
      ]).toContainEqual(events.map((e) => `${e.tryNumber}:${e.fromState}->${e.toState}`));
    } finally {
      await h.close();
    }
  });
});

describe('worker concurrency with local hand-off', () => {
  it('never runs more task instances at once than its concurrency', async () => {
    const h = await createEngineHarness('postgres');
    try {
      await h.writeDag(
        'wide.ts',
        `import { dag } from '@updraft/sdk';
const g = (globalThis.__updraftWide ??= { active: 0, max: 0, ran: 0 });
export default dag({ id: 'wide', team: 'data-eng', maxActiveTasks: 32 }, (d) => {
  const start = d.fn('start', async () => 'go');
  const parts = Array.from({ length: 12 }, (_, i) => d.fn('part_' + i, async () => {
    g.active++; g.max = Math.max(g.max, g.active); g.ran++;
    await new Promise((r) => setTimeout(r, 30));
    g.active--;
  }, { upstream: [start] }));
  d.fn('end', async () => g.max, { upstream: parts });
});`,
      );
      await h.processor.sync();
      await h.worker({ concurrency: 3 }).start();
      await h.scheduler().start();
      const { runId } = await h.ops.triggerRun('wide', { actor: 'test' });
      expect((await h.finishedRun(runId)).state).toBe('success');
      const g = (globalThis as { __updraftWide?: { max: number; ran: number } }).__updraftWide!;
      expect(g.ran).toBe(12);
      expect(g.max).toBeLessThanOrEqual(3);
      expect(g.max).toBeGreaterThanOrEqual(2);
    } finally {
      await h.close();
      delete (globalThis as { __updraftWide?: unknown }).__updraftWide;
    }
  });
});
