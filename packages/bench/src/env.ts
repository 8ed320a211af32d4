/**
 * A benchmark environment: a fresh PostgreSQL database cloned from the migrated template (or
 * PGlite), the teams, a DAG folder inside this package (so DAG files resolve @updraft/sdk), and
 * the engine's systems with their production defaults unless a workload says otherwise.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rowsOf } from '@updraft/db';
import { createTestDatabase, type TestDatabase, type TestDatabaseKind } from '@updraft/db/testing';
import {
  DagProcessor,
  EngineEvents,
  type EngineResources,
  Operations,
  Scheduler,
  type SchedulerOptions,
  type StateChange,
  syncTeams,
  systemClock,
  Worker,
  type WorkerOptions,
} from '@updraft/engine';
import { sql } from 'drizzle-orm';
import pino from 'pino';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const TEAM = 'bench';

export interface BenchEnv {
  db: TestDatabase;
  resources: EngineResources;
  dagsFolder: string;
  processor: DagProcessor;
  ops: Operations;
  scheduler(opts?: SchedulerOptions): Scheduler;
  worker(opts?: WorkerOptions): Worker;
  writeDag(name: string, source: string): Promise<string>;
  /** Resolves when the run reaches a terminal state (from the in-process event bus). */
  waitForRun(runPk: number, timeoutMs: number): Promise<string>;
  /** xact_commit of this database (PostgreSQL only; stats are flushed by the backends lazily). */
  commits(): Promise<number>;
  close(): Promise<void>;
}

export async function createBenchEnv(kind: TestDatabaseKind = 'postgres'): Promise<BenchEnv> {
  const db = await createTestDatabase(kind);
  const resources: EngineResources = {
    database: db.handle,
    clock: systemClock,
    logger: pino({ level: process.env.UPDRAFT_BENCH_LOG_LEVEL ?? 'silent' }),
    events: new EngineEvents(),
    environment: 'local',
  };
  resources.events.setMaxListeners(1000);
  await syncTeams(resources, [{ id: TEAM, name: 'Bench', namespace: 'team-bench' }]);
  const dagsFolder = await mkdtemp(join(PACKAGE_DIR, '.tmp-dags-'));
  const processor = new DagProcessor(resources, {
    dagsFolder,
    pauseNewDags: false,
    parseTimeoutMs: 120_000,
  });
  const started: { stop(): Promise<void> }[] = [];
  const finished = new Map<number, string>();
  const waiters = new Map<number, (state: string) => void>();
  resources.events.on('stateChanges', (changes: StateChange[]) => {
    for (const c of changes) {
      if (c.entity !== 'dag_run' || (c.to !== 'success' && c.to !== 'failed')) continue;
      finished.set(c.id, c.to);
      waiters.get(c.id)?.(c.to);
    }
  });
  return {
    db,
    resources,
    dagsFolder,
    processor,
    ops: new Operations(resources),
    scheduler(o) {
      const s = new Scheduler(resources, o);
      started.push(s);
      return s;
    },
    worker(o) {
      const w = new Worker(resources, o);
      started.push(w);
      return w;
    },
    async writeDag(name, source) {
      const path = join(dagsFolder, name);
      await writeFile(path, source);
      return path;
    },
    waitForRun(runPk, timeoutMs) {
      const done = finished.get(runPk);
      if (done) return Promise.resolve(done);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(runPk);
          reject(new Error(`run ${runPk} did not finish within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.set(runPk, (state) => {
          clearTimeout(timer);
          waiters.delete(runPk);
          resolve(state);
        });
      });
    },
    async commits() {
      if (db.kind !== 'postgres') return 0;
      const [row] = rowsOf<{ n: string }>(
        await db.handle.db.execute(
          sql`select xact_commit::text as n from pg_stat_database where datname = current_database()`,
        ),
      );
      return Number(row?.n ?? 0);
    },
    async close() {
      for (const s of started.reverse()) await s.stop().catch(() => {});
      await db.drop();
      await rm(dagsFolder, { recursive: true, force: true });
    },
  };
}

/**
 * Commits made by the engine between two readings. PostgreSQL 15 backends flush their counters at
 * most once a second and when idle, so wait for them first; each reading is a commit of its own.
 */
export async function commitsSince(env: BenchEnv, before: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const after = await env.commits();
  return after - before - 1;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Task timings of a run from task_instances (the engine's own timestamps). */
export interface TaskTiming {
  taskId: string;
  queuedAt: number;
  startDate: number;
  endDate: number;
}

export async function taskTimings(env: BenchEnv, runPk: number): Promise<TaskTiming[]> {
  const rows = rowsOf<{ task_id: string; q: string; s: string; e: string }>(
    await env.db.handle.db.execute(sql`select task_id,
        (extract(epoch from queued_at) * 1000)::text as q,
        (extract(epoch from start_date) * 1000)::text as s,
        (extract(epoch from end_date) * 1000)::text as e
      from task_instances where dag_run_id = ${runPk} order by start_date, id`),
  );
  return rows.map((r) => ({
    taskId: r.task_id,
    queuedAt: Number(r.q),
    startDate: Number(r.s),
    endDate: Number(r.e),
  }));
}
