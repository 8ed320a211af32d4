/**
 * Two schedulers and two workers, each with its own connection pool, on one PostgreSQL database:
 * the schedulers race to create 200 catch-up runs of a fan-out/fan-in DAG and to advance them,
 * the workers race to claim the task instances. Every task instance must run exactly once and end
 * in exactly one final state. (PostgreSQL only: PGlite has one connection and never races.)
 */
import { openDatabase, rowsOf, schema } from '@updraft/db';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineEvents, type EngineResources } from './resources.ts';
import { Scheduler } from './scheduler/index.ts';
import { createEngineHarness, type EngineHarness, waitFor } from './testing.ts';
import { Worker } from './worker/index.ts';

const RUNS = 200;
const FAN_OUT = 10;

const hour = 3_600_000;
const start = new Date(Math.floor(Date.now() / hour) * hour - RUNS * hour);
// A frozen clock half an hour after the last interval ends: exactly RUNS intervals are due even
// if the test runs across an hour boundary.
const clock = { now: () => new Date(start.getTime() + RUNS * hour + hour / 2) };

const RACE_DAG = `
import { dag } from '@updraft/sdk';
const executions = (globalThis.__updraftRaceExecutions ??= new Map());
const record = (ctx) => {
  const key = ctx.runId + '/' + ctx.taskId;
  executions.set(key, (executions.get(key) ?? 0) + 1);
  return key;
};
export default dag({
  id: 'fan',
  team: 'data-eng',
  schedule: '1h',
  startDate: '${start.toISOString()}',
  catchup: true,
  maxActiveRuns: ${RUNS},
  maxActiveTasks: 64,
}, (d) => {
  const first = d.fn('start', async (ctx) => record(ctx));
  const middle = Array.from({ length: ${FAN_OUT} }, (_, i) => d.fn('part_' + i, async (ctx) => record(ctx), { upstream: [first] }));
  d.fn('join', async (ctx) => record(ctx), { upstream: middle });
});
`;

describe('two schedulers and two workers on one PostgreSQL database', () => {
  let h: EngineHarness;
  const handles: Awaited<ReturnType<typeof openDatabase>>[] = [];
  const systems: { stop(): Promise<void> }[] = [];
  const errors: unknown[] = [];

  beforeAll(async () => {
    h = await createEngineHarness('postgres', { clock });
    await h.writeDag('fan.ts', RACE_DAG);
    await h.processor.sync();
    const logger = pino({ level: 'error' }, { write: (line: string) => errors.push(line) });
    const resources = async (): Promise<EngineResources> => {
      const database = await openDatabase({ url: h.db.url, maxConnections: 8 });
      handles.push(database);
      return {
        database,
        clock,
        logger,
        events: new EngineEvents(),
        environment: 'local',
      };
    };
    for (let i = 0; i < 2; i++) {
      const scheduler = new Scheduler(await resources(), {
        id: `scheduler-${i}`,
        loopIntervalMs: 20,
      });
      const worker = new Worker(await resources(), {
        id: `worker-${i}`,
        concurrency: 16,
        pollIntervalMs: 50,
      });
      systems.push(scheduler, worker);
      await scheduler.start();
      await worker.start();
    }
  });

  afterAll(async () => {
    for (const s of systems) await s.stop();
    for (const handle of handles) await handle.close();
    await h?.close();
    delete (globalThis as { __updraftRaceExecutions?: unknown }).__updraftRaceExecutions;
  });

  it('runs every task instance exactly once, each ending in exactly one final state', async () => {
    const { db } = h.resources.database;
    await waitFor(
      async () => {
        const [row] = rowsOf<{ done: number; total: number }>(
          await db.execute(
            sql`select count(*) filter (where state in ('success', 'failed'))::int as done, count(*)::int as total from dag_runs`,
          ),
        );
        return row && row.total >= RUNS && row.done === row.total;
      },
      { timeoutMs: 240_000, intervalMs: 250, what: `${RUNS} runs to finish` },
    );

    // Exactly one run per interval: the unique constraint held and neither scheduler duplicated work.
    const runs = await db.select().from(schema.dagRuns);
    expect(runs).toHaveLength(RUNS);
    expect(new Set(runs.map((r) => r.logicalDate.getTime())).size).toBe(RUNS);
    expect(runs.every((r) => r.state === 'success')).toBe(true);

    const tis = await db.select().from(schema.taskInstances);
    expect(tis).toHaveLength(RUNS * (FAN_OUT + 2));
    expect(tis.filter((t) => t.state !== 'success' || t.tryNumber !== 1)).toEqual([]);

    // Each task function ran exactly once.
    const executions = (globalThis as { __updraftRaceExecutions?: Map<string, number> })
      .__updraftRaceExecutions!;
    expect(executions.size).toBe(RUNS * (FAN_OUT + 2));
    expect([...executions.values()].filter((n) => n !== 1)).toEqual([]);

    // The event log shows one claim and one completion per task instance, by either worker.
    const [claims] = rowsOf<{ n: number; distinct_tis: number; workers: number }>(
      await db.execute(sql`select count(*)::int as n, count(distinct (run_id, task_id))::int as distinct_tis,
        count(distinct actor)::int as workers from events
        where entity = 'task_instance' and from_state = 'queued' and to_state = 'running'`),
    );
    expect(claims).toEqual({
      n: RUNS * (FAN_OUT + 2),
      distinct_tis: RUNS * (FAN_OUT + 2),
      workers: 2,
    });
    const [finals] = rowsOf<{ n: number }>(
      await db.execute(
        sql`select count(*)::int as n from events where entity = 'task_instance' and to_state = 'success'`,
      ),
    );
    expect(finals?.n).toBe(RUNS * (FAN_OUT + 2));
    // Every run started exactly once.
    const [starts] = rowsOf<{ n: number; distinct_runs: number }>(
      await db.execute(sql`select count(*)::int as n, count(distinct run_id)::int as distinct_runs from events
        where entity = 'dag_run' and from_state = 'queued' and to_state = 'running'`),
    );
    expect(starts).toEqual({ n: RUNS, distinct_runs: RUNS });
    expect(errors.filter((e) => !String(e).includes('23505'))).toEqual([]);
  }, 300_000);
});
