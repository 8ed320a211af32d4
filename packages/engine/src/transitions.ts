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
  /**
   * Another state for all the rows instead, with its own reason and assignments, when `when`
   * holds: one condition, evaluated once on the statement's snapshot, so it sees what the
   * statements before it did (the locks a hand-off takes before it queues, see pools.ts). Only
   * rows the first transition may move go there. One row version and one event instead of a
   * second transition right after the first.
   */
  instead?: { to: TaskState; when: SQL; reason?: string | null; set?: SQL[] };
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
  const statement = transitionTasksStatement(ids, to, opts);
  return statement ? statement.parse(await tx.execute(statement.sql)) : [];
}

/** transitionTasks as a statement (null when there is nothing to do). */
export function transitionTasksStatement(
  ids: readonly number[],
  to: TaskState,
  opts: TaskTransitionOptions,
): Statement<StateChange[]> | null {
  if (ids.length === 0) return null;
  const legal = legalFrom(to, opts);
  if (legal.length === 0) return null;
  // The rows are found by id, always: the state test is written so that no partial index on
  // state matches it. Otherwise, on statistics that say a state is rare (most task instances are
  // finished, most of the time), the planner reads the whole partial index of that state instead
  // of probing the ids: every scheduled task instance, to queue 20 of 10,000 (bench W3).
  const statement = transitionSelectedStatement(
    sql`select id, state from task_instances
      where id = any(${intArray(ids)}) and (state || '') in (${inList(legal)})
        ${opts.where ? sql`and ${opts.where}` : sql``}
      for update`,
    to,
    opts,
  );
  return statement && { sql: statement.sql, parse: (r) => statement.parse(r).map((x) => x.change) };
}

function legalFrom(to: TaskState, opts: Pick<TaskTransitionOptions, 'from'>): TaskState[] {
  return taskPredecessors(to).filter((s) => !opts.from || opts.from.includes(s));
}

/**
 * Integers as one array parameter (`= any(…)`, `unnest(…)`): the statement's text, and so its
 * prepared plan, stays the same whatever the count.
 *
 * One integer is written `array[$1]` instead, a text of its own: a generic plan assumes an array
 * parameter holds ten elements, and on a task_instances table still small when the plan was
 * made (a new database, a new run), ten primary-key probes cost more than a scan of the table,
 * which it then keeps scanning as it grows: a chain's hand-off paid three such scans (bench W2).
 * A one-element array is planned as one probe.
 */
export function intArray(values: readonly number[], type: 'bigint' | 'int' = 'bigint'): SQL {
  const ints = values.map((v) => Math.trunc(Number(v)));
  if (ints.length === 1)
    return type === 'bigint' ? sql`array[${ints[0]}::bigint]` : sql`array[${ints[0]}::int]`;
  const literal = `{${ints.join(',')}}`;
  return type === 'bigint' ? sql`${literal}::bigint[]` : sql`${literal}::int[]`;
}

/** Strings as one array parameter (see intArray). */
export function textArray(values: readonly string[]): SQL {
  const literal = `{${values.map((v) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`;
  return sql`${literal}::text[]`;
}

const inList = (values: readonly (string | number)[]) =>
  sql.join(
    values.map((v) => sql`${v}`),
    sql`, `,
  );

/** A statement to run later (alone or in a pipeline) and how to read its result. */
export interface Statement<T> {
  sql: SQL;
  parse(result: unknown): T;
}

/**
 * The same transition for the rows a query selects and locks (`old`: at least `id` and `state`,
 * e.g. a claim's `… for update skip locked` with its order and limit), in one statement. Only rows
 * in a legal predecessor state change. Each returned row carries the change and the columns of
 * `old` (their values before the update), so a caller needs no second read. `alsoCtes` are more
 * data-modifying CTEs of the same statement (they can use `old` and `changed`). With `instead`,
 * the rows go to one of two states (see TaskTransitionOptions). Null when no state may lead to
 * `to`.
 */
export function transitionSelectedStatement<
  Old extends Record<string, unknown> = Record<string, unknown>,
>(
  selectOld: SQL,
  to: TaskState,
  opts: Omit<TaskTransitionOptions, 'where'> & { alsoCtes?: SQL },
): Statement<{ change: StateChange; old: Old }[]> | null {
  const targets = [
    { to, reason: opts.reason ?? null, set: opts.set ?? [] },
    ...(opts.instead
      ? [{ to: opts.instead.to, reason: opts.instead.reason ?? null, set: opts.instead.set ?? [] }]
      : []),
  ].map((target) => ({ ...target, legal: legalFrom(target.to, opts) }));
  if (targets[0]!.legal.length === 0) return null;
  // The rows the first transition may move, and no others, may go to the other state instead.
  if (targets[1]) targets[1].legal = targets[1].legal.filter((s) => targets[0]!.legal.includes(s));
  const preExecution = inList([...PRE_EXECUTION]);
  const update = (target: (typeof targets)[number], choice?: 'first' | 'instead') => {
    const chosen =
      choice === 'first'
        ? sql`not choice.instead and `
        : choice === 'instead'
          ? sql`choice.instead and `
          : sql``;
    const assignments = [
      sql`state = ${target.to}`,
      sql`updated_at = now()`,
      sql`state_reason = ${target.reason}`,
      ...target.set,
    ];
    return sql`
      update task_instances t set ${sql.join(assignments, sql`, `)}
      from old${choice ? sql`, choice` : sql``}
      where ${chosen}t.id = old.id and old.state in (${inList(target.legal)})
      returning t.id, t.dag_id, t.run_id, t.task_id, t.map_index,
        case when old.state in (${preExecution}) and ${target.to} <> 'running'
          and not (t.resume_try or t.rescheduled) then t.try_number + 1
          else t.try_number end as try_number,
        old.state as from_state, ${target.to}::text as to_state, ${target.reason}::text as reason`;
  };
  // Two targets: two updates of disjoint rows, by one condition evaluated once (a row can change
  // only once in a statement).
  const changed = opts.instead
    ? sql`choice as materialized (select coalesce((${opts.instead.when}), false) as instead),
      changed_first as (${update(targets[0]!, 'first')}),
      changed_instead as (${update(targets[1]!, 'instead')}),
      changed as (select * from changed_first union all select * from changed_instead)`
    : sql`changed as (${update(targets[0]!)})`;
  // One round trip: lock, update and append the event rows in the same statement.
  const statement = sql`
    with old as (${selectOld}), ${changed}, logged as (
      insert into events (entity, dag_id, run_id, task_id, map_index, try_number, from_state, to_state, actor, reason)
      select 'task_instance', dag_id, run_id, task_id, map_index, try_number, from_state, to_state, ${opts.actor}, reason
      from changed
    )${opts.alsoCtes ? sql`, ${opts.alsoCtes}` : sql``}
    select changed.id as "__id", changed.dag_id as "__dag_id", changed.run_id as "__run_id",
      changed.task_id as "__task_id", changed.map_index as "__map_index",
      changed.try_number as "__try_number", changed.from_state as "__from_state",
      changed.to_state as "__to_state", changed.reason as "__reason", old.*
    from changed join old on old.id = changed.id`;
  return {
    sql: statement,
    parse: (result) =>
      rowsOf<Record<string, unknown>>(result).map((r) => {
        const old: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(r)) if (!k.startsWith('__')) old[k] = v;
        return {
          change: {
            entity: 'task_instance',
            id: Number(r.__id),
            dagId: r.__dag_id as string,
            runId: r.__run_id as string,
            taskId: r.__task_id as string,
            mapIndex: Number(r.__map_index),
            tryNumber: Number(r.__try_number),
            from: r.__from_state as string,
            to: r.__to_state as string,
            actor: opts.actor,
            reason: (r.__reason as string | null) ?? null,
          },
          old: old as Old,
        };
      }),
  };
}

/** Moves one DAG run to `to` if that is legal (see transitionRuns); null when it was not. */
export async function transitionRun(
  tx: Queryable,
  runPk: number,
  to: RunState,
  opts: { actor: string; reason?: string | null; set?: SQL[] },
): Promise<StateChange | null> {
  return (await transitionRuns(tx, [runPk], to, opts))[0] ?? null;
}

/**
 * Moves DAG runs to `to` where that is legal, locking them in id order, and appends an event per
 * run moved, in one statement (a cancelled backfill fails thousands of queued runs at once).
 * Returns the changes applied.
 */
export async function transitionRuns(
  tx: Queryable,
  runPks: readonly number[],
  to: RunState,
  opts: { actor: string; reason?: string | null; set?: SQL[] },
): Promise<StateChange[]> {
  if (runPks.length === 0) return [];
  const legal = runPredecessors(to);
  const assignments = [sql`state = ${to}`, sql`updated_at = now()`, ...(opts.set ?? [])];
  const reason = opts.reason ?? null;
  const result = await tx.execute(sql`
    with old as (
      select id, state from dag_runs where id = any(${intArray(runPks)}) order by id for update
    ), changed as (
      update dag_runs r set ${sql.join(assignments, sql`, `)}
      from old where r.id = old.id and old.state in (${inList(legal)})
      returning r.id, r.dag_id, r.run_id, old.state as from_state
    ), logged as (
      insert into events (entity, dag_id, run_id, from_state, to_state, actor, reason)
      select 'dag_run', dag_id, run_id, from_state, ${to}, ${opts.actor}, ${reason}::text
      from changed order by id
    )
    select id, dag_id, run_id, from_state from changed order by id`);
  return rowsOf<{ id: number; dag_id: string; run_id: string; from_state: string }>(result).map(
    (row) => ({
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
      reason,
    }),
  );
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
