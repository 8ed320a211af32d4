/**
 * Scheduling semantics with a fake clock on both databases: catchup within max_active_runs,
 * max_active_tasks, pausing, per-try timeouts, clearing a running task, marking a finished run's
 * task, graceful worker shutdown.
 */

import { schema } from '@updraft/db';
import { TEST_DATABASE_KINDS } from '@updraft/db/testing';
import { and, asc, eq, inArray } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from './resources.ts';
import { createEngineHarness, type EngineHarness, waitFor } from './testing.ts';

class FakeClock implements Clock {
  current: Date;
  constructor(iso: string) {
    this.current = new Date(iso);
  }
  now(): Date {
    return new Date(this.current);
  }
}

const CATCHUP_DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'catchup', team: 'data-eng', schedule: '@daily', startDate: '2026-01-01', catchup: true, maxActiveRuns: 2, maxActiveTasks: 3 }, (d) => {
  const parts = [1, 2, 3, 4, 5].map((i) => d.shell('part_' + i, { command: 'echo ' + i }));
  d.shell('join', { command: 'echo joined', upstream: parts });
});
`;

describe.each(TEST_DATABASE_KINDS)('scheduling with a fake clock (%s)', (kind) => {
  let h: EngineHarness;
  const clock = new FakeClock('2026-01-05T00:00:01Z');

  beforeAll(async () => {
    h = await createEngineHarness(kind, { clock, pauseNewDags: true });
    await h.writeDag('catchup.ts', CATCHUP_DAG);
    await h.processor.sync();
  });
  afterAll(async () => {
    await h?.close();
  });

  const runs = () =>
    h.resources.database.db
      .select()
      .from(schema.dagRuns)
      .where(eq(schema.dagRuns.dagId, 'catchup'))
      .orderBy(asc(schema.dagRuns.logicalDate));

  it('creates nothing while the DAG is paused', async () => {
    const scheduler = h.scheduler();
    await scheduler.runOnce();
    expect(await runs()).toEqual([]);
  });

  it('on unpause, catches up interval by interval within max_active_runs, and two schedulers never duplicate', async () => {
    await h.ops.setPaused('catchup', false, 'test');
    const a = h.scheduler({ id: 'scheduler-a' });
    const b = h.scheduler({ id: 'scheduler-b' });
    await Promise.all([a.runOnce(), b.runOnce(), a.runOnce(), b.runOnce()]);
    // Racing passes may skip the DAG another holds (SKIP LOCKED): one more pass each settles it.
    await a.runOnce();
    await b.runOnce();
    const created = await runs();
    expect(
      created.map((r) => [
        r.runId,
        r.state,
        r.dataIntervalStart.toISOString(),
        r.dataIntervalEnd.toISOString(),
      ]),
    ).toEqual([
      [
        'scheduled__2026-01-01T00:00:00.000Z',
        'running',
        '2026-01-01T00:00:00.000Z',
        '2026-01-02T00:00:00.000Z',
      ],
      [
        'scheduled__2026-01-02T00:00:00.000Z',
        'running',
        '2026-01-02T00:00:00.000Z',
        '2026-01-03T00:00:00.000Z',
      ],
    ]);
  });

  it('queues no more than max_active_tasks across the DAG, highest priority first', async () => {
    const tis = await h.resources.database.db
      .select()
      .from(schema.taskInstances)
      .where(
        and(
          eq(schema.taskInstances.dagId, 'catchup'),
          inArray(schema.taskInstances.state, ['queued', 'running']),
        ),
      );
    expect(tis).toHaveLength(3);
    // part_* (priority 2: itself + join) before join; the older run first.
    expect(new Set(tis.map((t) => t.runId))).toEqual(
      new Set(['scheduled__2026-01-01T00:00:00.000Z']),
    );
    expect(tis.every((t) => t.taskId.startsWith('part_') && t.priorityWeight === 2)).toBe(true);
  });

  it('runs them all with a worker; then creates the remaining intervals and stops at the present', async () => {
    const worker = h.worker({ concurrency: 8 });
    await worker.start();
    const scheduler = h.scheduler();
    await scheduler.start();
    await waitFor(
      async () => {
        const r = await runs();
        return r.length === 4 && r.every((x) => x.state === 'success');
      },
      { timeoutMs: 45_000, what: 'four catch-up runs to succeed' },
    );
    await scheduler.stop();
    await worker.stop();
    const final = await runs();
    expect(final.map((r) => r.logicalDate.toISOString().slice(0, 10))).toEqual([
      '2026-01-01',
      '2026-01-02',
      '2026-01-03',
      '2026-01-04',
    ]);
    // The next interval [Jan 5, Jan 6) ends in the future: nothing more until the clock gets there.
    const [dag] = await h.resources.database.db
      .select()
      .from(schema.dags)
      .where(eq(schema.dags.dagId, 'catchup'));
    expect(dag!.nextDagrunCreateAfter?.toISOString()).toBe('2026-01-06T00:00:00.000Z');
    clock.current = new Date('2026-01-06T00:00:05Z');
    await h.scheduler().runOnce();
    expect((await runs()).map((r) => r.logicalDate.toISOString().slice(0, 10)).at(-1)).toBe(
      '2026-01-05',
    );
  });
});

const CONTROL_DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'control', team: 'data-eng' }, (d) => {
  d.shell('slow', { command: 'sleep 30', timeout: '300ms' });
});
export const clearable = dag({ id: 'clearable', team: 'data-eng' }, (d) => {
  d.shell('work', { command: 'if [ "$UPDRAFT_TRY_NUMBER" = 1 ]; then sleep 30; fi; echo "try $UPDRAFT_TRY_NUMBER"' });
});
export const json_string = dag({ id: 'json_string', team: 'data-eng' }, (d) => {
  const emit = d.shell('emit', { command: "echo '[1,2,3]'" });
  d.fn('check', async (ctx) => {
    const v = await ctx.pull(emit);
    if (typeof v !== 'string') throw new Error('expected a string, got ' + typeof v);
    return v.length;
  }, { upstream: [emit] });
});
export const graceful = dag({ id: 'graceful', team: 'data-eng' }, (d) => {
  d.shell('finishing', { command: 'sleep 0.5; echo finished' });
});
export const timed = dag({ id: 'timed', team: 'data-eng', runTimeout: '1s' }, (d) => {
  const quick = d.shell('quick', { command: 'echo quick' });
  const hang = d.shell('hang', { command: 'sleep 60', upstream: [quick] });
  d.shell('never', { command: 'echo never', upstream: [hang] });
});
export const stubborn = dag({ id: 'stubborn', team: 'data-eng' }, (d) => {
  d.shell('endless', { command: 'sleep 60', retries: 1, retryDelay: '1h' });
});
`;

describe.each(TEST_DATABASE_KINDS)('task control (%s)', (kind) => {
  let h: EngineHarness;
  let worker: ReturnType<EngineHarness['worker']> | undefined;
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
  });

  beforeAll(async () => {
    h = await createEngineHarness(kind);
    await h.writeDag('control.ts', CONTROL_DAG);
    await h.processor.sync();
    await h.scheduler().start();
  });
  afterAll(async () => {
    await h?.close();
  });

  const ti = async (runId: string, taskId: string) =>
    (
      await h.resources.database.db
        .select()
        .from(schema.taskInstances)
        .where(and(eq(schema.taskInstances.runId, runId), eq(schema.taskInstances.taskId, taskId)))
    )[0]!;
  const run = async (runId: string) =>
    (
      await h.resources.database.db
        .select()
        .from(schema.dagRuns)
        .where(eq(schema.dagRuns.runId, runId))
    )[0]!;

  it('fails a try that exceeds its timeout, killing the command', async () => {
    worker = h.worker();
    await worker.start();
    const { runId } = await h.ops.triggerRun('control', { actor: 'test' });
    const done = await waitFor(
      async () => {
        const t = await ti(runId, 'slow');
        return t.state === 'failed' ? t : null;
      },
      { what: 'the timed-out task to fail' },
    );
    expect(done.stateReason).toBe('timed out after 300 ms');
    expect(done.durationMs).toBeLessThan(10_000);
    // The run's decision may follow the try's record in a transaction of its own (when another
    // held the run's row), so it is awaited, not read at once.
    await waitFor(async () => (await run(runId)).state === 'failed', { what: 'the run to fail' });
    await worker.stop();
  });

  it('clearing a running task stops it and runs it again as the next try', async () => {
    worker = h.worker({ heartbeatIntervalMs: 100 });
    await worker.start();
    const { runId } = await h.ops.triggerRun('clearable', { actor: 'test' });
    await waitFor(async () => (await ti(runId, 'work')).state === 'running', {
      what: 'the task to start',
    });
    await h.ops.clearTaskInstances('clearable', runId, { taskIds: ['work'], actor: 'test' });
    const done = await waitFor(
      async () => {
        const t = await ti(runId, 'work');
        return t.state === 'success' ? t : null;
      },
      { what: 'the cleared task to run again' },
    );
    expect(done.tryNumber).toBe(2);
    const events = await h.resources.database.db
      .select()
      .from(schema.events)
      .where(and(eq(schema.events.runId, runId), eq(schema.events.taskId, 'work')))
      .orderBy(asc(schema.events.id));
    expect(events.map((e) => `${e.fromState}->${e.toState}`)).toContain('running->restarting');
    expect(events.map((e) => `${e.fromState}->${e.toState}`)).toContain('restarting->none');
    await worker.stop();
  });

  it('passes a string result that looks like JSON as a string', async () => {
    worker = h.worker();
    await worker.start();
    const { runId } = await h.ops.triggerRun('json_string', { actor: 'test' });
    await waitFor(async () => (await run(runId)).state === 'success', {
      what: 'json_string to succeed',
    });
    await worker.stop();
  });

  it('marking a task failed in a finished run fails the run', async () => {
    worker = h.worker();
    await worker.start();
    const { runId } = await h.ops.triggerRun('json_string', { actor: 'test', runId: 'to_mark' });
    await waitFor(async () => (await run(runId)).state === 'success', {
      what: 'the run to succeed',
    });
    await h.ops.markTaskInstance('json_string', runId, 'check', 'failed', 'test');
    expect((await run(runId)).state).toBe('failed');
    await h.ops.markTaskInstance('json_string', runId, 'check', 'success', 'test');
    expect((await run(runId)).state).toBe('success');
    await worker.stop();
  });

  it("keeps a paused DAG's manual run queued until the DAG is unpaused", async () => {
    worker = h.worker();
    await worker.start();
    await h.ops.setPaused('graceful', true, 'test');
    const { runId } = await h.ops.triggerRun('graceful', { actor: 'test', runId: 'while_paused' });
    await h.scheduler().runOnce();
    expect((await run(runId)).state).toBe('queued');
    expect((await ti(runId, 'finishing')).state).toBe('none');
    await h.ops.setPaused('graceful', false, 'test');
    await waitFor(async () => (await run(runId)).state === 'success', {
      what: 'the run to go after unpausing',
    });
  });

  it('fails a run past its run timeout, skipping (and stopping) what had not finished', async () => {
    worker = h.worker({ heartbeatIntervalMs: 100 });
    await worker.start();
    const { runId } = await h.ops.triggerRun('timed', { actor: 'test' });
    const done = await waitFor(
      async () => {
        const r = await run(runId);
        return r.state === 'failed' ? r : null;
      },
      { what: 'the run to time out' },
    );
    expect(done.endDate!.getTime() - done.startDate!.getTime()).toBeLessThan(10_000);
    const states = await Promise.all(
      ['quick', 'hang', 'never'].map(async (t) => [
        t,
        (await ti(runId, t)).state,
        (await ti(runId, t)).stateReason,
      ]),
    );
    expect(states).toEqual([
      ['quick', 'success', null],
      ['hang', 'skipped', 'run timed out after 1000 ms'],
      ['never', 'skipped', 'run timed out after 1000 ms'],
    ]);
    // The worker stopped the sleeping command instead of letting it run on.
    await waitFor(async () => worker!.activeCount === 0, { what: 'the worker to stop the task' });
  });

  it('on stop, lets running tasks finish within the grace period', async () => {
    worker = h.worker({ shutdownGraceMs: 10_000 });
    await worker.start();
    const { runId } = await h.ops.triggerRun('graceful', { actor: 'test' });
    await waitFor(async () => (await ti(runId, 'finishing')).state === 'running', {
      what: 'the task to start',
    });
    await worker.stop();
    const t = await ti(runId, 'finishing');
    expect(t.state).toBe('success');
  });

  it('on stop, aborts tasks still running after the grace period; they fail into a retry', async () => {
    worker = h.worker({ shutdownGraceMs: 200 });
    await worker.start();
    const { runId } = await h.ops.triggerRun('stubborn', { actor: 'test' });
    await waitFor(async () => (await ti(runId, 'endless')).state === 'running', {
      what: 'the task to start',
    });
    await worker.stop();
    const t = await ti(runId, 'endless');
    expect(t.state).toBe('up_for_retry');
    expect(t.stateReason).toBe('the worker is shutting down');
  });
});
