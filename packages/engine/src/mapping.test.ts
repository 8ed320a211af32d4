/**
 * Dynamic task mapping, task groups and depends_on_past end to end on PostgreSQL: expansion over a
 * literal list and over an upstream result, zero-length and too-long lists, the downstream's list
 * of results, mapping over a mapped result, trigger rules over mapped instances, clearing a mapped
 * task, group ids and defaults, and a second run held back by the first.
 */
import { schema } from '@updraft/db';
import { TEST_DATABASE_KINDS } from '@updraft/db/testing';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTaskResult } from './mapping.ts';
import { createEngineHarness, type EngineHarness, waitFor } from './testing.ts';

const DAGS = `
import { dag } from '@updraft/sdk';

export const literal = dag({ id: 'map_literal', team: 'data-eng' }, (d) => {
  const double = d.map('double', [1, 2, 3], (ctx) => ctx.item * 2);
  d.fn('total', async (ctx) => {
    const xs = (await ctx.pull(double)) ?? [];
    return { xs, sum: xs.reduce((a, b) => a + b, 0) };
  }, { upstream: [double] });
});

export const chained = dag({ id: 'map_chained', team: 'data-eng' }, (d) => {
  const list = d.fn('list', () => ['a', 'b', 'c']);
  const echo = d.shell('echo', { command: 'echo "{{ map_index }}:{{ item }}"' }).expand(list);
  const upper = d.map('upper', echo, (ctx) => ctx.mapIndex + '=' + ctx.item.toUpperCase());
  d.fn('collect', async (ctx) => ctx.pull(upper), { upstream: [upper] });
});

export const empty = dag({ id: 'map_empty', team: 'data-eng' }, (d) => {
  const list = d.fn('list', (): number[] => []);
  const each = d.map('each', list, (ctx) => ctx.item);
  d.shell('after', { command: 'echo after', upstream: [each] });
});

export const too_long = dag({ id: 'map_too_long', team: 'data-eng' }, (d) => {
  const list = d.fn('list', () => [1, 2, 3]);
  d.map('each', list, (ctx) => ctx.item, { maxLength: 2 });
});

export const one_fails = dag({ id: 'map_one_fails', team: 'data-eng' }, (d) => {
  const work = d.map('work', [1, 2, 3], (ctx) => {
    if (ctx.item === 2) throw new Error('item 2 is bad');
    return ctx.item;
  });
  d.shell('strict', { command: 'echo strict', upstream: [work] });
  d.shell('cleanup', { command: 'echo cleanup', upstream: [work], triggerRule: 'all_done' });
});

export const shrinking = dag({ id: 'map_clear', team: 'data-eng' }, (d) => {
  const list = d.fn('list', (ctx) => (ctx.tryNumber === 1 ? [1, 2, 3] : [10]));
  const each = d.map('each', list, (ctx) => ctx.item + 1);
  d.fn('sum', async (ctx) => (await ctx.pull(each))?.reduce((a, b) => a + b, 0), { upstream: [each] });
});

export const grouped = dag({ id: 'grouped', team: 'data-eng', defaults: { retries: 1, pool: 'default_pool' } }, (d) => {
  const start = d.shell('start', { command: 'echo start' });
  const extract = d.group('extract', { retries: 3 }, (g) => {
    const a = g.shell('a', { command: 'echo a' });
    const b = g.shell('b', { command: 'echo b', retries: 5 });
    a.then(b);
    g.group('inner', { priorityWeight: 7 }, (i) => {
      i.shell('c', { command: 'echo c', upstream: [b] });
    });
  });
  start.then(extract).then(d.shell('end', { command: 'echo end' }));
});

export const branched = dag({ id: 'map_branch', team: 'data-eng' }, (d) => {
  const pick = d.branch('pick', () => 'other');
  d.map('each', [1, 2], (ctx) => ctx.item, { upstream: [pick] });
  d.shell('other', { command: 'echo other', upstream: [pick] });
});

export const skipped_source = dag({ id: 'map_skipped_source', team: 'data-eng' }, (d) => {
  const gate = d.shortCircuit('gate', () => false, { ignoreDownstreamTriggerRules: false });
  const list = d.fn('list', () => [1], { upstream: [gate] });
  d.map('each', list, (ctx) => ctx.item, { triggerRule: 'all_done' });
});

export const no_list = dag({ id: 'map_no_list', team: 'data-eng' }, (d) => {
  const list = d.fn('list', () => ({ not: 'a list' }) as unknown as number[]);
  d.map('each', list, (ctx) => ctx.item);
});

export const wfd = dag({ id: 'wfd', team: 'data-eng' }, (d) => {
  const a = d.shell('a', { command: 'echo a', waitForDownstream: true });
  d.fn('b', (ctx) => {
    if (ctx.params.fail) throw new Error('failing on purpose');
  }, { upstream: [a] });
});

export const past = dag({ id: 'past', team: 'data-eng' }, (d) => {
  const a = d.fn('a', (ctx) => {
    if (ctx.params.fail) throw new Error('failing on purpose');
    return 'ok';
  }, { dependsOnPast: true });
  d.shell('b', { command: 'echo b', upstream: [a] });
});
`;

describe.each(TEST_DATABASE_KINDS)(
  'dynamic task mapping, task groups and depends_on_past (%s)',
  (kind) => {
    let h: EngineHarness;

    beforeAll(async () => {
      h = await createEngineHarness(kind);
      await h.writeDag('mapping.ts', DAGS);
      await h.processor.sync();
      await h.worker().start();
      await h.scheduler().start();
    });
    afterAll(async () => {
      await h?.close();
    });

    const instances = (runId: string) =>
      h.resources.database.db
        .select()
        .from(schema.taskInstances)
        .where(eq(schema.taskInstances.runId, runId))
        .orderBy(asc(schema.taskInstances.taskId), asc(schema.taskInstances.mapIndex));

    /** "task" or "task[i]" → state, as the docs' expect comments write them. */
    const statesOf = async (runId: string) =>
      Object.fromEntries(
        (await instances(runId)).map((t) => [
          t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId,
          t.state,
        ]),
      );

    async function runToEnd(dagId: string, opts: { conf?: Record<string, unknown> } = {}) {
      const { runId, id } = await h.ops.triggerRun(dagId, { actor: 'test', ...opts });
      const run = await h.finishedRun(runId);
      return { runId, runPk: id, run, states: await statesOf(runId) };
    }

    it('maps over a literal list; the downstream pulls the results ordered by map index', async () => {
      const { run, runPk, states } = await runToEnd('map_literal');
      expect(states).toEqual({
        'double[0]': 'success',
        'double[1]': 'success',
        'double[2]': 'success',
        total: 'success',
      });
      expect(run.state).toBe('success');
      const db = h.resources.database.db;
      expect(await readTaskResult(db, runPk, 'double', 'return_value')).toEqual([2, 4, 6]);
      expect(await readTaskResult(db, runPk, 'total', 'return_value')).toEqual({
        xs: [2, 4, 6],
        sum: 12,
      });
    });

    it('maps a shell task over an upstream result ({{ item }}, {{ map_index }}) and maps again over the mapped results', async () => {
      const { run, runPk, states } = await runToEnd('map_chained');
      expect(run.state).toBe('success');
      expect(states).toMatchObject({ 'echo[2]': 'success', 'upper[2]': 'success' });
      const db = h.resources.database.db;
      expect(await readTaskResult(db, runPk, 'echo', 'return_value')).toEqual([
        '0:a',
        '1:b',
        '2:c',
      ]);
      expect(await readTaskResult(db, runPk, 'collect', 'return_value')).toEqual([
        '0=0:A',
        '1=1:B',
        '2=2:C',
      ]);
    });

    it('skips a task mapped over an empty list, and its all_success downstream', async () => {
      const { run, states } = await runToEnd('map_empty');
      expect(states).toEqual({ list: 'success', each: 'skipped', after: 'skipped' });
      expect(run.state).toBe('success');
    });

    it('fails a task whose list is longer than its maxLength, naming DAG, task and length', async () => {
      const { run, runId, states } = await runToEnd('map_too_long');
      expect(states).toEqual({ list: 'success', each: 'failed' });
      expect(run.state).toBe('failed');
      const each = (await instances(runId)).find((t) => t.taskId === 'each')!;
      expect(each.stateReason).toBe(
        'DAG "map_too_long" task "each": cannot expand over 3 items; the limit (maxLength) is 2',
      );
    });

    it('counts every mapped instance for trigger rules: one failure → all_success downstream upstream_failed', async () => {
      const { run, states } = await runToEnd('map_one_fails');
      expect(states).toEqual({
        'work[0]': 'success',
        'work[1]': 'failed',
        'work[2]': 'success',
        strict: 'upstream_failed',
        cleanup: 'success',
      });
      expect(run.state).toBe('failed');
    });

    it('clearing a mapped task resets it to one unexpanded instance and expands it anew', async () => {
      const first = await runToEnd('map_clear');
      expect(first.states).toMatchObject({ 'each[2]': 'success' });
      const db = h.resources.database.db;
      expect(await readTaskResult(db, first.runPk, 'sum', 'return_value')).toBe(9);
      const { cleared } = await h.ops.clearTaskInstances('map_clear', first.runId, {
        taskIds: ['list'],
        downstream: true,
        actor: 'test',
      });
      expect(cleared.sort()).toEqual(['each', 'list', 'sum']);
      await waitFor(
        async () => {
          const [r] = await db
            .select()
            .from(schema.dagRuns)
            .where(eq(schema.dagRuns.runId, first.runId));
          return r?.state === 'success' &&
            (await readTaskResult(db, first.runPk, 'sum', 'return_value')) === 11
            ? r
            : null;
        },
        { what: 'the cleared run to finish again' },
      );
      // The list shrank to one item: only map index 0 is left.
      expect(await statesOf(first.runId)).toEqual({
        list: 'success',
        'each[0]': 'success',
        sum: 'success',
      });
    });

    it('clearing only failed instances keeps the task expanded and re-runs just those map indexes', async () => {
      const { runId } = await runToEnd('map_one_fails');
      const { cleared } = await h.ops.clearTaskInstances('map_one_fails', runId, {
        taskIds: ['work'],
        onlyFailed: true,
        actor: 'test',
      });
      expect(cleared).toEqual(['work']);
      await waitFor(
        async () => {
          const tis = await instances(runId);
          const retried = tis.find((t) => t.taskId === 'work' && t.mapIndex === 1);
          return retried?.tryNumber === 2 && retried.state === 'failed' ? tis : null;
        },
        { what: 'work[1] to run again' },
      );
      const tis = await instances(runId);
      expect(
        tis.filter((t) => t.taskId === 'work').map((t) => [t.mapIndex, t.tryNumber, t.state]),
      ).toEqual([
        [0, 1, 'success'],
        [1, 2, 'failed'],
        [2, 1, 'success'],
      ]);
    });

    it.each([
      ['map_skipped_source', 'skipped', 'success', 'mapped over an empty list: nothing to run'],
      [
        'map_no_list',
        'failed',
        'failed',
        'DAG "map_no_list" task "each": upstream task "list" returned object, not a list to map over',
      ],
    ])('%s: the mapped task ends %s (run %s)', async (dagId, state, runState, reason) => {
      const { run, runId, states } = await runToEnd(dagId);
      expect(states.each).toBe(state);
      expect(run.state).toBe(runState);
      const each = (await instances(runId)).find((t) => t.taskId === 'each')!;
      expect(each.stateReason).toBe(reason);
    });

    it('a branch that does not follow a mapped task skips it (before it is expanded)', async () => {
      const { run, states } = await runToEnd('map_branch');
      expect(states).toEqual({ pick: 'success', each: 'skipped', other: 'success' });
      expect(run.state).toBe('success');
    });

    it('marks every instance of a mapped task, or one map index', async () => {
      const { runId } = await runToEnd('map_one_fails');
      await h.ops.markTaskInstance('map_one_fails', runId, 'work', 'success', 'test', 1);
      expect(await statesOf(runId)).toMatchObject({ 'work[1]': 'success' });
      const [run] = await h.resources.database.db
        .select()
        .from(schema.dagRuns)
        .where(eq(schema.dagRuns.runId, runId));
      // The leaves decide the run: "strict" is still upstream_failed.
      expect(run?.state).toBe('failed');
    });

    it('prefixes task ids with their groups, applies group defaults over the DAG defaults, and wires groups', async () => {
      const { run, runId } = await runToEnd('grouped');
      expect(run.state).toBe('success');
      const tis = await instances(runId);
      expect(tis.map((t) => [t.taskId, t.maxRetries])).toEqual([
        ['end', 1],
        ['extract.a', 3],
        ['extract.b', 5],
        ['extract.inner.c', 3],
        ['start', 1],
      ]);
      // Started in dependency order: start → a → b → c → end.
      const order = [...tis]
        .sort((x, y) => x.startDate!.getTime() - y.startDate!.getTime())
        .map((t) => t.taskId);
      expect(order).toEqual(['start', 'extract.a', 'extract.b', 'extract.inner.c', 'end']);
    });

    it('depends_on_past holds the next run until the previous run’s task succeeds, without failing it', async () => {
      const db = h.resources.database.db;
      const first = await h.ops.triggerRun('past', {
        actor: 'test',
        conf: { fail: true },
        logicalDate: new Date('2026-02-01T00:00:00Z'),
      });
      expect((await h.finishedRun(first.runId)).state).toBe('failed');
      const second = await h.ops.triggerRun('past', {
        actor: 'test',
        logicalDate: new Date('2026-02-02T00:00:00Z'),
      });
      const held = await waitFor(
        async () => {
          const [a] = await db
            .select()
            .from(schema.taskInstances)
            .where(
              and(
                eq(schema.taskInstances.runId, second.runId),
                eq(schema.taskInstances.taskId, 'a'),
              ),
            );
          return a?.stateReason?.startsWith('depends_on_past') ? a : null;
        },
        { what: 'the second run to be held by depends_on_past' },
      );
      expect(held.state).toBe('none');
      expect(held.stateReason).toBe(
        `depends_on_past: previous run's task ended failed (run "${first.runId}")`,
      );
      // Several scheduler passes later it still waits: not a deadlock.
      await h.scheduler().runOnce();
      const [stillRunning] = await db
        .select()
        .from(schema.dagRuns)
        .where(eq(schema.dagRuns.runId, second.runId));
      expect(stillRunning?.state).toBe('running');
      await h.ops.markTaskInstance('past', first.runId, 'a', 'success', 'test');
      expect((await h.finishedRun(second.runId)).state).toBe('success');
    });

    it('wait_for_downstream holds the next run until the previous run’s downstream task succeeds', async () => {
      const db = h.resources.database.db;
      const first = await h.ops.triggerRun('wfd', {
        actor: 'test',
        conf: { fail: true },
        logicalDate: new Date('2026-03-01T00:00:00Z'),
      });
      expect(await h.finishedRun(first.runId).then(() => statesOf(first.runId))).toEqual({
        a: 'success',
        b: 'failed',
      });
      const second = await h.ops.triggerRun('wfd', {
        actor: 'test',
        logicalDate: new Date('2026-03-02T00:00:00Z'),
      });
      const held = await waitFor(
        async () => {
          const [a] = await db
            .select()
            .from(schema.taskInstances)
            .where(
              and(
                eq(schema.taskInstances.runId, second.runId),
                eq(schema.taskInstances.taskId, 'a'),
              ),
            );
          return a?.stateReason?.startsWith('wait_for_downstream') ? a : null;
        },
        { what: 'the second run to be held by wait_for_downstream' },
      );
      expect(held.stateReason).toBe(
        `wait_for_downstream: previous run's downstream task "b" ended failed (run "${first.runId}")`,
      );
      await h.ops.markTaskInstance('wfd', first.runId, 'b', 'success', 'test');
      expect((await h.finishedRun(second.runId)).state).toBe('success');
    });
  },
);
