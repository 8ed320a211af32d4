/**
 * Dynamic task mapping at run time (Airflow 3 semantics). When a mapped task's dependencies are
 * met, the run's decision asks for it to be expanded: the list it maps over is read (a literal list
 * from the spec, or the upstream task's result — a mapped upstream gives the list of its results
 * ordered by map index), and
 *  - an empty list skips the task;
 *  - a list longer than its maxLength fails the task with a message naming DAG, task and length;
 *  - otherwise the unexpanded instance (map index -1) becomes index 0 and indexes 1..n-1 are
 *    added, all scheduled at once.
 * Also how a mapped instance finds its item, and how a task's result is read when it is mapped.
 */
import type { TaskSpec } from '@updraft/core/dag';
import type { StateDecision } from '@updraft/core/decisions';
import { DEFAULT_MAX_MAP_LENGTH, tooLongMessage } from '@updraft/core/mapping';
import { type Queryable, rowsOf } from '@updraft/db';
import { sql } from 'drizzle-orm';
import { type StateChange, transitionTasks } from './transitions.ts';
import type { LoadedVersion } from './versions.ts';

/**
 * A task's result (XCom `key`) in a run. For a mapped task: the list of its instances' results,
 * ordered by map index (instances that stored none are left out, as Airflow's lazy sequence does);
 * an expanded task whose instances stored nothing gives []. Undefined when there is no result.
 */
export async function readTaskResult(
  db: Queryable,
  runPk: number,
  taskId: string,
  key: string,
): Promise<unknown> {
  // Read as text and parse once: drivers disagree on decoding jsonb strings that look like JSON.
  const rows = rowsOf<{ map_index: number; value: string }>(
    await db.execute(sql`select map_index, value::text as value from xcoms
      where dag_run_id = ${runPk} and task_id = ${taskId} and key = ${key}
      order by map_index`),
  );
  const unmapped = rows.find((r) => Number(r.map_index) === -1);
  if (unmapped) return JSON.parse(unmapped.value);
  if (rows.length > 0) return rows.map((r) => JSON.parse(r.value));
  const [expanded] = rowsOf<{ n: number }>(
    await db.execute(sql`select count(*)::int as n from task_instances
      where dag_run_id = ${runPk} and task_id = ${taskId} and map_index >= 0`),
  );
  return (expanded?.n ?? 0) > 0 ? [] : undefined;
}

type ListOutcome =
  | { ok: true; items: readonly unknown[] | null; length: number }
  | { ok: false; reason: string };

/** The list a mapped task maps over, in this run (its length is what expansion needs). */
async function mappedList(
  db: Queryable,
  runPk: number,
  dagId: string,
  task: TaskSpec,
): Promise<ListOutcome> {
  const expand = task.expand;
  if (!expand) return { ok: false, reason: `task "${task.taskId}" is not mapped` };
  if ('items' in expand) return { ok: true, items: expand.items, length: expand.items.length };
  const value = await readTaskResult(db, runPk, expand.task, 'return_value');
  if (value === undefined || value === null) {
    // A skipped source (reached through a trigger rule such as all_done) maps over nothing.
    const [source] = rowsOf<{ skipped: boolean }>(
      await db.execute(sql`select bool_and(state = 'skipped') as skipped from task_instances
        where dag_run_id = ${runPk} and task_id = ${expand.task}`),
    );
    if (source?.skipped) return { ok: true, items: [], length: 0 };
    return {
      ok: false,
      reason: `DAG "${dagId}" task "${task.taskId}": upstream task "${expand.task}" returned no result to map over (it must return a list)`,
    };
  }
  if (!Array.isArray(value)) {
    return {
      ok: false,
      reason: `DAG "${dagId}" task "${task.taskId}": upstream task "${expand.task}" returned ${typeof value}, not a list to map over`,
    };
  }
  return { ok: true, items: value, length: value.length };
}

export interface ExpansionResult {
  changes: StateChange[];
  /** Task instances now scheduled (to be queued). */
  scheduled: number;
  /** Some mapped task ended (skipped, failed) instead of expanding: the run must be decided again. */
  ended: boolean;
}

/** Expands the mapped tasks the run's decision asked for (see the file comment). */
export async function expandMappedTasks(
  tx: Queryable,
  run: { id: number; dagId: string },
  version: LoadedVersion,
  requests: readonly StateDecision[],
  actor: string,
  now: Date,
): Promise<ExpansionResult> {
  const result: ExpansionResult = { changes: [], scheduled: 0, ended: false };
  for (const request of requests) {
    const task = version.tasks.get(request.taskId);
    if (!task?.expand) continue;
    const [row] = rowsOf<{ id: number }>(
      await tx.execute(sql`select id from task_instances where dag_run_id = ${run.id}
        and task_id = ${task.taskId} and map_index = -1 and state = 'none' for update`),
    );
    if (!row) continue;
    const tiId = Number(row.id);
    const list = await mappedList(tx, run.id, run.dagId, task);
    const max = task.expand.maxLength ?? DEFAULT_MAX_MAP_LENGTH;
    let endState: 'skipped' | 'failed' | null = null;
    let reason = '';
    if (!list.ok) {
      endState = 'failed';
      reason = list.reason;
    } else if (list.length === 0) {
      endState = 'skipped';
      reason = 'mapped over an empty list: nothing to run';
    } else if (list.length > max) {
      endState = 'failed';
      reason = tooLongMessage(run.dagId, task.taskId, list.length, max);
    }
    if (endState) {
      result.changes.push(
        ...(await transitionTasks(tx, [tiId], endState, {
          actor,
          reason,
          set: [sql`end_date = ${now}`],
        })),
      );
      result.ended = true;
      continue;
    }
    const n = list.ok ? list.length : 0;
    await tx.execute(sql`update task_instances set map_index = 0 where id = ${tiId}`);
    const added =
      n > 1
        ? rowsOf<{ id: number }>(
            await tx.execute(sql`insert into task_instances
              (dag_run_id, dag_id, run_id, task_id, map_index, operator, pool, pool_slots, max_retries, priority_weight, logical_date)
              select t.dag_run_id, t.dag_id, t.run_id, t.task_id, i, t.operator, t.pool, t.pool_slots, t.max_retries, t.priority_weight, t.logical_date
              from task_instances t, generate_series(1, ${n - 1}) as i
              where t.id = ${tiId}
              returning id`),
          ).map((r) => Number(r.id))
        : [];
    const scheduled = await transitionTasks(tx, [tiId, ...added], 'scheduled', {
      actor,
      reason: `dependencies met; expanded into ${n} mapped instance${n === 1 ? '' : 's'}`,
      set: [sql`next_attempt_at = null`],
    });
    result.changes.push(...scheduled);
    result.scheduled += scheduled.length;
  }
  return result;
}

/**
 * What a mapped instance's templates and function see: `map_index` and `item` (the element of the
 * mapped list at its index). Empty for an unmapped task instance.
 */
export async function mappedItemFields(
  db: Queryable,
  runPk: number,
  dagId: string,
  task: TaskSpec,
  mapIndex: number,
): Promise<{ map_index?: number; item?: unknown }> {
  if (!task.expand || mapIndex < 0) return {};
  const expand = task.expand;
  if ('items' in expand) return { map_index: mapIndex, item: expand.items[mapIndex] };
  // Only the one element is read: a mapped upstream's result at this position, or an element of
  // an unmapped upstream's list.
  const rows = rowsOf<{ map_index: number; value: string }>(
    await db.execute(sql`select map_index, value::text as value from xcoms
      where dag_run_id = ${runPk} and task_id = ${expand.task} and key = 'return_value'
      order by map_index limit 1 offset ${mapIndex}`),
  );
  const first = rows[0];
  if (first && Number(first.map_index) >= 0) {
    return { map_index: mapIndex, item: JSON.parse(first.value) };
  }
  const list = await mappedList(db, runPk, dagId, task);
  return { map_index: mapIndex, item: list.ok ? list.items?.[mapIndex] : undefined };
}

/**
 * Clearing a mapped task as a whole puts it back to one unexpanded instance (Airflow): index 0
 * becomes -1 again (the caller then clears it like any task instance), the other indexes and the
 * task's results are deleted, and the next decision expands it anew over the list as it is then.
 * A task with an instance still running is left expanded (its instances are cleared one by one).
 */
export async function resetMappedTasks(
  tx: Queryable,
  runPk: number,
  version: LoadedVersion,
  taskIds: readonly string[],
): Promise<void> {
  const candidates = taskIds.filter((id) => version.tasks.get(id)?.expand);
  if (candidates.length === 0) return;
  // Lock the instances (a worker claiming one finishes first), then leave alone any task with an
  // instance still running: its worker still writes to that row. Such a task is cleared instance
  // by instance, keeping its map indexes.
  const rows = rowsOf<{ task_id: string; state: string }>(
    await tx.execute(sql`select task_id, state from task_instances
      where dag_run_id = ${runPk} and task_id in (${sql.join(
        candidates.map((id) => sql`${id}`),
        sql`, `,
      )}) order by id for update`),
  );
  const busy = new Set(
    rows.filter((r) => r.state === 'running' || r.state === 'restarting').map((r) => r.task_id),
  );
  const mapped = candidates.filter((id) => !busy.has(id));
  if (mapped.length === 0) return;
  const list = sql.join(
    mapped.map((id) => sql`${id}`),
    sql`, `,
  );
  await tx.execute(sql`delete from xcoms where dag_run_id = ${runPk} and task_id in (${list})`);
  await tx.execute(sql`delete from task_instances
    where dag_run_id = ${runPk} and task_id in (${list}) and map_index > 0`);
  await tx.execute(sql`update task_instances set map_index = -1
    where dag_run_id = ${runPk} and task_id in (${list}) and map_index = 0`);
}
