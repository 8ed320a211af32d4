/** Branching and short-circuit end to end, with Airflow's skip semantics. */
import { schema } from '@updraft/db';
import { TEST_DATABASE_KINDS } from '@updraft/db/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness } from './testing.ts';

const DAGS = `
import { dag } from '@updraft/sdk';
export const branching = dag({ id: 'branching', team: 'data-eng' }, (d) => {
  const pick = d.branch('pick', async (ctx) => (ctx.params.big ? 'big_path' : [small]));
  const big = d.shell('big_path', { command: 'echo big', upstream: [pick] });
  const small = d.shell('small_path', { command: 'echo small', upstream: [pick] });
  const afterBig = d.shell('after_big', { command: 'echo after', upstream: [big] });
  d.shell('join', { command: 'echo join', upstream: [pick, afterBig, small], triggerRule: 'none_failed_min_one_success' });
});
export const bad_branch = dag({ id: 'bad_branch', team: 'data-eng' }, (d) => {
  const pick = d.branch('pick', async () => 'nowhere', { retries: 3 });
  d.shell('only', { command: 'true', upstream: [pick] });
});
export const short = dag({ id: 'short', team: 'data-eng' }, (d) => {
  const gate = d.shortCircuit('gate', async (ctx) => ctx.params.go === true);
  const work = d.shell('work', { command: 'echo work', upstream: [gate] });
  d.shell('report', { command: 'echo report', upstream: [work] });
});
export const short_rules = dag({ id: 'short_rules', team: 'data-eng' }, (d) => {
  const gate = d.shortCircuit('gate', async () => false, { ignoreDownstreamTriggerRules: false });
  const work = d.shell('work', { command: 'echo work', upstream: [gate] });
  d.shell('cleanup', { command: 'echo cleanup', upstream: [work], triggerRule: 'all_done' });
});
`;

describe.each(TEST_DATABASE_KINDS)('branching and short-circuit (%s)', (kind) => {
  let h: EngineHarness;

  beforeAll(async () => {
    h = await createEngineHarness(kind);
    await h.writeDag('control.ts', DAGS);
    await h.processor.sync();
    await h.worker().start();
    await h.scheduler().start();
  });
  afterAll(async () => {
    await h?.close();
  });

  async function runToEnd(dagId: string, conf: Record<string, unknown> = {}) {
    const { runId } = await h.ops.triggerRun(dagId, { actor: 'test', conf });
    const { db } = h.resources.database;
    const run = await h.finishedRun(runId);
    const tis = await db
      .select()
      .from(schema.taskInstances)
      .where(eq(schema.taskInstances.runId, runId));
    return { run, states: Object.fromEntries(tis.map((t) => [t.taskId, t.state])), tis };
  }

  it.each([
    [
      { big: true },
      {
        pick: 'success',
        big_path: 'success',
        after_big: 'success',
        small_path: 'skipped',
        join: 'success',
      },
    ],
    [
      { big: false },
      {
        pick: 'success',
        big_path: 'skipped',
        after_big: 'skipped',
        small_path: 'success',
        join: 'success',
      },
    ],
  ])(
    'follows the chosen path with conf %j, skips the other, and still runs the join',
    async (conf, expected) => {
      const { run, states } = await runToEnd('branching', conf);
      expect(states).toEqual(expected);
      expect(run.state).toBe('success');
    },
  );

  it('fails a branch that chooses a task it does not lead to, without retrying', async () => {
    const { run, tis } = await runToEnd('bad_branch');
    const pick = tis.find((t) => t.taskId === 'pick')!;
    expect(pick.state).toBe('failed');
    expect(pick.tryNumber).toBe(1);
    expect(pick.stateReason).toContain(
      'chose "nowhere", which is not directly downstream of it; choose from "only"',
    );
    expect(run.state).toBe('failed');
  });

  it.each([
    [{ go: true }, { gate: 'success', work: 'success', report: 'success' }],
    [{ go: false }, { gate: 'success', work: 'skipped', report: 'skipped' }],
  ])('short-circuits with conf %j', async (conf, expected) => {
    expect((await runToEnd('short', conf)).states).toEqual(expected);
  });

  it('can leave tasks further downstream to their trigger rules', async () => {
    expect((await runToEnd('short_rules')).states).toEqual({
      gate: 'success',
      work: 'skipped',
      cleanup: 'success',
    });
  });
});
