/** Function tasks' timeouts: what can and cannot be stopped in the worker's own process. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { schema } from '@updraft/db';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSource } from '../../processor/load.ts';
import { createEngineHarness, type EngineHarness, waitFor } from '../../testing.ts';
import { DagFileCache } from './function.ts';

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

const versioned = (version: string, top = '') => `
import { dag } from '@updraft/sdk';
${top}
export default dag({ id: 'versioned', team: 'data-eng', schedule: null }, (d) => {
  d.fn('work', () => '${version}', { timeout: '300ms', retries: 0 });
});
`;

describe('a function task of a DAG version whose file changed since the worker loaded it (postgres)', () => {
  let h: EngineHarness;

  beforeAll(async () => {
    h = await createEngineHarness('postgres');
    await h.scheduler().start();
    await h.worker().start();
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  const returned = async (runId: string) => {
    const [row] = await h.resources.database.db
      .select({ value: schema.xcoms.value })
      .from(schema.xcoms)
      .innerJoin(schema.taskInstances, eq(schema.xcoms.taskInstanceId, schema.taskInstances.id))
      .where(and(eq(schema.taskInstances.runId, runId), eq(schema.xcoms.key, 'return_value')));
    return row?.value;
  };

  it("runs the new version's code, loaded before its timeout starts", async () => {
    await h.writeDag('versioned.ts', versioned('v1'));
    await h.processor.sync();
    const first = await h.ops.triggerRun('versioned', { actor: 'test' });
    expect((await h.finishedRun(first.runId)).state).toBe('success');
    expect(await returned(first.runId)).toBe('v1');

    // Loading the new content takes longer than the task's timeout (in the parse thread, then
    // in the worker's import): it must not count against the try.
    await h.writeDag(
      'versioned.ts',
      versioned('v2', 'const end = Date.now() + 500; while (Date.now() < end) {}'),
    );
    await h.processor.sync();
    const second = await h.ops.triggerRun('versioned', { actor: 'test' });
    const run = await h.finishedRun(second.runId);
    const [ti] = await h.resources.database.db
      .select()
      .from(schema.taskInstances)
      .where(eq(schema.taskInstances.runId, second.runId));
    expect({ run: run.state, reason: ti!.stateReason }).toEqual({ run: 'success', reason: null });
    expect(await returned(second.runId)).toBe('v2');
  });
});

describe('DagFileCache', () => {
  let folder: string;
  beforeAll(async () => {
    // Inside the package, so that the file resolves @updraft/sdk.
    folder = await mkdtemp(join(import.meta.dirname, '../../../.tmp-dags-'));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  // Each load of the file (the parse thread's check, the import of new content) adds a line.
  const counted = (version: string, counter: string) => `
import { appendFileSync } from 'node:fs';
import { dag } from '@updraft/sdk';
appendFileSync(${JSON.stringify(counter)}, 'loaded\\n');
export default dag({ id: 'counted', team: 'data-eng', schedule: null }, (d) => {
  d.fn('work', () => '${version}');
});
`;

  it('reloads a file that changed for a new version, and not for an older one', async () => {
    const fileloc = join(folder, 'counted.ts');
    const counter = join(folder, 'loads.txt');
    const loads = async () => (await readFile(counter, 'utf8')).split('\n').length - 1;
    const files = new DagFileCache();

    await writeFile(fileloc, counted('v1', counter));
    const v1 = hashSource(await readFile(fileloc));
    expect((await files.dag(fileloc, 'counted', v1)).sourceHash).toBe(v1);
    const loadsOfOne = await loads();
    expect(loadsOfOne).toBeGreaterThan(0);

    await writeFile(fileloc, counted('v2', counter));
    const v2 = hashSource(await readFile(fileloc));
    // A run of the new version: the cached load of v1 is replaced.
    const loaded = await files.dag(fileloc, 'counted', v2);
    expect(loaded.sourceHash).toBe(v2);
    expect(await loaded.dag.functionOf('work')?.({} as never)).toBe('v2');
    expect(await loads()).toBe(2 * loadsOfOne);

    // A run of the old version, the file unchanged: the current code, without loading again.
    for (let i = 0; i < 3; i++)
      expect((await files.dag(fileloc, 'counted', v1)).sourceHash).toBe(v2);
    expect(await loads()).toBe(2 * loadsOfOne);
  });
});
