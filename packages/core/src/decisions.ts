/**
 * Scheduling decisions for one DAG run, as a pure function of the run's task-instance states.
 * The scheduler loop and the worker's completion transaction both call it, so a downstream task
 * becomes runnable in the same transaction that finishes its upstream.
 */
import type { TaskSpec } from './dag.ts';
import { topologicalOrder } from './dag.ts';
import { countUpstream, evaluateTriggerRule } from './deps.ts';
import {
  FAILED_TASK_STATES,
  type RunState,
  SUCCEEDED_TASK_STATES,
  type TaskState,
  TERMINAL_TASK_STATES,
} from './state.ts';

export interface TaskInstanceSnapshot {
  taskId: string;
  state: TaskState;
  /** For up_for_retry / up_for_reschedule: when it may run again. */
  nextAttemptAt: Date | null;
}

export interface StateDecision {
  taskId: string;
  reason: string;
}

export interface RunDecisions {
  /** none / up_for_retry / up_for_reschedule → scheduled. */
  schedule: StateDecision[];
  skip: StateDecision[];
  upstreamFailed: StateDecision[];
  /** Tasks that cannot run yet, and why (shown in the UI). */
  waiting: StateDecision[];
  /** The run's final state if this decision finishes it; null while it is still going. */
  finalRunState: Extract<RunState, 'success' | 'failed'> | null;
  /** Why the run ended, when it did. */
  finalReason: string | null;
}

type TaskShape = Pick<TaskSpec, 'taskId' | 'upstream' | 'triggerRule'>;

/**
 * Decides, for every task instance of a run, what should happen next. Skips and upstream failures
 * propagate through whole chains in one call, exactly as repeated Airflow scheduler loops would.
 */
export function decideRun(
  tasks: readonly TaskShape[],
  instances: readonly TaskInstanceSnapshot[],
  now: Date,
): RunDecisions {
  const decisions: RunDecisions = {
    schedule: [],
    skip: [],
    upstreamFailed: [],
    waiting: [],
    finalRunState: null,
    finalReason: null,
  };
  const states = new Map<string, TaskState>(instances.map((ti) => [ti.taskId, ti.state]));
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const snapshots = new Map(instances.map((ti) => [ti.taskId, ti]));

  for (const taskId of topologicalOrder(tasks)) {
    const task = byId.get(taskId);
    const ti = snapshots.get(taskId);
    if (!task || !ti) continue;
    if (ti.state === 'up_for_retry' || ti.state === 'up_for_reschedule') {
      if (!ti.nextAttemptAt || ti.nextAttemptAt.getTime() <= now.getTime()) {
        decisions.schedule.push({ taskId, reason: `${ti.state} delay has passed` });
        states.set(taskId, 'scheduled');
      } else {
        decisions.waiting.push({
          taskId,
          reason: `${ti.state} until ${ti.nextAttemptAt.toISOString()}`,
        });
      }
      continue;
    }
    if (ti.state !== 'none') continue;
    const upstreamStates = task.upstream.map((up) => states.get(up) ?? 'none');
    const verdict = evaluateTriggerRule(task.triggerRule, countUpstream(upstreamStates));
    switch (verdict.outcome) {
      case 'ready':
        decisions.schedule.push({ taskId, reason: verdict.reason });
        states.set(taskId, 'scheduled');
        break;
      case 'skip':
        decisions.skip.push({ taskId, reason: verdict.reason });
        states.set(taskId, 'skipped');
        break;
      case 'upstream_failed':
        decisions.upstreamFailed.push({ taskId, reason: verdict.reason });
        states.set(taskId, 'upstream_failed');
        break;
      case 'wait':
        decisions.waiting.push({ taskId, reason: verdict.reason });
        break;
    }
  }

  const unfinished = [...states.values()].filter((s) => !TERMINAL_TASK_STATES.has(s));
  if (unfinished.length === 0) {
    const hasDownstream = new Set(tasks.flatMap((t) => t.upstream));
    const leaves = tasks.filter((t) => !hasDownstream.has(t.taskId) && states.has(t.taskId));
    const failedLeaf = leaves.find((t) => FAILED_TASK_STATES.has(states.get(t.taskId)!));
    if (failedLeaf) {
      decisions.finalRunState = 'failed';
      decisions.finalReason = `task "${failedLeaf.taskId}" ended ${states.get(failedLeaf.taskId)}`;
    } else if (leaves.every((t) => SUCCEEDED_TASK_STATES.has(states.get(t.taskId)!))) {
      decisions.finalRunState = 'success';
      decisions.finalReason = 'all leaf tasks succeeded or were skipped';
    } else {
      decisions.finalRunState = 'failed';
      decisions.finalReason = 'a leaf task was removed';
    }
  } else if (unfinished.every((s) => s === 'none') && decisions.schedule.length === 0) {
    // Nothing is running or can start, yet tasks remain: the run can never finish.
    decisions.finalRunState = 'failed';
    decisions.finalReason = `deadlock: ${decisions.waiting.map((w) => `${w.taskId} (${w.reason})`).join('; ')}`;
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
