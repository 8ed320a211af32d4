/**
 * Run-level operations inside a transaction: creating a run with its task instances, starting
 * queued runs within max_active_runs, and advancing a run (deciding its task instances, queueing
 * what may run within max_active_tasks, finishing the run). The scheduler loop and the worker's
 * completion transaction share these, so downstream tasks are queued in the same transaction
 * that finishes their upstream.
 */
import { decideRun } from '@updraft/core/decisions';
import { type RunType, type TaskState, TERMINAL_TASK_STATES } from '@updraft/core/state';
import { type Queryable, rowsOf, schema } from '@updraft/db';
import { sql } from 'drizzle-orm';
import { CHANNELS } from './resources.ts';
import { recordEvents, type StateChange, transitionRun, transitionTasks } from './transitions.ts';
import type { LoadedVersion, VersionCache } from './versions.ts';

export interface NewRun {
  dagId: string;
  runId: string;
  runType: RunType;
  logicalDate: Date;
  dataIntervalStart: Date;
  dataIntervalEnd: Date;
  conf: Record<string, unknown>;
  triggeredBy: string;
  note?: string | null;
}

/** Inserts a queued run and a task instance (state none) for each task of the version. */
export async function createRun(
  tx: Queryable,
  version: LoadedVersion,
  run: NewRun,
  now: Date,
): Promise<{ id: number; changes: StateChange[] }> {
  const [row] = await tx
    .insert(schema.dagRuns)
    .values({
      dagId: run.dagId,
      runId: run.runId,
      dagVersionId: version.id,
      runType: run.runType,
      state: 'queued',
      logicalDate: run.logicalDate,
      dataIntervalStart: run.dataIntervalStart,
      dataIntervalEnd: run.dataIntervalEnd,
      conf: run.conf,
      triggeredBy: run.triggeredBy,
      note: run.note ?? null,
      queuedAt: now,
    })
    .returning({ id: schema.dagRuns.id });
  const runPk = row!.id;
  await tx.insert(schema.taskInstances).values(
    version.spec.tasks.map((task) => ({
      dagRunId: runPk,
      dagId: run.dagId,
      runId: run.runId,
      taskId: task.taskId,
      operator: task.type,
      pool: task.pool,
      maxRetries: task.retries,
      priorityWeight: version.priorities.get(task.taskId) ?? task.priorityWeight,
    })),
  );
  const change: StateChange = {
    entity: 'dag_run',
    id: runPk,
    dagId: run.dagId,
    runId: run.runId,
    taskId: null,
    mapIndex: null,
    tryNumber: null,
    from: 'none',
    to: 'queued',
    actor: run.triggeredBy,
    reason: `${run.runType} run created`,
  };
  await recordEvents(tx, [change]);
  return { id: runPk, changes: [change] };
}

/** Transaction-scoped lock on one DAG: serialises decisions that count against its limits. */
export async function lockDag(tx: Queryable, dagId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`updraft:dag:${dagId}`}))`);
}

export interface AdvanceResult {
  changes: StateChange[];
  queued: number;
  runFinished: boolean;
}

/**
 * Starts queued runs of a DAG, oldest logical date first, while fewer than max_active_runs are
 * running; then advances each started run so its first tasks are queued at once.
 */
export async function startQueuedRuns(
  tx: Queryable,
  versions: VersionCache,
  dagId: string,
  actor: string,
  now: Date,
): Promise<AdvanceResult> {
  await lockDag(tx, dagId);
  const [limits] = rowsOf<{ max_active_runs: number; is_paused: boolean; running: number }>(
    await tx.execute(sql`
      select d.max_active_runs, d.is_paused,
        (select count(*)::int from dag_runs r where r.dag_id = d.dag_id and r.state = 'running') as running
      from dags d where d.dag_id = ${dagId}`),
  );
  const total: AdvanceResult = { changes: [], queued: 0, runFinished: false };
  // A paused DAG starts nothing new: its queued runs wait until it is unpaused.
  if (!limits || limits.is_paused) return total;
  const room = limits.max_active_runs - limits.running;
  if (room <= 0) return total;
  const candidates = rowsOf<{ id: number }>(
    await tx.execute(sql`
      select id from dag_runs where dag_id = ${dagId} and state = 'queued'
      order by logical_date, id limit ${room} for update skip locked`),
  );
  for (const { id } of candidates) {
    const change = await transitionRun(tx, Number(id), 'running', {
      actor,
      reason: 'run started',
      set: [sql`start_date = coalesce(start_date, ${now})`],
    });
    if (!change) continue;
    total.changes.push(change);
    const advanced = await advanceRun(tx, versions, Number(id), actor, now, { locked: true });
    total.changes.push(...advanced.changes);
    total.queued += advanced.queued;
    total.runFinished ||= advanced.runFinished;
  }
  return total;
}

interface RunRow {
  id: number;
  dag_id: string;
  run_id: string;
  state: string;
  dag_version_id: number;
  start_date: Date | string | null;
}

interface TiRow {
  id: number;
  task_id: string;
  state: TaskState;
  next_attempt_at: Date | string | null;
}

/**
 * Decides a running run's task instances and applies the decisions: schedule what is ready, skip
 * or fail what never can run, queue within limits, and finish the run when nothing is left.
 * Locks the run row unless the caller already holds it.
 */
export async function advanceRun(
  tx: Queryable,
  versions: VersionCache,
  runPk: number,
  actor: string,
  now: Date,
  opts: {
    locked?: boolean;
    /** Record the decision time (the scheduler orders runs by it); default true. */
    touch?: boolean;
    /** NOTIFY workers about queued task instances; default true. */
    notifyQueued?: boolean;
  } = {},
): Promise<AdvanceResult> {
  const result: AdvanceResult = { changes: [], queued: 0, runFinished: false };
  const [run] = rowsOf<RunRow>(
    await tx.execute(
      opts.locked
        ? sql`select id, dag_id, run_id, state, dag_version_id, start_date from dag_runs where id = ${runPk}`
        : sql`select id, dag_id, run_id, state, dag_version_id, start_date from dag_runs where id = ${runPk} for update`,
    ),
  );
  if (run?.state !== 'running') return result;
  const version = await versions.get(tx, Number(run.dag_version_id));
  const timeoutMs = version.spec.runTimeoutMs ?? null;
  if (
    timeoutMs !== null &&
    run.start_date &&
    new Date(run.start_date).getTime() + timeoutMs <= now.getTime()
  ) {
    return timeOutRun(tx, run, timeoutMs, actor, now);
  }
  const tis = rowsOf<TiRow>(
    await tx.execute(
      sql`select id, task_id, state, next_attempt_at from task_instances where dag_run_id = ${runPk} and map_index = -1`,
    ),
  );
  const idOf = new Map(tis.map((ti) => [ti.task_id, Number(ti.id)]));
  const decisions = decideRun(
    version.spec.tasks,
    tis.map((ti) => ({
      taskId: ti.task_id,
      state: ti.state,
      nextAttemptAt: ti.next_attempt_at ? new Date(ti.next_attempt_at) : null,
    })),
    now,
  );
  for (const d of decisions.skip) {
    result.changes.push(
      ...(await transitionTasks(tx, [idOf.get(d.taskId)!], 'skipped', {
        actor,
        reason: d.reason,
        set: [sql`end_date = ${now}`],
      })),
    );
  }
  for (const d of decisions.upstreamFailed) {
    result.changes.push(
      ...(await transitionTasks(tx, [idOf.get(d.taskId)!], 'upstream_failed', {
        actor,
        reason: d.reason,
        set: [sql`end_date = ${now}`],
      })),
    );
  }
  if (decisions.schedule.length > 0) {
    result.changes.push(
      ...(await transitionTasks(
        tx,
        decisions.schedule.map((d) => idOf.get(d.taskId)!),
        'scheduled',
        { actor, reason: 'dependencies met', set: [sql`next_attempt_at = null`] },
      )),
    );
    const queued = await queueScheduled(tx, run.dag_id, actor, now, {
      notify: opts.notifyQueued ?? true,
    });
    result.changes.push(...queued);
    result.queued += queued.length;
  }
  if (decisions.finalRunState) {
    // Re-check against the database: the decision was made on the snapshot above.
    const [left] = rowsOf<{ n: number }>(
      await tx.execute(sql`select count(*)::int as n from task_instances where dag_run_id = ${runPk}
        and state not in (${sql.join(
          [...TERMINAL_TASK_STATES].map((s) => sql`${s}`),
          sql`, `,
        )})`),
    );
    const deadlock = decisions.finalReason?.startsWith('deadlock') ?? false;
    if ((left?.n ?? 0) === 0 || deadlock) {
      const change = await transitionRun(tx, runPk, decisions.finalRunState, {
        actor,
        reason: decisions.finalReason,
        set: [sql`end_date = ${now}`],
      });
      if (change) {
        result.changes.push(change);
        result.runFinished = true;
        await tx.execute(sql`select pg_notify(${CHANNELS.scheduler}, ${run.dag_id})`);
      }
    }
  }
  if (opts.touch ?? true) {
    await tx.execute(
      sql`update dag_runs set last_scheduling_decision = ${now} where id = ${runPk}`,
    );
  }
  return result;
}

/**
 * Queues scheduled task instances of a DAG in priority order while fewer than max_active_tasks are
 * queued or running. Rows locked by another transaction are skipped, never waited for: whoever
 * holds them, or the next scheduler loop, queues them.
 */
export async function queueScheduled(
  tx: Queryable,
  dagId: string,
  actor: string,
  now: Date,
  opts: { notify?: boolean } = {},
): Promise<StateChange[]> {
  await lockDag(tx, dagId);
  const [limits] = rowsOf<{ max_active_tasks: number; is_paused: boolean; active: number }>(
    await tx.execute(sql`
      select d.max_active_tasks, d.is_paused,
        (select count(*)::int from task_instances t where t.dag_id = d.dag_id and t.state in ('queued', 'running')) as active
      from dags d where d.dag_id = ${dagId}`),
  );
  // Pausing stops new task instances from being queued; running ones finish.
  if (!limits || limits.is_paused) return [];
  const room = limits.max_active_tasks - limits.active;
  if (room <= 0) return [];
  const candidates = rowsOf<{ id: number }>(
    await tx.execute(sql`
      select t.id from task_instances t join dag_runs r on r.id = t.dag_run_id
      where t.dag_id = ${dagId} and t.state = 'scheduled' and r.state = 'running'
      order by t.priority_weight desc, r.logical_date, t.id
      limit ${room} for update of t skip locked`),
  );
  const changes = await transitionTasks(
    tx,
    candidates.map((c) => Number(c.id)),
    'queued',
    { actor, reason: 'slot available', from: ['scheduled'], set: [sql`queued_at = ${now}`] },
  );
  if (changes.length > 0 && (opts.notify ?? true)) {
    await tx.execute(sql`select pg_notify(${CHANNELS.taskQueued}, '')`);
  }
  return changes;
}

/**
 * After a manual change to a finished run (a task marked success or failed), recompute the run's
 * final state from its leaves, as the scheduler would have.
 */
export async function reconcileFinishedRun(
  tx: Queryable,
  versions: VersionCache,
  runPk: number,
  actor: string,
  now: Date,
): Promise<StateChange[]> {
  const [run] = rowsOf<RunRow>(
    await tx.execute(
      sql`select id, dag_id, run_id, state, dag_version_id, start_date from dag_runs where id = ${runPk}`,
    ),
  );
  if (!run || (run.state !== 'success' && run.state !== 'failed')) return [];
  const version = await versions.get(tx, Number(run.dag_version_id));
  const tis = rowsOf<TiRow>(
    await tx.execute(
      sql`select id, task_id, state, next_attempt_at from task_instances where dag_run_id = ${runPk} and map_index = -1`,
    ),
  );
  const decisions = decideRun(
    version.spec.tasks,
    tis.map((ti) => ({ taskId: ti.task_id, state: ti.state, nextAttemptAt: null })),
    now,
  );
  if (!decisions.finalRunState || decisions.finalRunState === run.state) return [];
  const change = await transitionRun(tx, runPk, decisions.finalRunState, {
    actor,
    reason: decisions.finalReason,
    set: [sql`end_date = ${now}`],
  });
  return change ? [change] : [];
}

/**
 * A run past its run timeout fails; every unfinished task instance is skipped. Running ones are
 * stopped by their worker, whose heartbeat sees the change.
 */
async function timeOutRun(
  tx: Queryable,
  run: RunRow,
  timeoutMs: number,
  actor: string,
  now: Date,
): Promise<AdvanceResult> {
  const reason = `run timed out after ${timeoutMs} ms`;
  const unfinished = rowsOf<{ id: number }>(
    await tx.execute(sql`select id from task_instances where dag_run_id = ${run.id}
      and state not in (${sql.join(
        [...TERMINAL_TASK_STATES].map((s) => sql`${s}`),
        sql`, `,
      )})`),
  ).map((r) => Number(r.id));
  const changes = await transitionTasks(tx, unfinished, 'skipped', {
    actor,
    reason,
    set: [sql`end_date = ${now}`],
  });
  const runChange = await transitionRun(tx, Number(run.id), 'failed', {
    actor,
    reason,
    set: [sql`end_date = ${now}`],
  });
  if (runChange) {
    changes.push(runChange);
    await tx.execute(sql`select pg_notify(${CHANNELS.scheduler}, ${run.dag_id})`);
  }
  return { changes, queued: 0, runFinished: runChange !== null };
}
