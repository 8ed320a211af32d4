/**
 * Operations people perform (through the API or the CLI): trigger a run, pause a DAG, clear task
 * instances. Each is one transaction through the same transition path the engine uses, and each
 * leaves an event naming who did it.
 */
import { randomBytes } from 'node:crypto';
import { ConflictError, InvalidError, NotFoundError } from '@updraft/core/errors';
import { paramIssues } from '@updraft/core/params';
import { type DataInterval, runDateProblem, ScheduleError } from '@updraft/core/schedule';
import { TERMINAL_TASK_STATES } from '@updraft/core/state';
import { timetableOf } from '@updraft/core/timetable';
import {
  databaseError,
  type Queryable,
  retriedTransaction,
  rowsOf,
  schema,
  type Tx,
} from '@updraft/db';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { resetMappedTasks } from '../mapping.ts';
import { refreshNextRun } from '../processor/index.ts';
import type { EngineResources } from '../resources.ts';
import { advanceRun, createRun, reconcileFinishedRun, startQueuedRuns } from '../runs.ts';
import { timetablesOf } from '../timetables.ts';
import { type StateChange, transitionRun, transitionTasks } from '../transitions.ts';
import { VersionCache } from '../versions.ts';
import {
  type AffectedTaskInstance,
  type MarkOptions,
  markRun,
  markTaskInstances,
  withRelatives,
} from './manual.ts';

export type { AffectedTaskInstance, MarkOptions } from './manual.ts';

export interface TriggerOptions {
  conf?: Record<string, unknown>;
  runId?: string;
  logicalDate?: Date;
  note?: string;
  /** Who triggered it, for the event log. */
  actor: string;
}

export class Operations {
  readonly #r: EngineResources;
  readonly #versions = new VersionCache();

  constructor(resources: EngineResources) {
    this.#r = resources;
  }

  /**
   * One operation's transaction, run again if it lost a deadlock to the engine (a person's action
   * takes the same DAG and pool locks as the scheduler and the workers).
   */
  #transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return retriedTransaction(this.#r.database.db, work);
  }

  #emit(changes: StateChange[]): void {
    if (changes.length > 0) this.#r.events.emit('stateChanges', changes);
  }

  /** Creates a manual run of the DAG's latest version and starts it if max_active_runs allows. */
  async triggerRun(dagId: string, opts: TriggerOptions): Promise<{ runId: string; id: number }> {
    const now = this.#r.clock.now();
    const logicalDate = opts.logicalDate ?? now;
    const dateProblem = runDateProblem(logicalDate, 'logical date');
    if (dateProblem) throw new InvalidError(`cannot trigger DAG "${dagId}": ${dateProblem}`);
    const runId =
      opts.runId ?? `manual__${logicalDate.toISOString()}_${randomBytes(3).toString('hex')}`;
    try {
      const out = await this.#transaction(async (tx) => {
        const dag = await requireDag(tx, dagId);
        if (!dag.isActive)
          throw new ConflictError(`DAG "${dagId}" is not active: its file no longer defines it`);
        if (dag.latestVersionId == null)
          throw new ConflictError(`DAG "${dagId}" has no version yet`);
        const version = await this.#versions.get(tx, dag.latestVersionId);
        const conf = opts.conf ?? {};
        const problems = paramIssues(version.spec.paramRules ?? {}, {
          ...version.spec.params,
          ...conf,
        });
        if (problems.length > 0) {
          throw new InvalidError(
            `invalid conf for DAG "${dagId}": ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`,
            { issues: problems },
          );
        }
        let interval: DataInterval;
        try {
          interval = timetableOf(version.spec, timetablesOf(this.#r)).manualRunInterval(
            logicalDate,
          );
        } catch (error) {
          if (!(error instanceof ScheduleError)) throw error;
          throw new InvalidError(`cannot trigger DAG "${dagId}": ${error.message}`);
        }
        const created = await createRun(
          tx,
          version,
          {
            dagId,
            runId,
            runType: 'manual',
            logicalDate,
            dataIntervalStart: interval.start,
            dataIntervalEnd: interval.end,
            conf,
            triggeredBy: opts.actor,
            note: opts.note ?? null,
          },
          now,
        );
        // A paused DAG's manual runs wait, as in Airflow; otherwise start now if there is room.
        const started = dag.isPaused
          ? { changes: [] }
          : await startQueuedRuns(tx, this.#versions, dagId, opts.actor, now);
        return { id: created.id, changes: [...created.changes, ...started.changes] };
      });
      this.#emit(out.changes);
      return { runId, id: out.id };
    } catch (error) {
      if (databaseError(error).code === '23505') {
        throw new ConflictError(`DAG "${dagId}" already has a run with id "${runId}"`);
      }
      throw error;
    }
  }

  async setPaused(dagId: string, paused: boolean, actor: string): Promise<void> {
    const changes = await this.#transaction(async (tx) => {
      const dag = await requireDag(tx, dagId);
      if (dag.isPaused === paused) return [];
      await tx
        .update(schema.dags)
        .set({ isPaused: paused, updatedAt: new Date() })
        .where(eq(schema.dags.dagId, dagId));
      await tx.insert(schema.events).values({
        entity: 'dag',
        dagId,
        actor,
        fromState: dag.isPaused ? 'paused' : 'active',
        toState: paused ? 'paused' : 'active',
        reason: paused ? 'paused' : 'unpaused',
      });
      if (!paused && dag.latestVersionId != null) {
        // Unpausing recomputes the next interval (catchup decides whether missed ones run).
        const version = await this.#versions.get(tx, dag.latestVersionId);
        try {
          await refreshNextRun(tx, version.spec, this.#r.clock.now(), this.#r.timetables);
        } catch (error) {
          // Most often a timetable plugin the scheduler has and this process lacks.
          if (!(error instanceof ScheduleError)) throw error;
          throw new ConflictError(
            `cannot unpause DAG "${dagId}" here: ${error.message} (a timetable plugin must be in every process's UPDRAFT_TIMETABLE_PLUGINS, as in the scheduler's)`,
          );
        }
        return (await startQueuedRuns(tx, this.#versions, dagId, actor, this.#r.clock.now()))
          .changes;
      }
      return [];
    });
    this.#emit(changes);
    await this.#r.database.db.execute(sql`select pg_notify('updraft_scheduler', ${dagId})`);
  }

  /**
   * Clears task instances of a run so they run again (Airflow's "clear"): finished ones go back to
   * none, running ones to restarting (their worker stops them), and the run returns to queued if it
   * had finished. `downstream` also clears everything downstream of the given tasks.
   */
  async clearTaskInstances(
    dagId: string,
    runId: string,
    opts: {
      taskIds?: string[];
      onlyFailed?: boolean;
      downstream?: boolean;
      /** Also clear everything upstream of the given tasks (Airflow's -u). */
      upstream?: boolean;
      /** Only running task instances (Airflow's only_running / -r). */
      onlyRunning?: boolean;
      /** Say what would be cleared; change nothing. */
      dryRun?: boolean;
      actor: string;
    },
  ): Promise<{ cleared: string[] }> {
    const now = this.#r.clock.now();
    const out = await this.#transaction(async (tx) => {
      const [run] = rowsOf<{ id: number; state: string; dag_version_id: number }>(
        await tx.execute(
          sql`select id, state, dag_version_id from dag_runs where dag_id = ${dagId} and run_id = ${runId} for update`,
        ),
      );
      if (!run) throw new NotFoundError(`DAG "${dagId}" has no run "${runId}"`);
      const version = await this.#versions.get(tx, Number(run.dag_version_id));
      let targets = opts.taskIds ?? [...version.tasks.keys()];
      const unknown = targets.filter((t) => !version.tasks.has(t));
      if (unknown.length > 0)
        throw new InvalidError(
          `DAG "${dagId}" has no task ${unknown.map((t) => `"${t}"`).join(', ')}`,
          { taskIds: unknown },
        );
      targets = withRelatives(version.spec.tasks, targets, opts);
      const tis = await tx
        .select({
          id: schema.taskInstances.id,
          taskId: schema.taskInstances.taskId,
          state: schema.taskInstances.state,
        })
        .from(schema.taskInstances)
        .where(
          and(
            eq(schema.taskInstances.dagRunId, Number(run.id)),
            inArray(schema.taskInstances.taskId, targets),
          ),
        )
        // Locked: a state read here must still hold when it is changed below (a waiting sensor
        // can be claimed in between; a claim skips locked rows).
        .for('update');
      const selected = tis.filter(
        (ti) =>
          (!opts.onlyFailed || ti.state === 'failed' || ti.state === 'upstream_failed') &&
          (!opts.onlyRunning || ti.state === 'running'),
      );
      if (opts.dryRun) return { changes: [], cleared: [...new Set(selected.map((t) => t.taskId))] };
      const finished = selected.filter(
        (ti) =>
          TERMINAL_TASK_STATES.has(ti.state) ||
          ti.state === 'up_for_retry' ||
          ti.state === 'up_for_reschedule' ||
          ti.state === 'scheduled' ||
          ti.state === 'queued',
      );
      const running = selected.filter((ti) => ti.state === 'running');
      // A mapped task cleared as a whole goes back to one unexpanded instance (mapping.ts); with
      // onlyFailed, just its failed map indexes run again.
      if (!opts.onlyFailed) await resetMappedTasks(tx, Number(run.id), version, targets);
      const reason = `cleared by ${opts.actor}`;
      // Their retries count afresh, as in Airflow (max_tries = try_number + retries): the next try
      // is try_number + 1, and it may be retried as often as the task allows.
      const retriesOf = Object.fromEntries(
        targets.map((t) => [t, version.tasks.get(t)?.retries ?? 0]),
      );
      const retriesAfresh = sql`max_retries = t.try_number + coalesce((${JSON.stringify(retriesOf)}::jsonb ->> t.task_id)::int, 0)`;
      const changes: StateChange[] = [
        ...(await transitionTasks(
          tx,
          finished.map((t) => t.id),
          'none',
          {
            actor: opts.actor,
            reason,
            set: [
              sql`next_attempt_at = null`,
              // A cleared sensor starts over: a new try, and its timeout counts from it.
              sql`rescheduled = false`,
              sql`first_try_started_at = null`,
              sql`end_date = null`,
              sql`start_date = null`,
              sql`worker_id = null`,
              retriesAfresh,
            ],
          },
        )),
        ...(await transitionTasks(
          tx,
          running.map((t) => t.id),
          'restarting',
          { actor: opts.actor, reason, set: [sql`first_try_started_at = null`, retriesAfresh] },
        )),
      ];
      // A finished run is reopened only when something in it was cleared: clearing its failed
      // tasks when none failed leaves it as it was.
      if ((run.state === 'success' || run.state === 'failed') && changes.length > 0) {
        // It starts again when it runs again, as in Airflow: its duration and its dagrun_timeout
        // count from then, not from its first start (which would time it out at once).
        const change = await transitionRun(tx, Number(run.id), 'queued', {
          actor: opts.actor,
          reason,
          set: [sql`end_date = null`, sql`start_date = null`, sql`queued_at = ${now}`],
        });
        if (change) changes.push(change);
        changes.push(
          ...(await startQueuedRuns(tx, this.#versions, dagId, opts.actor, now)).changes,
        );
      } else if (run.state === 'running') {
        changes.push(
          ...(
            await advanceRun(tx, this.#versions, Number(run.id), opts.actor, now, { locked: true })
          ).changes,
        );
      }
      return { changes, cleared: [...new Set(selected.map((t) => t.taskId))] };
    });
    this.#emit(out.changes);
    return { cleared: out.cleared };
  }

  /** Marks task instances and, if asked, their upstream/downstream ones (ops/manual.ts). */
  async markTaskInstances(
    dagId: string,
    runId: string,
    taskIds: readonly string[],
    opts: MarkOptions,
  ): Promise<AffectedTaskInstance[]> {
    const out = await markTaskInstances(this.#r, this.#versions, dagId, runId, taskIds, opts);
    this.#emit(out.changes);
    return out.affected;
  }

  /** Marks a whole run success or failed (ops/manual.ts). */
  async markRun(dagId: string, runId: string, state: 'success' | 'failed', actor: string) {
    this.#emit(await markRun(this.#r, dagId, runId, state, actor));
  }

  /** Marks a task instance success or failed by hand (Airflow's "mark success/failed"). */
  async markTaskInstance(
    dagId: string,
    runId: string,
    taskId: string,
    state: 'success' | 'failed',
    actor: string,
    /** One instance of a mapped task; by default every instance of the task. */
    mapIndex?: number,
  ): Promise<void> {
    const changes = await this.#transaction(async (tx) => {
      const tis = rowsOf<{ id: number; dag_run_id: number; state: string }>(
        await tx.execute(sql`select t.id, t.dag_run_id, t.state from task_instances t
          where t.dag_id = ${dagId} and t.run_id = ${runId} and t.task_id = ${taskId}
            ${mapIndex === undefined ? sql`` : sql`and t.map_index = ${mapIndex}`}
          order by t.map_index`),
      );
      const ti = tis[0];
      if (!ti)
        throw new NotFoundError(
          `DAG "${dagId}" run "${runId}" has no task "${taskId}"${mapIndex === undefined ? '' : ` with map index ${mapIndex}`}`,
        );
      await tx.execute(sql`select id from dag_runs where id = ${ti.dag_run_id} for update`);
      const changed = await transitionTasks(
        tx,
        tis.map((t) => Number(t.id)),
        state,
        {
          actor,
          reason: `marked ${state} by ${actor}`,
          set: [sql`end_date = now()`, sql`next_attempt_at = null`],
        },
      );
      if (changed.length === 0)
        throw new ConflictError(`task "${taskId}" is ${ti.state} and cannot be marked ${state}`);
      const now = this.#r.clock.now();
      const runPk = Number(ti.dag_run_id);
      const advanced = await advanceRun(tx, this.#versions, runPk, actor, now, { locked: true });
      const reconciled = await reconcileFinishedRun(tx, this.#versions, runPk, actor, now);
      return [...changed, ...advanced.changes, ...reconciled];
    });
    this.#emit(changes);
  }
}

async function requireDag(tx: Queryable, dagId: string) {
  const [dag] = await tx.select().from(schema.dags).where(eq(schema.dags.dagId, dagId));
  if (!dag) throw new NotFoundError(`DAG "${dagId}" does not exist`);
  return dag;
}
