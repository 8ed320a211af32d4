/**
 * The one way task instances and DAG runs change state. Each change is a guarded UPDATE (it only
 * applies if the row is still in a state from which the transition is legal), and each applied
 * change appends a row to the event log. The database's trigger is the last line of defence.
 */
import {
  type RunState,
  runPredecessors,
  type TaskState,
  taskPredecessors,
} from '@updraft/core/state';
import { type Queryable, rowsOf, schema } from '@updraft/db';
import { type SQL, sql } from 'drizzle-orm';

export interface StateChange {
  entity: 'task_instance' | 'dag_run';
  id: number;
  dagId: string;
  runId: string;
  taskId: string | null;
  mapIndex: number | null;
  tryNumber: number | null;
  from: string;
  to: string;
  actor: string;
  reason: string | null;
}

export interface TaskTransitionOptions {
  actor: string;
  reason?: string | null;
  /** Extra column assignments, e.g. sql`end_date = now()`. */
  set?: SQL[];
  /** Extra guard, e.g. sql`worker_id = ${id}`. */
  where?: SQL;
  /** Restrict the legal predecessor states further (e.g. only from 'running'). */
  from?: readonly TaskState[];
}

/**
 * States before a try starts. try_number counts tries already claimed, so an event leading up to
 * the next try (scheduled, queued, or skipped before running) is recorded with that next number.
 */
const PRE_EXECUTION: ReadonlySet<string> = new Set([
  'none',
  'scheduled',
  'queued',
  'up_for_retry',
  'up_for_reschedule',
  'deferred',
]);

interface ChangedTaskRow {
  id: number;
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  from_state: string;
}

/**
 * Moves the given task instances to `to` where that is legal; returns the changes applied. Rows in
 * another state are left alone: losing a race is normal, not an error.
 */
export async function transitionTasks(
  tx: Queryable,
  ids: readonly number[],
  to: TaskState,
  opts: TaskTransitionOptions,
): Promise<StateChange[]> {
  if (ids.length === 0) return [];
  const legal = taskPredecessors(to).filter((s) => !opts.from || opts.from.includes(s));
  if (legal.length === 0) return [];
  const assignments = [
    sql`state = ${to}`,
    sql`updated_at = now()`,
    sql`state_reason = ${opts.reason ?? null}`,
    ...(opts.set ?? []),
  ];
  const inList = (values: readonly (string | number)[]) =>
    sql.join(
      values.map((v) => sql`${v}`),
      sql`, `,
    );
  const preExecution = inList([...PRE_EXECUTION]);
  // One round trip: lock, update and append the event rows in the same statement.
  const result = await tx.execute(sql`
    with old as (
      select id, state from task_instances
      where id in (${inList(ids)}) and state in (${inList(legal)})
        ${opts.where ? sql`and ${opts.where}` : sql``}
      for update
    ), changed as (
      update task_instances t set ${sql.join(assignments, sql`, `)}
      from old where t.id = old.id and old.state in (${inList(legal)})
      returning t.id, t.dag_id, t.run_id, t.task_id, t.map_index,
        case when old.state in (${preExecution}) and ${to} <> 'running' then t.try_number + 1
          else t.try_number end as try_number,
        old.state as from_state
    ), logged as (
      insert into events (entity, dag_id, run_id, task_id, map_index, try_number, from_state, to_state, actor, reason)
      select 'task_instance', dag_id, run_id, task_id, map_index, try_number, from_state, ${to}, ${opts.actor}, ${opts.reason ?? null}
      from changed
    )
    select * from changed`);
  const changes = rowsOf<ChangedTaskRow>(result).map(
    (r): StateChange => ({
      entity: 'task_instance',
      id: Number(r.id),
      dagId: r.dag_id,
      runId: r.run_id,
      taskId: r.task_id,
      mapIndex: r.map_index,
      tryNumber: r.try_number,
      from: r.from_state,
      to,
      actor: opts.actor,
      reason: opts.reason ?? null,
    }),
  );
  return changes;
}

export async function transitionRun(
  tx: Queryable,
  runPk: number,
  to: RunState,
  opts: { actor: string; reason?: string | null; set?: SQL[] },
): Promise<StateChange | null> {
  const legal = runPredecessors(to);
  const assignments = [sql`state = ${to}`, sql`updated_at = now()`, ...(opts.set ?? [])];
  const result = await tx.execute(sql`
    with old as (select id, state from dag_runs where id = ${runPk} for update)
    update dag_runs r set ${sql.join(assignments, sql`, `)}
    from old where r.id = old.id and old.state in (${sql.join(
      legal.map((s) => sql`${s}`),
      sql`, `,
    )})
    returning r.id, r.dag_id, r.run_id, old.state as from_state`);
  const row = rowsOf<{ id: number; dag_id: string; run_id: string; from_state: string }>(result)[0];
  if (!row) return null;
  const change: StateChange = {
    entity: 'dag_run',
    id: Number(row.id),
    dagId: row.dag_id,
    runId: row.run_id,
    taskId: null,
    mapIndex: null,
    tryNumber: null,
    from: row.from_state,
    to,
    actor: opts.actor,
    reason: opts.reason ?? null,
  };
  await recordEvents(tx, [change]);
  return change;
}

/** Appends state changes to the event log in one statement. */
export async function recordEvents(tx: Queryable, changes: readonly StateChange[]): Promise<void> {
  if (changes.length === 0) return;
  await tx.insert(schema.events).values(
    changes.map((c) => ({
      entity: c.entity,
      dagId: c.dagId,
      runId: c.runId,
      taskId: c.taskId,
      mapIndex: c.mapIndex,
      tryNumber: c.tryNumber,
      fromState: c.from,
      toState: c.to,
      actor: c.actor,
      reason: c.reason,
    })),
  );
}
