/**
 * The scheduler loop. Each pass, in small independent transactions so that one bad DAG or run is
 * logged and skipped rather than stopping the loop:
 *   1. create scheduled runs whose data interval has ended (dag rows locked SKIP LOCKED);
 *   2. start queued runs within max_active_runs;
 *   3. advance running runs: retries whose delay passed, trigger rules, run completion;
 *   4. queue scheduled task instances that did not fit earlier;
 *   5. fail or retry task instances whose worker stopped heartbeating (zombies).
 * Several schedulers can run this at once: row locks with SKIP LOCKED and unique constraints keep
 * them from doing anything twice.
 */
import { hostname } from 'node:os';
import type { DagSpec } from '@updraft/core/dag';
import { retryDelay } from '@updraft/core/decisions';
import { databaseError, rowsOf, schema } from '@updraft/db';
import { sql } from 'drizzle-orm';
import { completeBackfills } from '../backfill.ts';
import { requestCallbacks } from '../callbacks.ts';
import { checkDeadlines } from '../deadlines.ts';
import { queueWaitingPools } from '../pools.ts';
import { heartbeatProcess, registerProcess, stopProcess } from '../processes.ts';
import { refreshNextRun } from '../processor/index.ts';
import { CHANNELS, type EngineResources } from '../resources.ts';
import { advanceRun, createRun, startQueuedRuns } from '../runs.ts';
import { nextAutomatedRun, timetablesOf } from '../timetables.ts';
import { type StateChange, transitionTasks } from '../transitions.ts';
import { VersionCache } from '../versions.ts';

export interface SchedulerOptions {
  id?: string;
  /** Time between passes when nothing wakes the scheduler earlier. */
  loopIntervalMs?: number;
  /** A running task instance whose heartbeat is older than this is a zombie. */
  zombieThresholdMs?: number;
  /** Runs advanced per pass. */
  batchSize?: number;
  /**
   * Task types whose work outlives a lost worker (pods): a zombie of these types is re-queued for
   * adoption (same try) instead of failing.
   */
  adoptableOperators?: readonly string[];
}

export interface PassReport {
  runsCreated: number;
  runsStarted: number;
  runsAdvanced: number;
  tasksQueued: number;
  zombies: number;
  errors: number;
}

export class Scheduler {
  readonly id: string;
  readonly #r: EngineResources;
  readonly #versions = new VersionCache();
  readonly #loopIntervalMs: number;
  readonly #zombieThresholdMs: number;
  readonly #batchSize: number;
  readonly #adoptableOperators: ReadonlySet<string>;
  #running = false;
  #wake: (() => void) | null = null;
  #wakeIn: ((ms: number) => void) | null = null;
  #loop: Promise<void> | null = null;
  #unlisten: (() => Promise<void>) | null = null;
  #lastPassAt: Date | null = null;
  readonly #dirtyRuns = new Set<number>();

  constructor(resources: EngineResources, opts: SchedulerOptions = {}) {
    this.#r = resources;
    this.id = opts.id ?? `scheduler:${hostname()}:${process.pid}`;
    this.#loopIntervalMs = opts.loopIntervalMs ?? 1000;
    this.#zombieThresholdMs = opts.zombieThresholdMs ?? 60_000;
    this.#batchSize = opts.batchSize ?? 200;
    this.#adoptableOperators = new Set(opts.adoptableOperators ?? ['k8sPod', 'httpJob']);
  }

  get lastPassAt(): Date | null {
    return this.#lastPassAt;
  }

  /** One scheduling pass. Errors for single items are logged and counted, never thrown. */
  async runOnce(): Promise<PassReport> {
    const report: PassReport = {
      runsCreated: 0,
      runsStarted: 0,
      runsAdvanced: 0,
      tasksQueued: 0,
      zombies: 0,
      errors: 0,
    };
    await this.#step(report, () => this.#createScheduledRuns(report));
    await this.#step(report, () => this.#startQueuedRuns(report));
    await this.#step(report, async () => {
      await completeBackfills(this.#r.database.db, this.#r.clock.now());
    });
    await this.#step(report, () => this.#advanceDirtyRuns(report));
    await this.#step(report, () => this.#advanceDueAttempts(report));
    await this.#step(report, () => this.#advanceRunningRuns(report));
    await this.#step(report, () => this.#queueLeftovers(report));
    await this.#step(report, () => this.#reapZombies(report));
    await this.#step(report, async () => {
      this.#emit(await checkDeadlines(this.#r, this.id));
    });
    this.#lastPassAt = this.#r.clock.now();
    return report;
  }

  async #step(report: PassReport, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      report.errors++;
      this.#r.logger.error({ err: error }, 'scheduler step failed');
    }
  }

  async #createScheduledRuns(report: PassReport): Promise<void> {
    const { db } = this.#r.database;
    const now = this.#r.clock.now();
    const due = await db
      .select({ dagId: schema.dags.dagId })
      .from(schema.dags)
      .where(sql`${schema.dags.isPaused} = false and ${schema.dags.isActive} = true
        and ${schema.dags.nextDagrunCreateAfter} <= ${now}`)
      .orderBy(schema.dags.nextDagrunCreateAfter)
      .limit(this.#batchSize);
    for (const { dagId } of due) {
      try {
        const created = await db.transaction(async (tx) => {
          const [dag] = rowsOf<{
            dag_id: string;
            latest_version_id: number | null;
            max_active_runs: number;
          }>(
            await tx.execute(sql`select dag_id, latest_version_id, max_active_runs from dags
              where dag_id = ${dagId} and is_paused = false and is_active = true for update skip locked`),
          );
          if (!dag || dag.latest_version_id == null) return 0;
          const version = await this.#versions.get(tx, Number(dag.latest_version_id));
          const spec = version.spec;
          const [active] = rowsOf<{ n: number }>(
            await tx.execute(
              // Backfill runs count against their backfill's own limit (backfill.ts).
              sql`select count(*)::int as n from dag_runs where dag_id = ${dagId} and state in ('queued', 'running') and backfill_id is null`,
            ),
          );
          // Like Airflow, no new scheduled run while max_active_runs are active; try again later.
          if ((active?.n ?? 0) >= dag.max_active_runs) return 0;
          const info = await this.#nextInterval(tx, spec, now);
          if (!info || info.runAfter.getTime() > now.getTime()) {
            await refreshNextRun(tx, spec, now, this.#r.timetables);
            return 0;
          }
          await createRun(
            tx,
            version,
            {
              dagId,
              runId: `scheduled__${info.logicalDate.toISOString()}`,
              runType: 'scheduled',
              logicalDate: info.logicalDate,
              dataIntervalStart: info.dataInterval.start,
              dataIntervalEnd: info.dataInterval.end,
              conf: {},
              triggeredBy: this.id,
            },
            now,
          );
          await refreshNextRun(tx, spec, now, this.#r.timetables);
          return 1;
        });
        report.runsCreated += created;
      } catch (error) {
        report.errors++;
        const { code } = databaseError(error);
        // 23505: another scheduler created this interval first. Not an error.
        if (code !== '23505')
          this.#r.logger.error({ err: error, dagId }, 'could not create scheduled run');
      }
    }
  }

  /** The DAG's next automated run from its timetable (timetables.ts). */
  #nextInterval(tx: Parameters<typeof refreshNextRun>[0], spec: DagSpec, now: Date) {
    return nextAutomatedRun(tx, spec, now, timetablesOf(this.#r));
  }

  async #startQueuedRuns(report: PassReport): Promise<void> {
    const { db } = this.#r.database;
    const dagIds = rowsOf<{ dag_id: string }>(
      await db.execute(
        sql`select distinct dag_id from dag_runs where state = 'queued' limit ${this.#batchSize}`,
      ),
    );
    for (const { dag_id: dagId } of dagIds) {
      try {
        const result = await db.transaction((tx) =>
          startQueuedRuns(tx, this.#versions, dagId, this.id, this.#r.clock.now()),
        );
        report.runsStarted += result.changes.filter(
          (c) => c.entity === 'dag_run' && c.to === 'running',
        ).length;
        report.tasksQueued += result.queued;
        this.#emit(result.changes);
      } catch (error) {
        report.errors++;
        this.#r.logger.error({ err: error, dagId }, 'could not start queued runs');
      }
    }
  }

  /** Runs that workers asked for: advanced first; any still held by someone else stay dirty. */
  async #advanceDirtyRuns(report: PassReport): Promise<void> {
    const runs = [...this.#dirtyRuns];
    this.#dirtyRuns.clear();
    const skipped = await this.#advanceRuns(runs, report);
    for (const id of skipped) this.#dirtyRuns.add(id);
  }

  /**
   * Runs with a retry or a reschedule (sensor check, job poll) that is due now, found through the
   * retry index: advanced every pass, so a due attempt never waits behind a large batch of runs.
   */
  async #advanceDueAttempts(report: PassReport): Promise<void> {
    const runs = rowsOf<{ dag_run_id: number }>(
      await this.#r.database.db.execute(sql`select distinct dag_run_id from task_instances
        where state in ('up_for_retry', 'up_for_reschedule') and next_attempt_at <= ${this.#r.clock.now()}
        limit ${this.#batchSize}`),
    );
    if (runs.length > 0)
      await this.#advanceRuns(
        runs.map((r) => Number(r.dag_run_id)),
        report,
      );
  }

  /** Time until the next pass: the loop interval, or less when a retry or reschedule is due sooner. */
  async #untilNextDue(): Promise<number> {
    try {
      // Only future ones: an overdue attempt the last pass could not schedule (its run is not
      // running) must not make the loop spin.
      const now = this.#r.clock.now();
      const [row] = rowsOf<{ due: Date | string | null }>(
        await this.#r.database.db.execute(sql`select min(next_attempt_at) as due from task_instances
          where state in ('up_for_retry', 'up_for_reschedule') and next_attempt_at > ${now}`),
      );
      if (!row?.due) return this.#loopIntervalMs;
      const ms = new Date(row.due).getTime() - now.getTime();
      return Math.max(10, Math.min(this.#loopIntervalMs, ms));
    } catch {
      return this.#loopIntervalMs;
    }
  }

  async #advanceRunningRuns(report: PassReport): Promise<void> {
    const runs = rowsOf<{ id: number }>(
      await this.#r.database.db.execute(sql`select id from dag_runs where state = 'running'
        order by last_scheduling_decision nulls first, id limit ${this.#batchSize}`),
    );
    await this.#advanceRuns(
      runs.map((r) => Number(r.id)),
      report,
    );
  }

  /** Advances each run not held by someone else; returns the ids that were held. */
  async #advanceRuns(ids: readonly number[], report: PassReport): Promise<number[]> {
    const { db } = this.#r.database;
    const held: number[] = [];
    for (const id of ids) {
      try {
        const result = await db.transaction(async (tx) => {
          // Another scheduler or a finishing worker holds this run: it is being advanced already.
          const locked = rowsOf(
            await tx.execute(
              sql`select id from dag_runs where id = ${id} and state = 'running' for update skip locked`,
            ),
          );
          if (locked.length === 0) return null;
          return advanceRun(tx, this.#versions, Number(id), this.id, this.#r.clock.now(), {
            locked: true,
          });
        });
        if (!result) {
          held.push(id);
          continue;
        }
        report.runsAdvanced++;
        report.tasksQueued += result.queued;
        this.#emit(result.changes);
      } catch (error) {
        report.errors++;
        this.#r.logger.error({ err: error, runPk: id }, 'could not advance run');
      }
    }
    return held;
  }

  async #queueLeftovers(report: PassReport): Promise<void> {
    // Pool by pool, in priority order across DAGs (pools.ts).
    const changes = await queueWaitingPools(
      this.#r.database.db,
      this.id,
      () => this.#r.clock.now(),
      this.#versions,
      (error, pool) => {
        report.errors++;
        this.#r.logger.error({ err: error, pool }, 'could not queue task instances');
      },
    );
    report.tasksQueued += changes.length;
    this.#emit(changes);
  }

  /**
   * A task instance whose worker stopped heartbeating will never report back: its try fails (and
   * is retried if it has retries left); a restarting one returns to none so it runs again.
   */
  async #reapZombies(report: PassReport): Promise<void> {
    const { db } = this.#r.database;
    const now = this.#r.clock.now();
    const cutoff = new Date(now.getTime() - this.#zombieThresholdMs);
    const zombies = rowsOf<{
      id: number;
      dag_run_id: number;
      state: string;
      try_number: number;
      max_retries: number;
      worker_id: string | null;
      dag_version_id: number;
      task_id: string;
      dag_id: string;
      run_id: string;
      operator: string;
    }>(
      await db.execute(sql`select t.id, t.dag_run_id, t.state, t.try_number, t.max_retries, t.worker_id, t.task_id, t.operator,
          t.dag_id, t.run_id, r.dag_version_id
        from task_instances t join dag_runs r on r.id = t.dag_run_id
        where t.state in ('running', 'restarting') and t.heartbeat_at < ${cutoff}
        limit ${this.#batchSize}`),
    );
    for (const z of zombies) {
      try {
        await db.transaction(async (tx) => {
          const locked = rowsOf(
            await tx.execute(sql`select id from dag_runs where id = ${z.dag_run_id} for update`),
          );
          if (locked.length === 0) return;
          const reason = `zombie: no heartbeat from ${z.worker_id ?? 'its worker'} since before ${cutoff.toISOString()}`;
          const guard = sql`heartbeat_at < ${cutoff}`;
          let changes: StateChange[];
          if (z.state === 'running' && this.#adoptableOperators.has(z.operator)) {
            // The work lives outside the lost worker (a pod): the same try continues on another worker.
            changes = await transitionTasks(tx, [Number(z.id)], 'queued', {
              actor: this.id,
              reason: `adoption: ${reason}; the try continues on another worker`,
              where: guard,
              from: ['running'],
              set: [sql`resume_try = true`, sql`worker_id = null`, sql`queued_at = ${now}`],
            });
            if (changes.length > 0)
              await tx.execute(sql`select pg_notify(${CHANNELS.taskQueued}, '')`);
          } else if (z.state === 'restarting') {
            changes = await transitionTasks(tx, [Number(z.id)], 'none', {
              actor: this.id,
              reason,
              where: guard,
              from: ['restarting'],
            });
          } else if (z.try_number <= z.max_retries) {
            const version = await this.#versions.get(tx, Number(z.dag_version_id));
            const task = version.tasks.get(z.task_id);
            const delay = task
              ? retryDelay(task, z.try_number, `${z.dag_id}/${z.run_id}/${z.task_id}`)
              : 0;
            changes = await transitionTasks(tx, [Number(z.id)], 'up_for_retry', {
              actor: this.id,
              reason,
              where: guard,
              from: ['running'],
              set: [
                sql`end_date = ${now}`,
                sql`next_attempt_at = ${new Date(now.getTime() + delay)}`,
              ],
            });
          } else {
            changes = await transitionTasks(tx, [Number(z.id)], 'failed', {
              actor: this.id,
              reason,
              where: guard,
              from: ['running'],
              set: [sql`end_date = ${now}`],
            });
          }
          if (changes.length > 0) {
            report.zombies++;
            await requestCallbacks(tx, this.#versions, changes);
            this.#r.logger.warn(
              { dagId: z.dag_id, runId: z.run_id, taskId: z.task_id, worker: z.worker_id },
              reason,
            );
            const advanced = await advanceRun(
              tx,
              this.#versions,
              Number(z.dag_run_id),
              this.id,
              now,
              { locked: true },
            );
            this.#emit([...changes, ...advanced.changes]);
          }
        });
      } catch (error) {
        report.errors++;
        this.#r.logger.error({ err: error, taskInstance: z.id }, 'could not reap zombie');
      }
    }
  }

  #emit(changes: StateChange[]): void {
    if (changes.length > 0) this.#r.events.emit('stateChanges', changes);
  }

  /** Runs passes until stop(); wakes early on NOTIFY (new runs, finished runs). */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await registerProcess(this.#r, this.id, 'scheduler');
    this.#unlisten = await this.#r.database.listen(CHANNELS.scheduler, (payload) => {
      // "run:<id>": a completion could not advance its run (another held it); do it first.
      if (payload.startsWith('run:')) this.#dirtyRuns.add(Number(payload.slice(4)));
      // "due:<ms>": a reschedule (sensor check, job poll) is due in <ms>: end the sleep by then,
      // without an extra pass now. During a pass it is found by #untilNextDue.
      if (payload.startsWith('due:')) this.#wakeIn?.(Number(payload.slice(4)));
      else this.#wake?.();
    });
    this.#r.logger.info({ scheduler: this.id }, 'scheduler started');
    this.#loop = (async () => {
      let lastHeartbeat = 0;
      while (this.#running) {
        const report = await this.runOnce();
        if (report.runsCreated + report.runsStarted + report.zombies > 0) {
          this.#r.logger.debug({ ...report }, 'scheduler pass');
        }
        if (Date.now() - lastHeartbeat > 5000) {
          lastHeartbeat = Date.now();
          await heartbeatProcess(this.#r, this.id).catch((err) =>
            this.#r.logger.warn({ err }, 'scheduler heartbeat failed'),
          );
        }
        if (!this.#running) break;
        const sleepMs = this.#dirtyRuns.size > 0 ? 10 : await this.#untilNextDue();
        await new Promise<void>((resolve) => {
          let timer = setTimeout(resolve, sleepMs);
          let endsAt = Date.now() + sleepMs;
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
          this.#wakeIn = (ms) => {
            if (!(ms >= 0) || Date.now() + ms >= endsAt) return;
            clearTimeout(timer);
            timer = setTimeout(resolve, ms);
            endsAt = Date.now() + ms;
          };
        });
        this.#wake = null;
        this.#wakeIn = null;
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    await this.#unlisten?.();
    await stopProcess(this.#r, this.id).catch(() => {});
    this.#r.logger.info({ scheduler: this.id }, 'scheduler stopped');
  }
}
