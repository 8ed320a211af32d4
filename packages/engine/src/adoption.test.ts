/**
 * A try whose worker is lost while its work lives on elsewhere (a pod) is adopted: the scheduler
 * re-queues the same try, another worker continues it (same try number, told it is resuming), and
 * the lost worker can no longer record anything for it.
 */

import { schema } from '@updraft/db';
import { TEST_DATABASE_KINDS } from '@updraft/db/testing';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, waitFor } from './testing.ts';
import type { ExecutionContext, Executor } from './worker/index.ts';

const DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'podish', team: 'data-eng' }, (d) => {
  d.task('external_job', 'k8sPod', { image: 'example/job:1' });
});
`;

describe.each(TEST_DATABASE_KINDS)('adopting a try from a lost worker (%s)', (kind) => {
  let h: EngineHarness;
  const calls: { worker: string; tryNumber: number; resumed: boolean }[] = [];

  beforeAll(async () => {
    h = await createEngineHarness(kind);
    await h.writeDag('podish.ts', DAG);
    await h.processor.sync();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('continues the same try on another worker and ignores the lost one', async () => {
    // Worker "lost" runs the work but stops heartbeating (as if its process froze or died).
    const hangs: Executor = (ctx: ExecutionContext) => {
      calls.push({ worker: 'lost', tryNumber: ctx.tryNumber, resumed: ctx.resumed });
      return new Promise((_resolve, reject) =>
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
      );
    };
    // Concurrency 1: while its try hangs it claims nothing else, as a dead worker would not.
    const lost = h.worker({
      id: 'lost',
      concurrency: 1,
      heartbeatIntervalMs: 3_600_000,
      executors: { k8sPod: hangs },
    });
    await lost.start();
    const { runId } = await h.ops.triggerRun('podish', { actor: 'test' });
    const { db } = h.resources.database;
    const ti = async () =>
      (
        await db
          .select()
          .from(schema.taskInstances)
          .where(
            and(
              eq(schema.taskInstances.runId, runId),
              eq(schema.taskInstances.taskId, 'external_job'),
            ),
          )
      )[0]!;
    await waitFor(async () => (await ti()).state === 'running', {
      what: 'the lost worker to start the try',
    });

    const resumes: Executor = async (ctx) => {
      calls.push({ worker: 'adopter', tryNumber: ctx.tryNumber, resumed: ctx.resumed });
      return { result: { reattached: ctx.resumed } };
    };
    await h.worker({ id: 'adopter', executors: { k8sPod: resumes } }).start();
    await h.scheduler({ zombieThresholdMs: 2_000 }).start();

    const done = await waitFor(
      async () => {
        const t = await ti();
        return t.state === 'success' ? t : null;
      },
      { what: 'the adopted try to finish' },
    );
    expect(done.tryNumber).toBe(1);
    expect(done.workerId).toBe('adopter');
    expect(calls).toEqual([
      { worker: 'lost', tryNumber: 1, resumed: false },
      { worker: 'adopter', tryNumber: 1, resumed: true },
    ]);
    const events = await db
      .select()
      .from(schema.events)
      .where(and(eq(schema.events.runId, runId), eq(schema.events.taskId, 'external_job')))
      .orderBy(asc(schema.events.id));
    expect(events.map((e) => `${e.fromState}->${e.toState}:${e.actor}`)).toEqual([
      expect.stringMatching(/^none->scheduled:/),
      expect.stringMatching(/^scheduled->queued:/),
      'queued->running:lost',
      expect.stringMatching(/^running->queued:scheduler/),
      'queued->running:adopter',
      'running->success:adopter',
    ]);
    expect(events[3]!.reason).toMatch(/^adoption: zombie: no heartbeat from lost/);
    // The lost worker finishing late changes nothing.
    await lost.stop();
    expect((await ti()).state).toBe('success');
  });
});
