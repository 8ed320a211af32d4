/**
 * Run-level operations inside a transaction: creating a run with its task instances, starting
 * queued runs within max_active_runs, and advancing a run (deciding its task instances, queueing
 * what may run within max_active_tasks, finishing the run). The scheduler loop and the worker's
 * completion transaction share these, so downstream tasks are queued in the same transaction
 * that finishes their upstream.
 */
import { deadlineFor } from '@updraft/core/callbacks';
import {
  decideRun,
  noDecisions,
  type RunDecisions,
  type StateDecision,
} from '@updraft/core/decisions';
import { type RunType, type TaskState, TERMINAL_TASK_STATES } from '@updraft/core/state';
import { pipeline, type Queryable, rowsOf, schema } from '@updraft/db';
import { sql } from 'drizzle-orm';
import { backfillRunsToStart } from './backfill.ts';
import { requestCallbacks } from './callbacks.ts';
import { expandMappedTasks } from './mapping.ts';
import { loadPreviousRunStates } from './past.ts';
import {
  lockDagSql,
  type QueueOptions,
  queueAtOnce,
  queueingLocksSql,
  queueingReadsSql,
  queueScheduledInPools,
  type Rider,
} from './pools.ts';
import { CHANNELS } from './resources.ts';
import {
  intArray,
  recordEvents,
  type StateChange,
  type Statement,
  type TaskTransitionOptions,
  textArray,
  transitionRun,
  transitionTasks,
  transitionTasksStatement,
} from './transitions.ts';
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
  const [created] = await createRuns(tx, version, [run], now);
  return created!;
}

/** Runs created per statement by createRuns: well under PostgreSQL's 65,535 parameters. */
const RUNS_PER_STATEMENT = 500;

/**
 * createRun for many runs of one version (a backfill): a few statements per 500 runs instead of
 * three per run, which made a backfill of thousands of runs take a minute (and, on the embedded
 * database, stopped everything else in the process meanwhile). Returns the runs in order.
 */
export async function createRuns(
  tx: Queryable,
  version: LoadedVersion,
  runs: readonly (NewRun & { backfillId?: number })[],
  now: Date,
): Promise<{ id: number; changes: StateChange[] }[]> {
  const out: { id: number; changes: StateChange[] }[] = [];
  const { tasks } = version.spec;
  // One fixed statement with a column of arrays, not one parameter per cell: Drizzle's insert
  // builder spent ~30 ms of CPU building a 500-task DAG's rows (bench W3), and the text never
  // repeated, so it could not be prepared.
  const column = (f: (t: (typeof tasks)[number]) => number) => intArray(tasks.map(f), 'int');
  const taskColumns = sql`${textArray(tasks.map((t) => t.taskId))}, ${textArray(tasks.map((t) => t.type))},
      ${textArray(tasks.map((t) => t.pool))}, ${column((t) => t.poolSlots ?? 1)},
      ${column((t) => t.retries)},
      ${column((t) => version.priorities.get(t.taskId) ?? t.priorityWeight)}`;
  for (let from = 0; from < runs.length; from += RUNS_PER_STATEMENT) {
    const chunk = runs.slice(from, from + RUNS_PER_STATEMENT);
    const rows = await tx
      .insert(schema.dagRuns)
      .values(
        chunk.map((run) => ({
          dagId: run.dagId,
          runId: run.runId,
          dagVersionId: version.id,
          runType: run.runType,
          state: 'queued' as const,
          logicalDate: run.logicalDate,
          dataIntervalStart: run.dataIntervalStart,
          dataIntervalEnd: run.dataIntervalEnd,
          conf: run.conf,
          triggeredBy: run.triggeredBy,
          note: run.note ?? null,
          queuedAt: now,
          deadlineAt: deadlineFor(version.spec.deadline, { ...run, queuedAt: now }),
          ...(run.backfillId !== undefined && { backfillId: run.backfillId }),
        })),
      )
      .returning({ id: schema.dagRuns.id, runId: schema.dagRuns.runId });
    const idOf = new Map(rows.map((r) => [`${r.runId}`, r.id]));
    const ids = chunk.map((run) => idOf.get(run.runId)!);
    await tx.execute(sql`
      insert into task_instances (dag_run_id, dag_id, run_id, logical_date, task_id, operator, pool,
        pool_slots, max_retries, priority_weight)
      select r.id, r.dag_id, r.run_id, r.logical_date,
        t.task_id, t.operator, t.pool, t.pool_slots, t.max_retries, t.priority_weight
      from unnest(${intArray(ids)}, ${textArray(chunk.map((r) => r.dagId))},
        ${textArray(chunk.map((r) => r.runId))},
        ${textArray(chunk.map((r) => r.logicalDate.toISOString()))}::timestamptz[])
        with ordinality as r(id, dag_id, run_id, logical_date, n)
      cross join unnest(${taskColumns}) with ordinality
        as t(task_id, operator, pool, pool_slots, max_retries, priority_weight, n)
      order by r.n, t.n`);
    const changes = chunk.map(
      (run, i): StateChange => ({
        entity: 'dag_run',
        id: ids[i]!,
        dagId: run.dagId,
        runId: run.runId,
        taskId: null,
        mapIndex: null,
        tryNumber: null,
        from: 'none',
        to: 'queued',
        actor: run.triggeredBy,
        reason: `${run.runType} run created`,
      }),
    );
    await recordEvents(tx, changes);
    out.push(...changes.map((change) => ({ id: change.id, changes: [change] })));
  }
  return out;
}

/** Transaction-scoped lock on one DAG: serialises decisions that count against its limits. */
export async function lockDag(tx: Queryable, dagId: string): Promise<void> {
  await tx.execute(lockDagSql(dagId));
}

/**
 * The locks of several DAGs, in one round trip and in name order, before deciding their runs in
 * one transaction (a worker's batch). Taken one at a time, a DAG's lock would be awaited while
 * holding the pool lock of the DAG decided before it, and a transaction holding that DAG and
 * waiting for the pool would deadlock with it: no DAG's lock is awaited while a pool's is held.
 * Pools are still taken run by run (each run's in name order), so two batches whose runs use two
 * pools in opposite orders can deadlock; PostgreSQL breaks it and the batch is recorded again.
 */
export async function lockDags(tx: Queryable, dagIds: Iterable<string>): Promise<void> {
  const sorted = [...new Set(dagIds)].sort();
  if (sorted.length > 0) await pipeline(tx, sorted.map(lockDagSql));
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
        (select count(*)::int from dag_runs r where r.dag_id = d.dag_id and r.state = 'running'
          and r.backfill_id is null) as running
      from dags d where d.dag_id = ${dagId}`),
  );
  const total: AdvanceResult = { changes: [], queued: 0, runFinished: false };
  // A paused DAG starts nothing new: its queued runs wait until it is unpaused.
  if (!limits || limits.is_paused) return total;
  // Scheduled and manual runs count against the DAG's max_active_runs; each backfill's runs
  // against the backfill's own (backfill.ts).
  const room = limits.max_active_runs - limits.running;
  const candidates =
    room <= 0
      ? []
      : rowsOf<{ id: number }>(
          await tx.execute(sql`
      select id from dag_runs where dag_id = ${dagId} and state = 'queued' and backfill_id is null
      order by logical_date, id limit ${room} for update skip locked`),
        );
  for (const { id } of [...candidates, ...(await backfillRunsToStart(tx, dagId))]) {
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

/** The columns of a run advanceRun works with (see `lockedRow`). */
export const RUN_ROW_COLUMNS = sql.raw(
  'id, dag_id, run_id, state, dag_version_id, start_date, logical_date',
);

export interface RunRow {
  id: number;
  dag_id: string;
  run_id: string;
  state: string;
  dag_version_id: number;
  start_date: Date | string | null;
  logical_date?: Date | string;
}

/** A task instance as a run's decision reads it. */
export interface TiRow {
  id: number;
  task_id: string;
  map_index: number;
  state: TaskState;
  next_attempt_at: Date | string | null;
}

/** A run's task instances as advanceRun reads them (see its `tis`): all, or those of some tasks. */
export function runTaskInstancesSql(runPk: number, taskIds?: readonly string[]) {
  return sql`select id, task_id, map_index, state, next_attempt_at from task_instances
    where dag_run_id = ${runPk}${taskIds ? sql` and task_id = any(${textArray(taskIds)})` : sql``}`;
}

/** Whether any task instance of the run is unfinished (`open`). */
export function runIsOpenSql(runPk: number) {
  return sql`select exists(select 1 from task_instances where dag_run_id = ${runPk}
    and state <> all(${`{${[...TERMINAL_TASK_STATES].join(',')}}`}::text[])) as open`;
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
    /** The run's row as the caller read it while locking it (RUN_ROW_COLUMNS): saves a read. */
    lockedRow?: RunRow;
    /** Record the decision time (the scheduler orders runs by it); default true. */
    touch?: boolean;
    /** NOTIFY workers about queued task instances; default true. */
    notifyQueued?: boolean;
    /** Pools served in this transaction (see QueueOptions). */
    served?: Set<string>;
    /** Sent with the first transition to queued (see Rider). */
    rider?: Rider;
    /** The run's task instances, read by the caller in this transaction after its changes. */
    tis?: TiRow[];
    /**
     * Decide only these tasks (the downstream tasks of tries that just succeeded); `tis` then
     * holds only them and their upstream tasks. Anything beyond scheduling them (a skip, an
     * upstream failure, an expansion, nothing to schedule) is decided over the whole run.
     */
    only?: ReadonlySet<string>;
  } = {},
): Promise<AdvanceResult> {
  const result: AdvanceResult = { changes: [], queued: 0, runFinished: false };
  const [run] = opts.lockedRow
    ? [opts.lockedRow]
    : rowsOf<RunRow>(
        await tx.execute(
          opts.locked
            ? sql`select id, dag_id, run_id, state, dag_version_id, start_date, logical_date from dag_runs where id = ${runPk}`
            : sql`select id, dag_id, run_id, state, dag_version_id, start_date, logical_date from dag_runs where id = ${runPk} for update`,
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
    const timedOut = await timeOutRun(tx, run, timeoutMs, actor, now);
    // The run's on_failure callback; its tasks were stopped, not failed by a try: none of theirs.
    await requestCallbacks(
      tx,
      versions,
      timedOut.changes.filter((c) => c.entity === 'dag_run'),
      { versionId: version.id },
    );
    return timedOut;
  }
  // Decide, apply, and expand mapped tasks whose dependencies are met; an expansion that ends a
  // task (an empty list skips it, a too long one fails it) calls for another decision at once.
  let decisions: RunDecisions;
  let scheduledAny = false;
  // The pools just scheduled into: queueing looks only there (other waiting work is served when
  // slots free, and by the scheduler's pass). Unknown after an expansion.
  let pools: Set<string> | undefined = new Set();
  // The last decision's scheduling, run below together with the queueing's first reads.
  let scheduling: Statement<StateChange[]> | null = null;
  let scheduled: { id: number; taskId: string }[] = [];
  for (let pass = 0; ; pass++) {
    const step = await decideAndApply(
      tx,
      version,
      run,
      actor,
      now,
      pass === 0 ? opts.tis : undefined,
      pass === 0 ? opts.only : undefined,
    );
    decisions = step.decisions;
    result.changes.push(...step.changes);
    scheduledAny ||= decisions.schedule.length > 0;
    for (const d of decisions.schedule) pools?.add(version.tasks.get(d.taskId)?.pool ?? '');
    if (pools?.has('')) pools = undefined;
    if (decisions.expand.length === 0) {
      scheduling = step.scheduling;
      scheduled = step.scheduled;
      break;
    }
    if (step.scheduling)
      result.changes.push(...step.scheduling.parse(await tx.execute(step.scheduling.sql)));
    const expanded = await expandMappedTasks(
      tx,
      { id: runPk, dagId: run.dag_id },
      version,
      decisions.expand,
      actor,
      now,
    );
    result.changes.push(...expanded.changes);
    scheduledAny ||= expanded.scheduled > 0;
    if (expanded.scheduled > 0) pools = undefined;
    if (!expanded.ended || pass > version.spec.tasks.length) break;
  }
  if (scheduledAny) {
    // One round trip: the scheduling, then the DAG's and the pools' locks and reads. On a
    // worker's hand-off, the locks, then the scheduling that queues at once where nothing could
    // have been picked instead (see queueAtOnce), with the claim riding behind it; only if it
    // queues nothing does picking read.
    const poolList = pools && [...pools];
    const rider = opts.rider?.sent === false ? opts.rider : undefined;
    const pool = poolList?.length === 1 ? poolList[0]! : undefined;
    let handOff: { pool: string; rider: Rider; scheduling: Statement<StateChange[]> } | null = null;
    if (scheduling && rider && pool !== undefined) {
      const instead = queueAtOnce(version, run.dag_id, pool, scheduled, now);
      if (instead)
        handOff = { pool, rider, scheduling: schedulingStatement(scheduled, actor, instead)! };
    }
    let queued: StateChange[] = [];
    /** What picking reads, when it was sent in the round trip above. */
    let reads: unknown[] | undefined;
    if (handOff) {
      const locks = queueingLocksSql(run.dag_id, handOff.pool);
      const results = await pipeline(tx, [...locks, handOff.scheduling.sql, handOff.rider.build()]);
      handOff.rider.sent = true;
      handOff.rider.result = results[locks.length + 1];
      const changes = handOff.scheduling.parse(results[locks.length]);
      result.changes.push(...changes);
      queued = changes.filter((c) => c.to === 'queued');
      if (queued.length > 0) opts.served?.add(handOff.pool);
    } else {
      const results = await pipeline(tx, [
        ...(scheduling ? [scheduling.sql] : []),
        ...queueingReadsSql(run.dag_id, poolList),
      ]);
      if (scheduling) result.changes.push(...scheduling.parse(results[0]));
      reads = results.slice(scheduling ? 1 : 0);
    }
    // Not queued at once: picked as usual, from the reads (read now, under the same locks, after
    // a hand-off's scheduling). A claim already sent counts what this queues as unseen, for the
    // worker to announce.
    if (queued.length === 0) {
      queued = await queueScheduled(tx, run.dag_id, actor, now, {
        notify: opts.notifyQueued ?? true,
        versions,
        ...(poolList && { pools: poolList }),
        ...(opts.served && { served: opts.served }),
        ...(opts.rider && { rider: opts.rider }),
        ...(reads && { reads }),
      });
      result.changes.push(...queued);
    }
    result.queued += queued.length;
  }
  if (decisions.finalRunState) {
    // Re-check against the database: the decision was made on the snapshot above.
    const [left] = rowsOf<{ open: boolean }>(await tx.execute(runIsOpenSql(runPk)));
    const deadlock = decisions.finalReason?.startsWith('deadlock') ?? false;
    if (!left?.open || deadlock) {
      const change = await transitionRun(tx, runPk, decisions.finalRunState, {
        actor,
        reason: decisions.finalReason,
        set: [sql`end_date = ${now}`],
      });
      if (change) {
        result.changes.push(change);
        result.runFinished = true;
        await requestCallbacks(tx, versions, [change], { versionId: version.id });
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
 * One decision over every task instance of the run (all map indexes), applied: skips, upstream
 * failures and newly scheduled instances. Expansion of mapped tasks is left to the caller.
 * The previous run's states are loaded only when a pending task has depends_on_past.
 */
async function decideAndApply(
  tx: Queryable,
  version: LoadedVersion,
  run: RunRow,
  actor: string,
  now: Date,
  prefetched?: TiRow[],
  only?: ReadonlySet<string>,
): Promise<{
  decisions: RunDecisions;
  changes: StateChange[];
  /** Moving the decided task instances to scheduled: for the caller to run. */
  scheduling: Statement<StateChange[]> | null;
  /** The task instances `scheduling` moves. */
  scheduled: { id: number; taskId: string }[];
}> {
  const decide = async (tis: TiRow[]) => {
    const pending = new Set(tis.filter((ti) => ti.state === 'none').map((ti) => ti.task_id));
    const previous =
      run.logical_date === undefined
        ? undefined
        : await loadPreviousRunStates(
            tx,
            { id: Number(run.id), dagId: run.dag_id, logicalDate: new Date(run.logical_date) },
            version.spec.tasks,
            pending,
          );
    return decideRun(
      version.spec.tasks,
      tis.map((ti) => ({
        taskId: ti.task_id,
        mapIndex: Number(ti.map_index),
        state: ti.state,
        nextAttemptAt: ti.next_attempt_at ? new Date(ti.next_attempt_at) : null,
      })),
      now,
      { previous },
    );
  };
  const readAll = async () => rowsOf<TiRow>(await tx.execute(runTaskInstancesSql(Number(run.id))));
  let tis = prefetched ?? (await readAll());
  let decisions = await decide(tis);
  if (only) {
    // Only the listed tasks count (their scheduling and waiting); the rest of the run was not read.
    const mine = <T extends { taskId: string }>(list: T[]) =>
      list.filter((d) => only.has(d.taskId));
    const schedule = mine(decisions.schedule);
    const waiting = mine(decisions.waiting);
    // Only these tasks' inputs changed: with no skip or failure to propagate, their decisions are
    // the run's. A task still waiting for another upstream task is one of them: deciding the
    // whole run for it made each hand-off cost as much as the run is large (a 5,000-task DAG of
    // joins: 477 task instances per second).
    const simple =
      schedule.length + waiting.length > 0 &&
      mine(decisions.skip).length === 0 &&
      mine(decisions.upstreamFailed).length === 0 &&
      mine(decisions.expand).length === 0;
    if (simple) {
      decisions = { ...noDecisions(), schedule, waiting };
    } else {
      tis = await readAll();
      decisions = await decide(tis);
    }
  }
  const key = (taskId: string, mapIndex: number) => `${taskId}#${mapIndex}`;
  const idOf = new Map(tis.map((ti) => [key(ti.task_id, Number(ti.map_index)), Number(ti.id)]));
  const ids = (list: StateDecision[]) => list.map((d) => idOf.get(key(d.taskId, d.mapIndex))!);
  const changes: StateChange[] = [];
  // Held back by the previous run: say why on the task instance (written only when it changes).
  for (const d of decisions.waiting) {
    if (!/^(depends_on_past|wait_for_downstream):/.test(d.reason)) continue;
    await tx.execute(sql`update task_instances set state_reason = ${d.reason}
      where id = ${idOf.get(key(d.taskId, d.mapIndex))!} and state = 'none'
        and state_reason is distinct from ${d.reason}`);
  }
  for (const d of decisions.skip) {
    changes.push(
      ...(await transitionTasks(tx, ids([d]), 'skipped', {
        actor,
        reason: d.reason,
        set: [sql`end_date = ${now}`],
      })),
    );
  }
  for (const d of decisions.upstreamFailed) {
    changes.push(
      ...(await transitionTasks(tx, ids([d]), 'upstream_failed', {
        actor,
        reason: d.reason,
        set: [sql`end_date = ${now}`],
      })),
    );
  }
  const scheduled = decisions.schedule.map((d) => ({
    id: idOf.get(key(d.taskId, d.mapIndex))!,
    taskId: d.taskId,
  }));
  return { decisions, changes, scheduling: schedulingStatement(scheduled, actor), scheduled };
}

/** Moves decided task instances to scheduled, or with `instead` maybe straight to queued. */
function schedulingStatement(
  tis: readonly { id: number }[],
  actor: string,
  instead?: TaskTransitionOptions['instead'],
): Statement<StateChange[]> | null {
  return transitionTasksStatement(
    tis.map((t) => t.id),
    'scheduled',
    {
      actor,
      reason: 'dependencies met',
      set: [sql`next_attempt_at = null`],
      ...(instead && { instead }),
    },
  );
}

/**
 * Queues scheduled task instances of a DAG in priority order within its pools' free slots,
 * max_active_tasks, the per-run limit and per-task limits (see pools.ts). Rows locked by another
 * transaction are skipped, never waited for: whoever holds them, or the next scheduler loop,
 * queues them.
 */
export async function queueScheduled(
  tx: Queryable,
  dagId: string,
  actor: string,
  now: Date,
  opts: QueueOptions = {},
): Promise<StateChange[]> {
  return queueScheduledInPools(tx, dagId, actor, now, opts);
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
  const tis = rowsOf<TiRow>(await tx.execute(runTaskInstancesSql(runPk)));
  const decisions = decideRun(
    version.spec.tasks,
    tis.map((ti) => ({
      taskId: ti.task_id,
      mapIndex: Number(ti.map_index),
      state: ti.state,
      nextAttemptAt: null,
    })),
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
