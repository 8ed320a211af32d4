/**
 * A benchmark environment: a fresh PostgreSQL database cloned from the migrated template (or
 * PGlite), the teams, a DAG folder inside this package (so DAG files resolve @updraft/sdk), and
 * the engine's systems with their production defaults unless a workload says otherwise.
 */
import { fileURLToPath } from 'node:url';
import { rowsOf } from '@updraft/db';
import type { TestDatabaseKind } from '@updraft/db/testing';
import type { StateChange } from '@updraft/engine';
import { createEngineHarness, type EngineHarness } from '@updraft/engine/testing';
import { sql } from 'drizzle-orm';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const TEAM = 'bench';

export interface BenchEnv extends EngineHarness {
  /** Resolves when the run reaches a terminal state (from the in-process event bus). */
  waitForRun(runPk: number, timeoutMs: number): Promise<string>;
  /** xact_commit of this database (PostgreSQL only; stats are flushed by the backends lazily). */
  commits(): Promise<number>;
}

export async function createBenchEnv(kind: TestDatabaseKind = 'postgres'): Promise<BenchEnv> {
  // The engine's test harness with the engine's own timings, a team of its own and a DAG folder
  // inside this package.
  const h = await createEngineHarness(kind, {
    teams: [{ id: TEAM, name: 'Bench', namespace: 'team-bench' }],
    dagsParent: PACKAGE_DIR,
    parseTimeoutMs: 120_000,
    logLevel: process.env.UPDRAFT_BENCH_LOG_LEVEL ?? 'silent',
    timings: 'engine',
  });
  h.resources.events.setMaxListeners(1000);
  const finished = new Map<number, string>();
  const waiters = new Map<number, (state: string) => void>();
  h.resources.events.on('stateChanges', (changes: StateChange[]) => {
    for (const c of changes) {
      if (c.entity !== 'dag_run' || (c.to !== 'success' && c.to !== 'failed')) continue;
      finished.set(c.id, c.to);
      waiters.get(c.id)?.(c.to);
    }
  });
  return {
    ...h,
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
      if (h.db.kind !== 'postgres') return 0;
      const [row] = rowsOf<{ n: string }>(
        await h.db.handle.db.execute(
          sql`select xact_commit::text as n from pg_stat_database where datname = current_database()`,
        ),
      );
      return Number(row?.n ?? 0);
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
