import { describe, expect, it } from 'vitest';
import type { TriggerRule } from './dag.ts';
import { decideRun, retryDelay, type TaskInstanceSnapshot } from './decisions.ts';
import type { TaskState } from './state.ts';

const NOW = new Date('2026-01-10T12:00:00Z');

const task = (
  taskId: string,
  upstream: string[] = [],
  triggerRule: TriggerRule = 'all_success',
) => ({
  taskId,
  upstream,
  triggerRule,
});

const ti = (
  taskId: string,
  state: TaskState,
  nextAttemptAt: Date | null = null,
): TaskInstanceSnapshot => ({
  taskId,
  state,
  nextAttemptAt,
});

const ids = (list: { taskId: string }[]) => list.map((d) => d.taskId).sort();

describe('decideRun', () => {
  it('schedules root tasks of a fresh run and leaves downstream tasks waiting', () => {
    const d = decideRun([task('a'), task('b', ['a'])], [ti('a', 'none'), ti('b', 'none')], NOW);
    expect(ids(d.schedule)).toEqual(['a']);
    expect(ids(d.waiting)).toEqual(['b']);
    expect(d.finalRunState).toBeNull();
  });

  it('schedules a downstream task once its upstream succeeded', () => {
    const d = decideRun([task('a'), task('b', ['a'])], [ti('a', 'success'), ti('b', 'none')], NOW);
    expect(ids(d.schedule)).toEqual(['b']);
    expect(d.finalRunState).toBeNull();
  });

  it('propagates a skip through a whole chain in one call and ends the run as success', () => {
    const tasks = [task('a'), task('b', ['a']), task('c', ['b'])];
    const d = decideRun(tasks, [ti('a', 'skipped'), ti('b', 'none'), ti('c', 'none')], NOW);
    expect(ids(d.skip)).toEqual(['b', 'c']);
    expect(d.schedule).toEqual([]);
    expect(d.upstreamFailed).toEqual([]);
    expect(d.finalRunState).toBe('success');
  });

  it('decides over a few instances of a large DAG in graph order, whatever order they come in', () => {
    // A hand-off reads only the tasks around the one that ended: 3 of 40 here, listed backwards.
    const tasks = Array.from({ length: 40 }, (_, i) => task(`t${i}`, i === 0 ? [] : [`t${i - 1}`]));
    const d = decideRun(tasks, [ti('t7', 'none'), ti('t6', 'none'), ti('t5', 'failed')], NOW);
    expect(ids(d.upstreamFailed)).toEqual(['t6', 't7']);
    expect(d.schedule).toEqual([]);
    // The same DAG again (its structure is computed once per task list): a success moves on.
    const next = decideRun(tasks, [ti('t6', 'none'), ti('t5', 'success')], NOW);
    expect(ids(next.schedule)).toEqual(['t6']);
    expect(next.finalRunState).toBeNull();
  });

  it('propagates upstream_failed through a chain and fails the run naming the leaf', () => {
    // Listed out of order on purpose: propagation follows the graph, not the array.
    const tasks = [task('c', ['b']), task('b', ['a']), task('a')];
    const d = decideRun(tasks, [ti('a', 'failed'), ti('b', 'none'), ti('c', 'none')], NOW);
    expect(ids(d.upstreamFailed)).toEqual(['b', 'c']);
    expect(d.finalRunState).toBe('failed');
    expect(d.finalReason).toContain('"c"');
    expect(d.finalReason).toContain('upstream_failed');
  });

  it('runs a none_failed_min_one_success join downstream of a skipped branch', () => {
    const tasks = [
      task('branch'),
      task('taken', ['branch']),
      task('not_taken', ['branch']),
      task('not_taken_2', ['not_taken']),
      task('join', ['taken', 'not_taken_2'], 'none_failed_min_one_success'),
    ];
    const d = decideRun(
      tasks,
      [
        ti('branch', 'success'),
        ti('taken', 'success'),
        ti('not_taken', 'skipped'),
        ti('not_taken_2', 'none'),
        ti('join', 'none'),
      ],
      NOW,
    );
    expect(ids(d.skip)).toEqual(['not_taken_2']);
    expect(ids(d.schedule)).toEqual(['join']);
    expect(d.finalRunState).toBeNull();
  });

  it('an all_success join downstream of a skipped branch is skipped', () => {
    const tasks = [task('x'), task('y'), task('join', ['x', 'y'])];
    const d = decideRun(tasks, [ti('x', 'success'), ti('y', 'skipped'), ti('join', 'none')], NOW);
    expect(ids(d.skip)).toEqual(['join']);
    expect(d.finalRunState).toBe('success');
  });

  describe('retries', () => {
    const tasks = [task('a'), task('b', ['a'])];

    it.each<[string, TaskState, Date | null, boolean]>([
      ['in the future', 'up_for_retry', new Date(NOW.getTime() + 1), false],
      ['exactly now', 'up_for_retry', NOW, true],
      ['in the past', 'up_for_retry', new Date(NOW.getTime() - 60_000), true],
      ['not set', 'up_for_retry', null, true],
      ['in the future (reschedule)', 'up_for_reschedule', new Date(NOW.getTime() + 60_000), false],
      ['in the past (reschedule)', 'up_for_reschedule', new Date(NOW.getTime() - 1), true],
    ])('next attempt %s → scheduled: %s', (_label, state, at, scheduled) => {
      const d = decideRun(tasks, [ti('a', state, at), ti('b', 'none')], NOW);
      expect(ids(d.schedule)).toEqual(scheduled ? ['a'] : []);
      expect(ids(d.waiting)).toEqual(scheduled ? ['b'] : ['a', 'b']);
      // A task waiting out its retry delay is not a deadlock.
      expect(d.finalRunState).toBeNull();
    });

    it('the waiting reason names the retry time', () => {
      const at = new Date('2026-01-10T12:05:00Z');
      const d = decideRun(tasks, [ti('a', 'up_for_retry', at), ti('b', 'none')], NOW);
      expect(d.waiting.find((w) => w.taskId === 'a')?.reason).toContain(at.toISOString());
    });
  });

  it('does not touch tasks that are already queued or running', () => {
    const tasks = [task('a'), task('b'), task('c', ['a', 'b'])];
    const d = decideRun(tasks, [ti('a', 'queued'), ti('b', 'running'), ti('c', 'none')], NOW);
    expect(d.schedule).toEqual([]);
    expect(ids(d.waiting)).toEqual(['c']);
    expect(d.finalRunState).toBeNull();
  });

  describe('final run state', () => {
    it.each<[string, Record<string, TaskState>, 'success' | 'failed' | null]>([
      ['all leaves succeeded', { a: 'success', b: 'success', c: 'success' }, 'success'],
      ['leaves succeeded or skipped', { a: 'success', b: 'skipped', c: 'success' }, 'success'],
      ['a leaf failed', { a: 'success', b: 'failed', c: 'success' }, 'failed'],
      ['a leaf upstream_failed', { a: 'success', b: 'upstream_failed', c: 'success' }, 'failed'],
      ['a task is still running', { a: 'success', b: 'running', c: 'success' }, null],
      ['a task is queued', { a: 'success', b: 'success', c: 'queued' }, null],
    ])('%s → %s', (_label, states, expected) => {
      // a → b, a → c: b and c are the leaves.
      const tasks = [task('a'), task('b', ['a']), task('c', ['a'])];
      const d = decideRun(
        tasks,
        Object.entries(states).map(([id, s]) => ti(id, s)),
        NOW,
      );
      expect(d.finalRunState).toBe(expected);
      if (expected) expect(d.finalReason).toBeTruthy();
      else expect(d.finalReason).toBeNull();
    });

    it('succeeds when a non-leaf failed but the all_done leaf succeeded (Airflow judges leaves)', () => {
      const tasks = [task('work'), task('cleanup', ['work'], 'all_done')];
      const d = decideRun(tasks, [ti('work', 'failed'), ti('cleanup', 'success')], NOW);
      expect(d.finalRunState).toBe('success');
    });

    it('fails in the same call that marks the last leaf upstream_failed', () => {
      const tasks = [task('a'), task('b', ['a'])];
      const d = decideRun(tasks, [ti('a', 'failed'), ti('b', 'none')], NOW);
      expect(ids(d.upstreamFailed)).toEqual(['b']);
      expect(d.finalRunState).toBe('failed');
    });

    it('an all_done cleanup task is scheduled after a failure, so the run is not final yet', () => {
      const tasks = [task('work'), task('cleanup', ['work'], 'all_done')];
      const d = decideRun(tasks, [ti('work', 'failed'), ti('cleanup', 'none')], NOW);
      expect(ids(d.schedule)).toEqual(['cleanup']);
      expect(d.finalRunState).toBeNull();
    });
  });

  it('detects a deadlock when unfinished tasks can never start', () => {
    // "b" depends on "a", but the run has no instance of "a" (e.g. a task missing from the run).
    const tasks = [task('a'), task('b', ['a'])];
    const d = decideRun(tasks, [ti('b', 'none')], NOW);
    expect(d.schedule).toEqual([]);
    expect(d.finalRunState).toBe('failed');
    expect(d.finalReason).toMatch(/^deadlock: b \(/);
  });

  it('is not a deadlock while something is scheduled in the same call', () => {
    const d = decideRun([task('a'), task('b', ['a'])], [ti('a', 'none'), ti('b', 'none')], NOW);
    expect(d.finalRunState).toBeNull();
  });
});

describe('retryDelay', () => {
  const fixed = { retryDelayMs: 30_000, retryExponentialBackoff: false, maxRetryDelayMs: null };
  const expo = { retryDelayMs: 10_000, retryExponentialBackoff: true, maxRetryDelayMs: null };

  it.each([1, 2, 5, 10])('fixed delay is the same on try %i', (tryNumber) => {
    expect(retryDelay(fixed, tryNumber, 'dag.task.run')).toBe(30_000);
  });

  it('fixed delay ignores maxRetryDelayMs being larger', () => {
    expect(retryDelay({ ...fixed, maxRetryDelayMs: 60_000 }, 3, 'k')).toBe(30_000);
  });

  it.each([1, 2, 3, 4, 5, 6])('exponential delay on try %i lies in [base/2, base]', (tryNumber) => {
    const base = 10_000 * 2 ** (tryNumber - 1);
    for (const key of ['a', 'b', 'dag.task.2026-01-01', 'another-key', 'x'.repeat(50)]) {
      const delay = retryDelay(expo, tryNumber, key);
      expect(delay).toBeGreaterThanOrEqual(base / 2);
      expect(delay).toBeLessThanOrEqual(base);
    }
  });

  it('exponential delay grows with the try number', () => {
    // Ranges [base/2, base] of tries 1 and 3 do not overlap.
    expect(retryDelay(expo, 3, 'k')).toBeGreaterThan(retryDelay(expo, 1, 'k'));
  });

  it('jitter is deterministic: same key and try → same delay', () => {
    expect(retryDelay(expo, 4, 'dag.task.run-1')).toBe(retryDelay(expo, 4, 'dag.task.run-1'));
  });

  it('jitter varies between keys (no stampede)', () => {
    const delays = new Set(Array.from({ length: 20 }, (_, i) => retryDelay(expo, 3, `task-${i}`)));
    expect(delays.size).toBeGreaterThan(1);
  });

  it('exponential delay is capped at maxRetryDelayMs', () => {
    const capped = { ...expo, maxRetryDelayMs: 25_000 };
    expect(retryDelay(capped, 10, 'k')).toBe(25_000);
    expect(retryDelay(capped, 1, 'k')).toBeLessThanOrEqual(10_000);
  });

  it('without maxRetryDelayMs the cap is 24 hours', () => {
    expect(retryDelay(expo, 40, 'k')).toBe(24 * 3_600_000);
  });

  it('returns whole milliseconds', () => {
    expect(Number.isInteger(retryDelay({ ...expo, retryDelayMs: 333 }, 2, 'odd'))).toBe(true);
  });
});

describe('decideRun with mapped task instances', () => {
  const mti = (taskId: string, mapIndex: number, state: TaskState): TaskInstanceSnapshot => ({
    taskId,
    mapIndex,
    state,
    nextAttemptAt: null,
  });
  const mapped = (taskId: string, upstream: string[] = []) => ({
    ...task(taskId, upstream),
    expand: { items: [1, 2, 3], maxLength: 1024 },
  });
  const decisionKeys = (list: { taskId: string; mapIndex: number }[]) =>
    list.map((d) => `${d.taskId}[${d.mapIndex}]`).sort();

  it('asks to expand a mapped task whose dependencies are met, instead of scheduling it', () => {
    const d = decideRun(
      [task('a'), mapped('m', ['a']), task('after', ['m'])],
      [ti('a', 'success'), mti('m', -1, 'none'), ti('after', 'none')],
      NOW,
    );
    expect(decisionKeys(d.expand)).toEqual(['m[-1]']);
    expect(d.schedule).toEqual([]);
    expect(ids(d.waiting)).toEqual(['after']);
    // Expanding is progress: not a deadlock.
    expect(d.finalRunState).toBeNull();
  });

  it('a mapped task that is already expanded is not expanded again; its none instances are scheduled', () => {
    const d = decideRun(
      [mapped('m')],
      [mti('m', 0, 'success'), mti('m', 1, 'none'), mti('m', 2, 'running')],
      NOW,
    );
    expect(d.expand).toEqual([]);
    expect(decisionKeys(d.schedule)).toEqual(['m[1]']);
  });

  it('a mapped task skipped or upstream_failed before expanding is skipped as one instance', () => {
    const d = decideRun(
      [task('a'), mapped('m', ['a'])],
      [ti('a', 'failed'), mti('m', -1, 'none')],
      NOW,
    );
    expect(decisionKeys(d.upstreamFailed)).toEqual(['m[-1]']);
    expect(d.finalRunState).toBe('failed');
  });

  // A downstream of a mapped task counts every mapped instance (Airflow).
  it.each<[TriggerRule, TaskState[], 'schedule' | 'skip' | 'upstreamFailed' | 'waiting']>([
    ['all_success', ['success', 'success', 'success'], 'schedule'],
    ['all_success', ['success', 'failed', 'success'], 'upstreamFailed'],
    ['all_success', ['success', 'skipped', 'success'], 'skip'],
    ['all_success', ['success', 'running', 'success'], 'waiting'],
    ['all_done', ['success', 'failed', 'skipped'], 'schedule'],
    ['all_done', ['success', 'failed', 'queued'], 'waiting'],
    ['one_failed', ['success', 'failed', 'running'], 'schedule'],
    ['one_failed', ['success', 'success', 'success'], 'skip'],
    ['one_success', ['failed', 'success', 'running'], 'schedule'],
    ['one_success', ['failed', 'failed', 'failed'], 'upstreamFailed'],
    ['all_failed', ['failed', 'failed', 'failed'], 'schedule'],
    ['all_failed', ['failed', 'success', 'failed'], 'skip'],
    ['none_failed', ['success', 'skipped', 'success'], 'schedule'],
    ['none_failed', ['success', 'upstream_failed', 'success'], 'upstreamFailed'],
    ['none_failed_min_one_success', ['skipped', 'skipped', 'skipped'], 'skip'],
    ['all_skipped', ['skipped', 'skipped', 'skipped'], 'schedule'],
    ['none_skipped', ['success', 'skipped', 'success'], 'skip'],
    ['always', ['running', 'running', 'running'], 'schedule'],
  ])('downstream %s of a mapped task with instances %j → %s', (rule, states, outcome) => {
    const d = decideRun(
      [mapped('m'), task('after', ['m'], rule)],
      [...states.map((s, i) => mti('m', i, s)), ti('after', 'none')],
      NOW,
    );
    expect(ids(d[outcome])).toEqual(['after']);
  });

  it('a mapped downstream of a mapped task is expanded once all its upstream instances succeeded', () => {
    const tasks = [mapped('m'), { ...task('m2', ['m']), expand: { task: 'm', maxLength: 1024 } }];
    const waiting = decideRun(
      tasks,
      [mti('m', 0, 'success'), mti('m', 1, 'running'), mti('m2', -1, 'none')],
      NOW,
    );
    expect(waiting.expand).toEqual([]);
    const ready = decideRun(
      tasks,
      [mti('m', 0, 'success'), mti('m', 1, 'success'), mti('m2', -1, 'none')],
      NOW,
    );
    expect(decisionKeys(ready.expand)).toEqual(['m2[-1]']);
  });

  it.each<[string, TaskState[], 'success' | 'failed' | null, RegExp | null]>([
    ['every instance succeeded', ['success', 'success'], 'success', null],
    ['one instance failed', ['success', 'failed'], 'failed', /"m\[1\]" ended failed/],
    ['one instance skipped', ['skipped', 'success'], 'success', null],
    ['one instance still running', ['success', 'running'], null, null],
    ['zero-length: the unexpanded instance was skipped', ['skipped'], 'success', null],
  ])('a mapped leaf: %s → %s', (_label, states, expected, reason) => {
    const list =
      states.length === 1 ? [mti('m', -1, states[0]!)] : states.map((s, i) => mti('m', i, s));
    const d = decideRun([mapped('m')], list, NOW);
    expect(d.finalRunState).toBe(expected);
    if (reason) expect(d.finalReason).toMatch(reason);
  });

  it('a mapped instance up for retry is scheduled on its own when its delay has passed', () => {
    const d = decideRun(
      [mapped('m')],
      [
        mti('m', 0, 'success'),
        { taskId: 'm', mapIndex: 1, state: 'up_for_retry', nextAttemptAt: NOW },
      ],
      NOW,
    );
    expect(decisionKeys(d.schedule)).toEqual(['m[1]']);
  });
});

describe('decideRun with depends_on_past / wait_for_downstream', () => {
  const past = (states: Record<string, TaskState[]>) => ({
    runId: 'scheduled__2026-01-09',
    states: new Map(Object.entries(states)),
  });
  const dop = (taskId: string, upstream: string[] = [], waitForDownstream = false) => ({
    ...task(taskId, upstream),
    dependsOnPast: !waitForDownstream,
    waitForDownstream,
  });

  it.each<[string, ReturnType<typeof past> | null, boolean, 'schedule' | 'waiting', RegExp | null]>(
    [
      ['no previous run', null, false, 'schedule', null],
      [
        'the task did not exist in the previous run',
        past({ other: ['failed'] }),
        false,
        'schedule',
        null,
      ],
      ['previous run: success', past({ a: ['success'] }), false, 'schedule', null],
      ['previous run: skipped', past({ a: ['skipped'] }), false, 'schedule', null],
      [
        'previous run: failed',
        past({ a: ['failed'] }),
        false,
        'waiting',
        /^depends_on_past: previous run's task ended failed/,
      ],
      [
        'previous run: upstream_failed',
        past({ a: ['upstream_failed'] }),
        false,
        'waiting',
        /ended upstream_failed/,
      ],
      [
        'previous run: still running',
        past({ a: ['running'] }),
        false,
        'waiting',
        /has not finished \(running\)/,
      ],
      [
        'previous run: every mapped instance succeeded',
        past({ a: ['success', 'skipped'] }),
        false,
        'schedule',
        null,
      ],
      [
        'previous run: one mapped instance failed',
        past({ a: ['success', 'failed'] }),
        false,
        'waiting',
        /ended failed/,
      ],
      [
        'wait_for_downstream: downstream failed in the previous run',
        past({ a: ['success'], b: ['failed'] }),
        true,
        'waiting',
        /^wait_for_downstream: previous run's downstream task "b" ended failed/,
      ],
      [
        'wait_for_downstream: downstream still queued in the previous run',
        past({ a: ['success'], b: ['queued'] }),
        true,
        'waiting',
        /"b" has not finished \(queued\)/,
      ],
      [
        'wait_for_downstream: downstream succeeded',
        past({ a: ['success'], b: ['success'] }),
        true,
        'schedule',
        null,
      ],
      [
        'wait_for_downstream: own task failed',
        past({ a: ['failed'], b: ['success'] }),
        true,
        'waiting',
        /^depends_on_past/,
      ],
    ],
  )('%s → %s', (_label, previous, wfd, outcome, reason) => {
    const tasks = [dop('a', [], wfd), task('b', ['a'])];
    const d = decideRun(tasks, [ti('a', 'none'), ti('b', 'none')], NOW, { previous });
    expect(ids(d[outcome]).includes('a')).toBe(true);
    if (reason) expect(d.waiting.find((w) => w.taskId === 'a')?.reason).toMatch(reason);
    // Held back by the previous run is waiting, never a deadlock that fails the run.
    expect(d.finalRunState).toBeNull();
  });

  it('upstream failure still propagates to a depends_on_past task (the trigger rule comes first)', () => {
    const tasks = [task('a'), dop('b', ['a'])];
    const d = decideRun(tasks, [ti('a', 'failed'), ti('b', 'none')], NOW, {
      previous: past({ b: ['failed'] }),
    });
    expect(ids(d.upstreamFailed)).toEqual(['b']);
    expect(d.finalRunState).toBe('failed');
  });

  it('a task without the flag ignores the previous run', () => {
    const d = decideRun([task('a')], [ti('a', 'none')], NOW, { previous: past({ a: ['failed'] }) });
    expect(ids(d.schedule)).toEqual(['a']);
  });
});
