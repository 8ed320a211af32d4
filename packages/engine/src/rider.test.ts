/**
 * A hand-off's claim rides with the queueing it depends on (pools.ts Rider): sent in the same
 * round trip, right after the first transition to queued, so it sees what was just queued; left
 * for the caller when nothing is queued.
 */
import { rowsOf } from '@updraft/db';
import { TEST_DATABASE_KINDS } from '@updraft/db/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Rider } from './pools.ts';
import { advanceRun } from './runs.ts';
import { createEngineHarness, type EngineHarness } from './testing.ts';
import { transitionTasks } from './transitions.ts';
import { VersionCache } from './versions.ts';

const CHAIN = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'rider_chain', team: 'data-eng', schedule: null }, (d) => {
  d.shell('a', { command: 'true' }).then(d.shell('b', { command: 'true' }));
});
`;

describe.each(TEST_DATABASE_KINDS)('a claim riding with the queueing (%s)', (kind) => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await createEngineHarness(kind);
    await h.writeDag('rider_chain.ts', CHAIN);
    await h.processor.sync();
  });
  afterAll(async () => {
    await h?.close();
  });

  const queuedIn = (runId: string) =>
    sql`select task_id from task_instances where run_id = ${runId} and state = 'queued'`;

  it('is sent with the first queueing and sees what it queued; unsent when nothing is queued', async () => {
    const { runId, id: runPk } = await h.ops.triggerRun('rider_chain', { actor: 'test' });
    const { db } = h.resources.database;
    const [a] = rowsOf<{ id: number; state: string }>(
      await db.execute(
        sql`select id, state from task_instances where run_id = ${runId} and task_id = 'a'`,
      ),
    );
    expect(a!.state).toBe('queued');
    const versions = new VersionCache(10);
    const advance = (rider: Rider) =>
      db.transaction((tx) =>
        advanceRun(tx, versions, runPk, 'test', new Date(), { notifyQueued: false, rider }),
      );

    // Nothing new to queue: the rider is left to the caller.
    const idle: Rider = { sent: false, build: () => queuedIn(runId) };
    await advance(idle);
    expect(idle.sent).toBe(false);

    // a ends: b is scheduled and queued, and the rider, sent behind it, already sees b queued.
    await db.transaction((tx) =>
      transitionTasks(tx, [Number(a!.id)], 'success', { actor: 'test', from: ['queued'] }),
    );
    let builds = 0;
    const rider: Rider = {
      sent: false,
      build: () => {
        builds++;
        return queuedIn(runId);
      },
    };
    const advanced = await advance(rider);
    expect(advanced.queued).toBe(1);
    expect(rider.sent).toBe(true);
    expect(builds).toBe(1);
    expect(rowsOf<{ task_id: string }>(rider.result).map((r) => r.task_id)).toEqual(['b']);
    expect(rider.queuedAfter ?? 0).toBe(0);
  });

  it('counts what is queued after it was sent, which it could not see', async () => {
    const { db } = h.resources.database;
    const versions = new VersionCache(10);
    const runs = [
      await h.ops.triggerRun('rider_chain', { actor: 'test' }),
      await h.ops.triggerRun('rider_chain', { actor: 'test' }),
    ];
    for (const { runId } of runs)
      await db.transaction(async (tx) => {
        const [a] = rowsOf<{ id: number }>(
          await tx.execute(
            sql`select id from task_instances where run_id = ${runId} and task_id = 'a'`,
          ),
        );
        await transitionTasks(tx, [Number(a!.id)], 'success', { actor: 'test', from: ['queued'] });
      });
    const rider: Rider = { sent: false, build: () => queuedIn(runs[0]!.runId) };
    // One transaction advancing both runs, as a batch of completions does.
    await db.transaction(async (tx) => {
      for (const { id } of runs)
        await advanceRun(tx, versions, id, 'test', new Date(), { notifyQueued: false, rider });
    });
    expect(rider.sent).toBe(true);
    expect(rider.queuedAfter).toBe(1);
  });
});
