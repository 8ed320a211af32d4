/**
 * A worker process killed with SIGKILL in the middle of a task: the scheduler notices the missing
 * heartbeat, the try fails as a zombie and is retried, another worker runs it, and the task
 * instance ends in exactly one final state.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { schema } from '@updraft/db';
import { createEngineHarness, type EngineHarness, waitFor } from '@updraft/engine/testing';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const WORKER_MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const MARKER = `updraft-kill-test-${process.pid}`;

describe('a worker killed mid-task', () => {
  let h: EngineHarness;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    h = await createEngineHarness('postgres');
    await h.writeDag(
      'slow.ts',
      `import { dag } from '@updraft/sdk';
export default dag({ id: 'slow', team: 'data-eng' }, (d) => {
  d.shell('long_task', {
    command: 'if [ "$UPDRAFT_TRY_NUMBER" = 1 ]; then exec -a ${MARKER} sleep 300; fi; echo "finished on try $UPDRAFT_TRY_NUMBER"',
    retries: 1,
    retryDelay: 0,
  });
});`,
    );
    await h.processor.sync();
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    // The killed worker's task process was in its own process group and outlived it; end it.
    spawn('pkill', ['-f', MARKER]);
    await h?.close();
  });

  it('is detected as a zombie, retried on another worker and ends in success once', async () => {
    child = spawn(process.execPath, [WORKER_MAIN], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: h.db.url,
        UPDRAFT_ENV: 'dev',
        UPDRAFT_HEALTH_PORT: '0',
        UPDRAFT_WORKER_POLL_MS: '100',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const { runId } = await h.ops.triggerRun('slow', { actor: 'test' });
    const { db } = h.resources.database;
    const ti = () =>
      db
        .select()
        .from(schema.taskInstances)
        .where(
          and(eq(schema.taskInstances.runId, runId), eq(schema.taskInstances.taskId, 'long_task')),
        )
        .then((r) => r[0]!);

    const running = await waitFor(
      async () => {
        const t = await ti();
        return t.state === 'running' ? t : null;
      },
      { timeoutMs: 30_000, what: 'the child worker to start the task' },
    );
    expect(running.workerId).toMatch(new RegExp(`^worker:.*:${child.pid}$`));

    child.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));

    h.scheduler({ zombieThresholdMs: 1500 }).start();
    h.worker({ id: 'replacement-worker' }).start();

    const done = await waitFor(
      async () => {
        const t = await ti();
        return t.state === 'success' || t.state === 'failed' ? t : null;
      },
      { timeoutMs: 60_000, what: 'the retried task to finish' },
    );
    expect(done.state).toBe('success');
    expect(done.tryNumber).toBe(2);
    expect(done.workerId).toBe('replacement-worker');

    const events = await db
      .select()
      .from(schema.events)
      .where(and(eq(schema.events.runId, runId), eq(schema.events.taskId, 'long_task')))
      .orderBy(asc(schema.events.id));
    expect(events.map((e) => `${e.fromState}->${e.toState}`)).toEqual([
      'none->scheduled',
      'scheduled->queued',
      'queued->running',
      'running->up_for_retry',
      'up_for_retry->scheduled',
      'scheduled->queued',
      'queued->running',
      'running->success',
    ]);
    expect(events[3]!.reason).toMatch(/^zombie: no heartbeat from worker:/);
    const [run] = await db.select().from(schema.dagRuns).where(eq(schema.dagRuns.runId, runId));
    expect(run!.state).toBe('success');
  });
});
