/**
 * Test harness for engine tests: a fresh database (PostgreSQL or PGlite), a teams table, a
 * temporary DAG folder that can import @updraft/sdk, and the engine's systems wired together.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { schema } from '@updraft/db';
import {
  createTestDatabase,
  type TestDatabase,
  type TestDatabaseKind,
  waitFor,
} from '@updraft/db/testing';
import { eq } from 'drizzle-orm';
import pino from 'pino';
import { Operations } from './ops/index.ts';
import { DagProcessor } from './processor/index.ts';
import { type Clock, EngineEvents, type EngineResources, systemClock } from './resources.ts';
import { Scheduler, type SchedulerOptions } from './scheduler/index.ts';
import { syncTeams } from './teams.ts';
import { Worker, type WorkerOptions } from './worker/index.ts';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

export interface EngineHarness {
  db: TestDatabase;
  resources: EngineResources;
  dagsFolder: string;
  processor: DagProcessor;
  ops: Operations;
  scheduler(opts?: SchedulerOptions): Scheduler;
  worker(opts?: WorkerOptions): Worker;
  writeDag(name: string, source: string): Promise<string>;
  /** Waits until the run is success or failed and returns its row. */
  finishedRun(
    runId: string,
    opts?: { timeoutMs?: number },
  ): Promise<typeof schema.dagRuns.$inferSelect>;
  close(): Promise<void>;
}

export const TEST_TEAMS = [
  { id: 'data-eng', name: 'Data Engineering', namespace: 'team-data-eng' },
  { id: 'analytics', name: 'Analytics', namespace: 'team-analytics' },
];

export interface EngineHarnessOptions {
  clock?: Clock;
  pauseNewDags?: boolean;
  /** PostgreSQL server to create the database on (default DATABASE_URL or the local one). */
  adminUrl?: string;
  teams?: readonly { id: string; name: string; namespace: string }[];
  /** Where the temporary DAG folder is made; it must resolve @updraft/sdk. */
  dagsParent?: string;
  parseTimeoutMs?: number;
  logLevel?: string;
  /**
   * 'test' (default): short loop, poll and heartbeat intervals so tests run fast; 'engine': the
   * engine's own defaults (for measurements).
   */
  timings?: 'test' | 'engine';
}

export async function createEngineHarness(
  kind: TestDatabaseKind,
  opts: EngineHarnessOptions = {},
): Promise<EngineHarness> {
  const db = await createTestDatabase(kind, opts.adminUrl ? { adminUrl: opts.adminUrl } : {});
  const resources: EngineResources = {
    database: db.handle,
    clock: opts.clock ?? systemClock,
    logger: pino({ level: opts.logLevel ?? process.env.UPDRAFT_TEST_LOG_LEVEL ?? 'silent' }),
    events: new EngineEvents(),
    environment: 'local',
  };
  await syncTeams(resources, opts.teams ?? TEST_TEAMS);
  const dagsFolder = await mkdtemp(join(opts.dagsParent ?? PACKAGE_DIR, '.tmp-dags-'));
  const processor = new DagProcessor(resources, {
    dagsFolder,
    pauseNewDags: opts.pauseNewDags ?? false,
    parseTimeoutMs: opts.parseTimeoutMs ?? 10_000,
  });
  const fast = (opts.timings ?? 'test') === 'test';
  const started: { stop(): Promise<void> }[] = [];
  return {
    db,
    resources,
    dagsFolder,
    processor,
    ops: new Operations(resources),
    scheduler(o) {
      const s = new Scheduler(resources, fast ? { loopIntervalMs: 50, ...o } : o);
      started.push(s);
      return s;
    },
    worker(o) {
      const w = new Worker(
        resources,
        fast ? { pollIntervalMs: 100, heartbeatIntervalMs: 200, shutdownGraceMs: 2000, ...o } : o,
      );
      started.push(w);
      return w;
    },
    async writeDag(name, source) {
      const path = join(dagsFolder, name);
      await writeFile(path, source);
      return path;
    },
    finishedRun(runId, o = {}) {
      return waitFor(
        async () => {
          const [r] = await db.handle.db
            .select()
            .from(schema.dagRuns)
            .where(eq(schema.dagRuns.runId, runId));
          return r && (r.state === 'success' || r.state === 'failed') ? r : null;
        },
        { timeoutMs: o.timeoutMs ?? 20_000, what: `run ${runId} to finish` },
      );
    },
    async close() {
      for (const s of started.reverse()) await s.stop().catch(() => {});
      await db.drop();
      await rm(dagsFolder, { recursive: true, force: true });
    },
  };
}

export { waitFor };
