/** Function tasks' timeouts: what can and cannot be stopped in the worker's own process. */
import { schema } from '@updraft/db';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, waitFor } from '../../testing.ts';

const DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'timeouts', team: 'data-eng', schedule: null }, (d) => {
  // Never yields: the timer cannot fire while it runs.
  d.fn('busy', () => { const end = Date.now() + 600; while (Date.now() < end) {} return 'done'; },
    { timeout: '200ms', retries: 0 });
  // Yields, but does not watch its signal: it goes on after its try has ended.
  d.fn('deaf', async (ctx) => { await new Promise((r) => setTimeout(r, 600)); ctx.log('still here'); return 1; },
    { timeout: '200ms', retries: 0 });
});
`;

describe('function task timeouts (postgres)', () => {
  let h: EngineHarness;

  beforeAll(async () => {
    h = await createEngineHarness('postgres');
    await h.writeDag('timeouts.ts', DAG);
    await h.processor.sync();
    await h.scheduler().start();
    await h.worker().start();
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('a function that overran its timeout without yielding fails; one that goes on is said to', async () => {
    const { runId } = await h.ops.triggerRun('timeouts', { actor: 'test' });
    expect((await h.finishedRun(runId)).state).toBe('failed');
    const tis = await h.resources.database.db
      .select()
      .from(schema.taskInstances)
      .where(eq(schema.taskInstances.runId, runId));
    const busy = tis.find((t) => t.taskId === 'busy')!;
    const deaf = tis.find((t) => t.taskId === 'deaf')!;
    expect(busy.state).toBe('failed');
    expect(busy.stateReason).toMatch(
      /timed out after 200 ms: the function ran for \d+ ms without yielding/,
    );
    expect(deaf.state).toBe('failed');
    expect(deaf.stateReason).toMatch(/timed out after 200 ms/);
    // Its log says it was only signalled, then that it returned after its try ended.
    const log = await waitFor(
      async () => {
        const rows = await h.resources.database.db
          .select()
          .from(schema.taskLogs)
          .where(and(eq(schema.taskLogs.taskInstanceId, deaf.id), eq(schema.taskLogs.tryNumber, 1)))
          .orderBy(asc(schema.taskLogs.id));
        const text = rows.map((r) => r.content).join('');
        return text.includes('returned after its try had ended') ? text : null;
      },
      { what: "the late function's note" },
    );
    expect(log).toMatch(/stopping: timed out after 200 ms; a function task cannot be killed/);
    expect(log.indexOf('stopping:')).toBeLessThan(log.indexOf('still here'));
  });
});
