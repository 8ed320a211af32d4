/**
 * Scheduling decisions for one DAG run, as a pure function of the run's task-instance states.
 * The scheduler loop and the worker's completion transaction both call it, so a downstream task
 * becomes runnable in the same transaction that finishes its upstream.
 */
import type { TaskSpec } from './dag.ts';
import { downstreamMap, topologicalOrder } from './dag.ts';
import { countUpstream, type DepCheck, evaluateTriggerRule, type TriggerDecision } from './deps.ts';
import {
  FAILED_TASK_STATES,
  type RunState,
  SUCCEEDED_TASK_STATES,
  type TaskState,
  TERMINAL_TASK_STATES,
} from './state.ts';

export interface TaskInstanceSnapshot {
  taskId: string;
  /** -1: not mapped, or a mapped task not yet expanded; 0..n-1: one instance of a mapped task. */
  mapIndex?: number;
  state: TaskState;
  /** For up_for_retry / up_for_reschedule: when it may run again. */
  nextAttemptAt: Date | null;
}

export interface StateDecision {
  taskId: string;
  mapIndex: number;
  reason: string;
}

export interface RunDecisions {
  /** none / up_for_retry / up_for_reschedule → scheduled. */
  schedule: StateDecision[];
  skip: StateDecision[];
  upstreamFailed: StateDecision[];
  /**
   * Mapped tasks whose dependencies are met and that are not expanded yet: the caller reads the
   * list's length and creates one instance per item (or skips / fails the task).
   */
  expand: StateDecision[];
  /** Tasks that cannot run yet, and why (shown in the UI). */
  waiting: StateDecision[];
  /** The run's final state if this decision finishes it; null while it is still going. */
  finalRunState: Extract<RunState, 'success' | 'failed'> | null;
  /** Why the run ended, when it did. */
  finalReason: string | null;
}

type TaskShape = Pick<TaskSpec, 'taskId' | 'upstream' | 'triggerRule'> &
  Partial<Pick<TaskSpec, 'expand' | 'dependsOnPast' | 'waitForDownstream'>>;

/**
 * The previous run (by logical date) of the DAG, for depends_on_past and wait_for_downstream:
 * the states of its instances of the tasks that matter, by task id (every map index). A task
 * missing from the map did not exist in that run. `null`: there is no previous run.
 */
export interface PreviousRunStates {
  runId: string;
  states: ReadonlyMap<string, readonly TaskState[]>;
}

export interface DecideOptions {
  /** Needed only when a task has dependsOnPast / waitForDownstream; undefined or null: no previous run. */
  previous?: PreviousRunStates | null | undefined;
}

/**
 * Airflow's PrevDagrunDep: may a task instance run, given the previous run? It passes when there
 * is no previous run, when the task did not exist in it, or when it ended success or skipped there
 * (every map index); with waitForDownstream, the previous run's instances of its direct downstream
 * tasks must also have ended success or skipped.
 */
export function checkPreviousRun(
  task: TaskShape,
  downstream: readonly string[],
  previous: PreviousRunStates | null | undefined,
): DepCheck {
  const name = 'depends_on_past';
  if (!task.dependsOnPast && !task.waitForDownstream)
    return { name, passed: true, reason: 'does not depend on past' };
  if (!previous) return { name, passed: true, reason: 'no previous run' };
  const blocker = (taskId: string): string | null => {
    const states = previous.states.get(taskId);
    if (!states || states.length === 0) return null;
    const bad = states.find((s) => !SUCCEEDED_TASK_STATES.has(s));
    if (bad === undefined) return null;
    return TERMINAL_TASK_STATES.has(bad) ? `ended ${bad}` : `has not finished (${bad})`;
  };
  const own = blocker(task.taskId);
  if (own) {
    return {
      name,
      passed: false,
      reason: `depends_on_past: previous run's task ${own} (run "${previous.runId}")`,
    };
  }
  if (task.waitForDownstream) {
    for (const down of downstream) {
      const why = blocker(down);
      if (why) {
        return {
          name: 'wait_for_downstream',
          passed: false,
          reason: `wait_for_downstream: previous run's downstream task "${down}" ${why} (run "${previous.runId}")`,
        };
      }
    }
  }
  return { name, passed: true, reason: "previous run's task succeeded or was skipped" };
}

/** A decision that changes nothing: the start of every decision. */
export function noDecisions(): RunDecisions {
  return {
    schedule: [],
    skip: [],
    upstreamFailed: [],
    expand: [],
    waiting: [],
    finalRunState: null,
    finalReason: null,
  };
}

/** What decideRun needs of a DAG's shape, which never changes for a DAG version. */
interface DagStructure {
  byId: Map<string, TaskShape>;
  downstream: Map<string, string[]>;
  /** Task ids, every task after its upstream tasks. */
  order: string[];
  position: Map<string, number>;
  leaves: TaskShape[];
}

/**
 * Computed once per task list: the engine passes the same array of an immutable DAG version to
 * every decision, and a chain's hand-off decides over two tasks of hundreds.
 */
const structures = new WeakMap<readonly TaskShape[], DagStructure>();

function structureOf(tasks: readonly TaskShape[]): DagStructure {
  let structure = structures.get(tasks);
  if (!structure) {
    const downstream = downstreamMap(tasks);
    const order = topologicalOrder(tasks);
    structure = {
      byId: new Map(tasks.map((t) => [t.taskId, t])),
      downstream,
      order,
      position: new Map(order.map((id, i) => [id, i])),
      leaves: tasks.filter((t) => downstream.get(t.taskId)?.length === 0),
    };
    structures.set(tasks, structure);
  }
  return structure;
}

/**
 * Decides, for every task instance of a run, what should happen next. Skips and upstream failures
 * propagate through whole chains in one call, exactly as repeated Airflow scheduler loops would.
 *
 * A mapped task has one instance per map index once expanded (before that, one instance with
 * index -1). Trigger rules count every instance of every upstream task, as Airflow does for a
 * downstream of a mapped task; the run's outcome looks at every instance of its leaves.
 */
export function decideRun(
  tasks: readonly TaskShape[],
  instances: readonly TaskInstanceSnapshot[],
  now: Date,
  opts: DecideOptions = {},
): RunDecisions {
  const decisions = noDecisions();
  /** task id → its instances, by map index, with the states decided so far. */
  const byTask = new Map<
    string,
    { mapIndex: number; ti: TaskInstanceSnapshot; state: TaskState }[]
  >();
  for (const ti of instances) {
    const list = byTask.get(ti.taskId) ?? [];
    list.push({ mapIndex: ti.mapIndex ?? -1, ti, state: ti.state });
    byTask.set(ti.taskId, list);
  }
  for (const list of byTask.values()) list.sort((a, b) => a.mapIndex - b.mapIndex);
  const statesOf = (taskId: string): TaskState[] =>
    byTask.get(taskId)?.map((i) => i.state) ?? ['none'];
  const { byId, downstream, order, position, leaves } = structureOf(tasks);
  let blockedByPast = false;
  // A decision over a few of a large DAG's tasks (a hand-off) visits only those, in order.
  const visiting =
    byTask.size * 4 < order.length
      ? [...byTask.keys()]
          .filter((id) => position.has(id))
          .sort((a, b) => position.get(a)! - position.get(b)!)
      : order;

  for (const taskId of visiting) {
    const task = byId.get(taskId);
    const list = byTask.get(taskId);
    if (!task || !list) continue;
    let verdict: TriggerDecision | undefined;
    let past: DepCheck | undefined;
    for (const entry of list) {
      const { ti, mapIndex } = entry;
      if (ti.state === 'up_for_retry' || ti.state === 'up_for_reschedule') {
        if (!ti.nextAttemptAt || ti.nextAttemptAt.getTime() <= now.getTime()) {
          decisions.schedule.push({ taskId, mapIndex, reason: `${ti.state} delay has passed` });
          entry.state = 'scheduled';
        } else {
          decisions.waiting.push({
            taskId,
            mapIndex,
            reason: `${ti.state} until ${ti.nextAttemptAt.toISOString()}`,
          });
        }
        continue;
      }
      if (ti.state !== 'none') continue;
      verdict ??= evaluateTriggerRule(
        task.triggerRule,
        countUpstream(task.upstream.flatMap((up) => statesOf(up))),
      );
      switch (verdict.outcome) {
        case 'ready': {
          past ??= checkPreviousRun(task, downstream.get(taskId) ?? [], opts.previous);
          if (!past.passed) {
            decisions.waiting.push({ taskId, mapIndex, reason: past.reason });
            blockedByPast = true;
            break;
          }
          if (task.expand && mapIndex === -1) {
            decisions.expand.push({ taskId, mapIndex, reason: verdict.reason });
          } else {
            decisions.schedule.push({ taskId, mapIndex, reason: verdict.reason });
          }
          entry.state = 'scheduled';
          break;
        }
        case 'skip':
          decisions.skip.push({ taskId, mapIndex, reason: verdict.reason });
          entry.state = 'skipped';
          break;
        case 'upstream_failed':
          decisions.upstreamFailed.push({ taskId, mapIndex, reason: verdict.reason });
          entry.state = 'upstream_failed';
          break;
        case 'wait':
          decisions.waiting.push({ taskId, mapIndex, reason: verdict.reason });
          break;
      }
    }
  }

  const all = [...byTask.values()].flat();
  const unfinished = all.filter((i) => !TERMINAL_TASK_STATES.has(i.state));
  if (unfinished.length === 0) {
    const present = leaves.filter((t) => byTask.has(t.taskId));
    const failedLeaf = present
      .flatMap((t) => byTask.get(t.taskId)!.map((i) => ({ taskId: t.taskId, ...i })))
      .find((i) => FAILED_TASK_STATES.has(i.state));
    if (failedLeaf) {
      const label =
        failedLeaf.mapIndex >= 0
          ? `${failedLeaf.taskId}[${failedLeaf.mapIndex}]`
          : failedLeaf.taskId;
      decisions.finalRunState = 'failed';
      decisions.finalReason = `task "${label}" ended ${failedLeaf.state}`;
    } else if (
      present.every((t) => statesOf(t.taskId).every((s) => SUCCEEDED_TASK_STATES.has(s)))
    ) {
      decisions.finalRunState = 'success';
      decisions.finalReason = 'all leaf tasks succeeded or were skipped';
    } else {
      decisions.finalRunState = 'failed';
      decisions.finalReason = 'a leaf task was removed';
    }
  } else if (
    unfinished.every((i) => i.state === 'none') &&
    decisions.schedule.length === 0 &&
    decisions.expand.length === 0 &&
    !blockedByPast
  ) {
    // Nothing is running or can start, yet tasks remain: the run can never finish. (A run held
    // by depends_on_past is not stuck: it waits for the previous run, as in Airflow.)
    decisions.finalRunState = 'failed';
    decisions.finalReason = `deadlock: ${decisions.waiting
      .map((w) => `${w.mapIndex >= 0 ? `${w.taskId}[${w.mapIndex}]` : w.taskId} (${w.reason})`)
      .join('; ')}`;
  }
  return decisions;
}

/**
 * Delay before the next try (Airflow semantics): fixed `retryDelayMs`, or with exponential backoff
 * delay·2^(try-1) capped at `maxRetryDelayMs`, with deterministic jitter (hash of the identity) so
 * retries of many tasks do not stampede yet a test can predict them.
 */
export function retryDelay(
  task: Pick<TaskSpec, 'retryDelayMs' | 'retryExponentialBackoff' | 'maxRetryDelayMs'>,
  tryNumber: number,
  jitterKey: string,
): number {
  if (!task.retryExponentialBackoff) return task.retryDelayMs;
  const base = task.retryDelayMs * 2 ** Math.max(0, tryNumber - 1);
  let hash = 0;
  for (const ch of `${jitterKey}#${tryNumber}`) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const jittered = base / 2 + ((hash % 1000) / 1000) * (base / 2);
  const cap = task.maxRetryDelayMs ?? 24 * 3_600_000;
  return Math.round(Math.min(jittered, cap));
}
