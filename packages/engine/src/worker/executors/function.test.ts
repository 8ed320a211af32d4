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
      /timed out after 200 ms: the function ran for \d+ ms while the worker's event loop was blocked/,
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

const GOOD = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'changing', team: 'data-eng', schedule: null }, (d) => {
  d.fn('work', () => 'done', { retries: 0 });
});
`;

describe('a DAG file that no longer loads, when a function task runs (postgres)', () => {
  let h: EngineHarness;

  beforeAll(async () => {
    h = await createEngineHarness('postgres');
    await h.scheduler().start();
    await h.worker({ dagFileTimeoutMs: 1000 }).start();
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  // Recorded from the good file, then the file changes before the worker first imports it.
  it.each([
    ['exits the process', 'process.exit(1);', /stopped its parser \(exit code 1\)/],
    ['never finishes loading', 'while (true) {}', /loading took longer than 1000 ms/],
    ['does not compile', 'const = ;', /failed to load/],
  ])('fails the task, and the worker lives on, when the file %s', async (_what, top, reason) => {
    const fileloc = await h.writeDag('changing.ts', GOOD);
    await h.processor.sync();
    await h.writeDag('changing.ts', `${top}\n${GOOD}`);
    const { runId } = await h.ops.triggerRun('changing', { actor: 'test' });
    expect((await h.finishedRun(runId)).state).toBe('failed');
    const [ti] = await h.resources.database.db
      .select()
      .from(schema.taskInstances)
      .where(eq(schema.taskInstances.runId, runId));
    expect(ti!.stateReason).toContain(
      `the DAG file does not load now, so its function tasks cannot run (fix it, then clear the task): ${fileloc}`,
    );
    expect(ti!.stateReason).toMatch(reason);
  });

  it('runs the task once the file loads again', async () => {
    await h.writeDag('changing.ts', GOOD);
    const { runId } = await h.ops.triggerRun('changing', { actor: 'test' });
    expect((await h.finishedRun(runId)).state).toBe('success');
  });
});
