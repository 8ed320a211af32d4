/**
 * Nothing is lost when PostgreSQL restarts under a running workflow: connections are replaced,
 * the worker retries recording the outcome, and the run finishes with every task instance in
 * exactly one final state.
 */
import { schema } from '@updraft/db';
import { startThrowawayCluster, type ThrowawayCluster } from '@updraft/db/testing';
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, waitFor } from './testing.ts';

describe('a PostgreSQL restart during a run', () => {
  let cluster: ThrowawayCluster;
  let h: EngineHarness;

  beforeAll(async () => {
    cluster = await startThrowawayCluster();
    h = await createEngineHarness('postgres', { adminUrl: cluster.adminUrl });
    await h.writeDag(
      'steady.ts',
      `import { dag } from '@updraft/sdk';
export default dag({ id: 'steady', team: 'data-eng' }, (d) => {
  const slow = d.shell('slow', { command: 'sleep 2; echo slept' });
  const after = d.fn('after', async (ctx) => (await ctx.pull(slow)) + ' and continued', { upstream: [slow] });
  d.shell('last', { command: 'echo last', upstream: [after] });
});`,
    );
    await h.processor.sync();
  });

  afterAll(async () => {
    await h?.close();
    await cluster?.stop();
  });

  it('finishes the run after the database comes back', async () => {
    await h.scheduler().start();
    await h.worker({ heartbeatIntervalMs: 200 }).start();
    const { runId } = await h.ops.triggerRun('steady', { actor: 'test' });
    const { db } = h.resources.database;
    await waitFor(
      async () =>
        (
          await db
            .select()
            .from(schema.taskInstances)
            .where(eq(schema.taskInstances.taskId, 'slow'))
        )[0]?.state === 'running',
      { what: 'the slow task to start' },
    );
    await cluster.restart();
    const run = await h.finishedRun(runId, { timeoutMs: 60_000 });
    expect(run.state).toBe('success');
    const tis = await db
      .select()
      .from(schema.taskInstances)
      .where(eq(schema.taskInstances.runId, runId))
      .orderBy(asc(schema.taskInstances.id));
    expect(tis.map((t) => [t.taskId, t.state, t.tryNumber])).toEqual([
      ['slow', 'success', 1],
      ['after', 'success', 1],
      ['last', 'success', 1],
    ]);
    const [xcom] = await db.select().from(schema.xcoms).where(eq(schema.xcoms.taskId, 'after'));
    expect(xcom?.value).toBe('slept and continued');
  });
});
