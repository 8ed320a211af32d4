/**
 * A try cleared while it runs, and the next try of the same task instance on the same worker:
 * each keeps its own heartbeat, slot and log; and clearing gives a task its retries afresh.
 */
import { schema } from '@updraft/db';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, waitFor } from '../testing.ts';

const DAG = `
import { dag } from '@updraft/sdk';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export default dag({ id: 'restart', team: 'data-eng', schedule: null }, (d) => {
  d.fn('slow', async (ctx) => {
    if (ctx.tryNumber === 1) {
      // Goes on for a while after it is cleared, as a function that does not watch its signal does.
      for (let i = 0; i < 15; i++) { ctx.log('one ' + i); await sleep(100); }
      return 1;
    }
    for (let i = 0; i < 25; i++) { ctx.log('two ' + i); await sleep(100); }
    return 2;
  });
});
export const flaky = dag({ id: 'flaky', team: 'data-eng', schedule: null }, (d) => {
  d.shell('fails', { command: 'exit 1', retries: 1, retryDelay: 0 });
});
`;

describe('a try cleared while it runs (postgres)', () => {
  let h: EngineHarness;

  beforeAll(async () => {
    h = await createEngineHarness('postgres');
    await h.writeDag('restart.ts', DAG);
    await h.processor.sync();
    // A zombie is declared quickly: a try that lost its heartbeat would fail within the run.
    await h.scheduler({ zombieThresholdMs: 1000 }).start();
    await h.worker().start();
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  const instance = async (dagId: string, runId: string, taskId: string) => {
    const [ti] = await h.resources.database.db
      .select()
      .from(schema.taskInstances)
      .where(
        and(
          eq(schema.taskInstances.dagId, dagId),
          eq(schema.taskInstances.runId, runId),
          eq(schema.taskInstances.taskId, taskId),
        ),
      );
    return ti!;
  };

  it('the next try on the same worker keeps its heartbeat and its own log', async () => {
    const { runId } = await h.ops.triggerRun('restart', { actor: 'test' });
    const ti = await waitFor(
      async () => {
        const row = await instance('restart', runId, 'slow');
        return row.state === 'running' ? row : null;
      },
      { what: 'slow to run' },
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await h.ops.clearTaskInstances('restart', runId, { taskIds: ['slow'], actor: 'test' });

    const run = await h.finishedRun(runId, { timeoutMs: 20_000 });
    const after = await instance('restart', runId, 'slow');
    // Try 2 ran to its end: it was not taken for a zombie, failed and left running.
    expect({ run: run.state, state: after.state, try: after.tryNumber }).toEqual({
      run: 'success',
      state: 'success',
      try: 2,
    });
    const events = await h.resources.database.db
      .select()
      .from(schema.events)
      .where(and(eq(schema.events.runId, runId), eq(schema.events.taskId, 'slow')))
      .orderBy(asc(schema.events.id));
    // Try 2 kept its heartbeat. (Try 1's row, restarting and no longer heartbeated, may be put
    // back to none by the reaper before the worker records it, when a loaded machine delays the
    // worker past the 1 s threshold: the same change, by another actor.)
    expect(events.some((e) => /zombie/.test(e.reason ?? '') && e.tryNumber === 2)).toBe(false);
    expect(events.map((e) => `${e.fromState}->${e.toState}`)).toContain('running->restarting');

    // Try 1 wrote on after try 2 started here; each try's lines stay in its own log.
    await waitFor(
      async () => {
        const rows = await h.resources.database.db
          .select()
          .from(schema.taskLogs)
          .where(eq(schema.taskLogs.taskInstanceId, ti.id));
        return rows.some((r) => r.content.includes('one 14')) ? rows : null;
      },
      { what: "try 1's late lines to be written" },
    );
    const logs = await h.resources.database.db
      .select()
      .from(schema.taskLogs)
      .where(eq(schema.taskLogs.taskInstanceId, ti.id))
      .orderBy(asc(schema.taskLogs.id));
    const ofTry = (n: number) =>
      logs
        .filter((r) => r.tryNumber === n)
        .map((r) => r.content)
        .join('');
    expect(ofTry(1)).toContain('one 14');
    expect(ofTry(1)).toContain('stopped: the task instance was cleared or marked by someone else');
    expect(ofTry(1)).not.toContain('two');
    expect(ofTry(2)).toContain('two 0');
    expect(ofTry(2)).toContain('two 24');
    expect(ofTry(2)).not.toContain('one');
  });

  it('clearing gives a task its retries afresh, as in Airflow', async () => {
    const { runId } = await h.ops.triggerRun('flaky', { actor: 'test' });
    expect((await h.finishedRun(runId)).state).toBe('failed');
    expect((await instance('flaky', runId, 'fails')).tryNumber).toBe(2);
    await h.ops.clearTaskInstances('flaky', runId, { taskIds: ['fails'], actor: 'test' });
    // Tries 3 and 4: one retry again, not a single last try.
    const again = await waitFor(
      async () => {
        const row = await instance('flaky', runId, 'fails');
        return row.state === 'failed' && row.tryNumber > 2 ? row : null;
      },
      { what: 'the cleared task to fail again' },
    );
    expect(again.tryNumber).toBe(4);
  });
});

const REAPED_DAG = `
import { dag } from '@updraft/sdk';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export default dag({ id: 'reaped', team: 'data-eng', schedule: null }, (d) => {
  d.fn('slow', async (ctx) => {
    if (ctx.tryNumber === 1) {
      for (let i = 0; i < 60; i++) { ctx.log('one ' + i); await sleep(100); }
      return 1;
    }
    return 2;
  });
});
`;

describe('a cleared try whose worker was not told before the next try came (postgres)', () => {
  let h: EngineHarness;

  beforeAll(async () => {
    h = await createEngineHarness('postgres');
    await h.writeDag('reaped.ts', REAPED_DAG);
    await h.processor.sync();
    // The worker's heartbeat (which tells a try it was cleared) never comes in this test: the
    // reaper puts the cleared try's row back to none, and the next try reaches the same worker
    // while the first still runs there.
    await h.scheduler({ zombieThresholdMs: 2000 }).start();
    await h.worker({ heartbeatIntervalMs: 3_600_000 }).start();
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('stops the earlier try when the next one starts on the same worker', async () => {
    const { runId } = await h.ops.triggerRun('reaped', { actor: 'test' });
    const ti = await waitFor(
      async () => {
        const [row] = await h.resources.database.db
          .select()
          .from(schema.taskInstances)
          .where(
            and(eq(schema.taskInstances.runId, runId), eq(schema.taskInstances.taskId, 'slow')),
          );
        return row?.state === 'running' ? row : null;
      },
      { what: 'slow to run' },
    );
    await h.ops.clearTaskInstances('reaped', runId, { taskIds: ['slow'], actor: 'test' });
    expect((await h.finishedRun(runId, { timeoutMs: 20_000 })).state).toBe('success');
    // Try 1 is told to stop when try 2 starts, long before its 6 s would have ended.
    const logs = await waitFor(
      async () => {
        const rows = await h.resources.database.db
          .select()
          .from(schema.taskLogs)
          .where(and(eq(schema.taskLogs.taskInstanceId, ti.id), eq(schema.taskLogs.tryNumber, 1)))
          .orderBy(asc(schema.taskLogs.id));
        const text = rows.map((r) => r.content).join('');
        return text.includes('stopped: ') ? text : null;
      },
      { what: "try 1's log to say it stopped" },
    );
    expect(logs).toContain('stopped: the task instance was cleared or marked by someone else');
    expect(logs.indexOf('stopped: ')).toBeLessThan(logs.indexOf('one 59') >>> 0);
  });
});
