/**
 * Manual state changes with Airflow's options: the tasks to act on plus their upstream and/or
 * downstream tasks (`withRelatives`), and marking several task instances success or failed at once
 * (Airflow's "mark success/failed" with upstream/downstream), optionally as a dry run that only
 * says what would change.
 */
import { ConflictError, NotFoundError } from '@updraft/core/errors';
import { retriedTransaction, rowsOf } from '@updraft/db';
import { sql } from 'drizzle-orm';
import type { EngineResources } from '../resources.ts';
import { advanceRun, reconcileFinishedRun } from '../runs.ts';
import { type StateChange, transitionRun, transitionTasks } from '../transitions.ts';
import type { VersionCache } from '../versions.ts';

/** The given task ids plus everything upstream and/or downstream of them (transitively). */
export function withRelatives(
  tasks: readonly { taskId: string; upstream: readonly string[] }[],
  taskIds: readonly string[],
  opts: { upstream?: boolean; downstream?: boolean },
): string[] {
  const all = new Set(taskIds);
  const upstreamOf = new Map(tasks.map((t) => [t.taskId, t.upstream]));
  const downstreamOf = new Map<string, string[]>(tasks.map((t) => [t.taskId, []]));
  for (const t of tasks) for (const up of t.upstream) downstreamOf.get(up)?.push(t.taskId);
  const walk = (next: (id: string) => readonly string[]) => {
    const todo = [...taskIds];
    while (todo.length > 0) {
      for (const n of next(todo.pop()!)) {
        if (!all.has(n)) {
          all.add(n);
          todo.push(n);
        }
      }
    }
  };
  if (opts.downstream) walk((id) => downstreamOf.get(id) ?? []);
  if (opts.upstream) walk((id) => upstreamOf.get(id) ?? []);
  // In DAG order (as declared), for stable output.
  return tasks.map((t) => t.taskId).filter((id) => all.has(id));
}

export interface MarkOptions {
  state: 'success' | 'failed';
  upstream?: boolean;
  downstream?: boolean;
  /** Only say what would change. */
  dryRun?: boolean;
  /** One instance of a mapped task (applies to the named tasks only). */
  mapIndex?: number;
  actor: string;
}

export interface AffectedTaskInstance {
  taskId: string;
  mapIndex: number;
  from: string;
}

/**
 * Marks task instances of a run (and, if asked, their upstream/downstream tasks) success or
 * failed, in one transaction; those already in that state are left alone. Running ones are
 * stopped by their worker (its heartbeat sees the change). The run is then advanced (or its
 * final state recomputed if it had finished).
 */
export async function markTaskInstances(
  r: EngineResources,
  versions: VersionCache,
  dagId: string,
  runId: string,
  taskIds: readonly string[],
  opts: MarkOptions,
): Promise<{ affected: AffectedTaskInstance[]; changes: StateChange[] }> {
  return retriedTransaction(r.database.db, async (tx) => {
    const [run] = rowsOf<{ id: number; dag_version_id: number }>(
      await tx.execute(sql`select id, dag_version_id from dag_runs
        where dag_id = ${dagId} and run_id = ${runId} for update`),
    );
    if (!run) throw new NotFoundError(`DAG "${dagId}" has no run "${runId}"`);
    const version = await versions.get(tx, Number(run.dag_version_id));
    const unknown = taskIds.filter((t) => !version.tasks.has(t));
    if (unknown.length > 0)
      throw new NotFoundError(
        `DAG "${dagId}" has no task ${unknown.map((t) => `"${t}"`).join(', ')}`,
      );
    const targets = withRelatives(version.spec.tasks, taskIds, opts);
    const named = new Set(taskIds);
    const rows = rowsOf<{ id: number; task_id: string; map_index: number; state: string }>(
      await tx.execute(sql`select id, task_id, map_index, state from task_instances
        where dag_run_id = ${run.id} and task_id in (${sql.join(
          targets.map((t) => sql`${t}`),
          sql`, `,
        )}) order by id`),
    ).filter(
      (ti) =>
        opts.mapIndex === undefined ||
        !named.has(ti.task_id) ||
        Number(ti.map_index) === opts.mapIndex,
    );
    // As PATCH of one task instance answers: a map index a named task does not have is not found,
    // not an empty success.
    if (opts.mapIndex !== undefined) {
      const missing = taskIds.filter((t) => !rows.some((ti) => ti.task_id === t));
      if (missing.length > 0)
        throw new NotFoundError(
          `run "${runId}" of DAG "${dagId}" has no task instance ${missing.map((t) => `"${t}"[${opts.mapIndex}]`).join(', ')}`,
        );
    }
    const tis = rows.filter((ti) => ti.state !== opts.state);
    const affected = tis.map((ti) => ({
      taskId: ti.task_id,
      mapIndex: Number(ti.map_index),
      from: ti.state,
    }));
    if (opts.dryRun || tis.length === 0) return { affected, changes: [] };
    const changes = await transitionTasks(
      tx,
      tis.map((ti) => Number(ti.id)),
      opts.state,
      {
        actor: opts.actor,
        reason: `marked ${opts.state} by ${opts.actor}`,
        // A finished task waits for nothing: no retry or reschedule time is left behind.
        set: [sql`end_date = ${r.clock.now()}`, sql`next_attempt_at = null`],
      },
    );
    const now = r.clock.now();
    const advanced = await advanceRun(tx, versions, Number(run.id), opts.actor, now, {
      locked: true,
    });
    const reconciled = await reconcileFinishedRun(tx, versions, Number(run.id), opts.actor, now);
    const applied = new Set(changes.map((c) => c.id));
    return {
      affected: affected.filter((_, i) => applied.has(Number(tis[i]!.id))),
      changes: [...changes, ...advanced.changes, ...reconciled],
    };
  });
}

/** States a task instance is in before it ends (marking a run touches these). */
const UNFINISHED = [
  'none',
  'scheduled',
  'queued',
  'running',
  'restarting',
  'up_for_retry',
  'up_for_reschedule',
  'deferred',
] as const;

/**
 * Marks a whole run (Airflow's PATCH dagRun state). success: every task instance not yet success
 * becomes success. failed: running ones fail, the other unfinished ones are skipped. Running ones
 * are stopped by their worker. No callbacks fire: a person set the outcome.
 */
export async function markRun(
  r: EngineResources,
  dagId: string,
  runId: string,
  state: 'success' | 'failed',
  actor: string,
): Promise<StateChange[]> {
  return r.database.db.transaction(async (tx) => {
    const [run] = rowsOf<{ id: number; state: string }>(
      await tx.execute(sql`select id, state from dag_runs
        where dag_id = ${dagId} and run_id = ${runId} for update`),
    );
    if (!run) throw new NotFoundError(`DAG "${dagId}" has no run "${runId}"`);
    const now = r.clock.now();
    const reason = `run marked ${state} by ${actor}`;
    const tis = rowsOf<{ id: number; state: string }>(
      await tx.execute(sql`select id, state from task_instances where dag_run_id = ${run.id}`),
    );
    const unfinished = new Set<string>(UNFINISHED);
    const changes: StateChange[] = [];
    const move = async (ids: number[], to: 'success' | 'failed' | 'skipped') =>
      changes.push(
        ...(await transitionTasks(tx, ids, to, {
          actor,
          reason,
          set: [sql`end_date = ${now}`, sql`next_attempt_at = null`],
        })),
      );
    if (state === 'success') {
      await move(
        tis.filter((t) => t.state !== 'success').map((t) => Number(t.id)),
        'success',
      );
    } else {
      await move(
        tis.filter((t) => t.state === 'running').map((t) => Number(t.id)),
        'failed',
      );
      await move(
        tis
          .filter((t) => t.state !== 'running' && unfinished.has(t.state))
          .map((t) => Number(t.id)),
        'skipped',
      );
    }
    if (run.state !== state) {
      const change = await transitionRun(tx, Number(run.id), state, {
        actor,
        reason,
        set: [sql`end_date = ${now}`, sql`start_date = coalesce(start_date, ${now})`],
      });
      if (!change)
        throw new ConflictError(`run "${runId}" is ${run.state} and cannot be marked ${state}`);
      changes.push(change);
      await tx.execute(sql`select pg_notify('updraft_scheduler', ${dagId})`);
    }
    return changes;
  });
}
