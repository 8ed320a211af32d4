/**
 * depends_on_past / wait_for_downstream: loading what the pure check (core decisions.ts
 * checkPreviousRun) needs — the previous run of the DAG by logical date (any run type) and the
 * states of its instances of the tasks that matter. Loaded only when a task of the run that is
 * still to be decided carries one of the flags.
 */
import type { TaskSpec } from '@updraft/core/dag';
import type { PreviousRunStates } from '@updraft/core/decisions';
import type { TaskState } from '@updraft/core/state';
import { type Queryable, rowsOf } from '@updraft/db';
import { sql } from 'drizzle-orm';

export async function loadPreviousRunStates(
  tx: Queryable,
  run: { id: number; dagId: string; logicalDate: Date },
  tasks: readonly TaskSpec[],
  /** Task ids of this run with an instance still in state none (the only ones decided). */
  pending: ReadonlySet<string>,
): Promise<PreviousRunStates | null | undefined> {
  const relevant = new Set<string>();
  for (const task of flaggedTasks(tasks)) {
    if (!pending.has(task.taskId)) continue;
    relevant.add(task.taskId);
    if (task.waitForDownstream) {
      for (const t of tasks) if (t.upstream.includes(task.taskId)) relevant.add(t.taskId);
    }
  }
  if (relevant.size === 0) return undefined;
  const [previous] = rowsOf<{ id: number; run_id: string }>(
    await tx.execute(sql`select id, run_id from dag_runs
      where dag_id = ${run.dagId}
        and (logical_date < ${run.logicalDate} or (logical_date = ${run.logicalDate} and id < ${run.id}))
      order by logical_date desc, id desc limit 1`),
  );
  if (!previous) return null;
  const rows = rowsOf<{ task_id: string; state: TaskState }>(
    await tx.execute(sql`select task_id, state from task_instances
      where dag_run_id = ${previous.id} and task_id in (${sql.join(
        [...relevant].map((id) => sql`${id}`),
        sql`, `,
      )})`),
  );
  const states = new Map<string, TaskState[]>();
  for (const row of rows) {
    const list = states.get(row.task_id) ?? [];
    list.push(row.state);
    states.set(row.task_id, list);
  }
  return { runId: previous.run_id, states };
}

/** A task list's tasks with either flag (usually none), once per list: versions are immutable. */
const flagged = new WeakMap<readonly TaskSpec[], TaskSpec[]>();

function flaggedTasks(tasks: readonly TaskSpec[]): TaskSpec[] {
  let list = flagged.get(tasks);
  if (!list) {
    list = tasks.filter((t) => t.dependsOnPast || t.waitForDownstream);
    flagged.set(tasks, list);
  }
  return list;
}
