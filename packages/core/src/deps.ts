/**
 * "May this task instance run?" as small pure checks. The trigger-rule check works from counts of
 * upstream states, the way Airflow's TriggerRuleDep does, so its meaning can be tested by tables.
 */
import type { TriggerRule } from './dag.ts';
import { assertNever } from './errors.ts';
import type { TaskState } from './state.ts';

export interface UpstreamCounts {
  total: number;
  success: number;
  skipped: number;
  failed: number;
  upstreamFailed: number;
  removed: number;
  /** Upstream tasks in a finished state (success, skipped, failed, upstream_failed, removed). */
  done: number;
}

export function countUpstream(states: readonly TaskState[]): UpstreamCounts {
  const counts: UpstreamCounts = {
    total: states.length,
    success: 0,
    skipped: 0,
    failed: 0,
    upstreamFailed: 0,
    removed: 0,
    done: 0,
  };
  for (const state of states) {
    switch (state) {
      case 'success':
        counts.success++;
        counts.done++;
        break;
      case 'skipped':
        counts.skipped++;
        counts.done++;
        break;
      case 'failed':
        counts.failed++;
        counts.done++;
        break;
      case 'upstream_failed':
        counts.upstreamFailed++;
        counts.done++;
        break;
      case 'removed':
        counts.removed++;
        counts.done++;
        break;
      default:
        break;
    }
  }
  return counts;
}

/**
 * What the trigger rule says now:
 *  - ready: the task may be scheduled;
 *  - wait: not yet decidable;
 *  - skip / upstream_failed: the task will never run in this try and takes that state.
 */
export type TriggerDecision =
  | { outcome: 'ready'; reason: string }
  | { outcome: 'wait'; reason: string }
  | { outcome: 'skip'; reason: string }
  | { outcome: 'upstream_failed'; reason: string };

export interface DepCheck {
  name: string;
  passed: boolean;
  reason: string;
}

const ready = (reason: string): TriggerDecision => ({ outcome: 'ready', reason });
const wait = (reason: string): TriggerDecision => ({ outcome: 'wait', reason });
const skip = (reason: string): TriggerDecision => ({ outcome: 'skip', reason });
const upstreamFailed = (reason: string): TriggerDecision => ({
  outcome: 'upstream_failed',
  reason,
});

/** Airflow's trigger-rule semantics (airflow/ti_deps/deps/trigger_rule_dep.py), from counts. */
export function evaluateTriggerRule(rule: TriggerRule, c: UpstreamCounts): TriggerDecision {
  if (c.total === 0) return ready('no upstream tasks');
  const allDone = c.done >= c.total;
  const failures = c.failed + c.upstreamFailed;
  const summary = `${c.success} succeeded, ${c.failed} failed, ${c.upstreamFailed} upstream_failed, ${c.skipped} skipped, ${c.total - c.done} not done, of ${c.total}`;
  switch (rule) {
    case 'all_success':
      if (failures > 0) return upstreamFailed(`all_success: an upstream task failed (${summary})`);
      if (c.skipped > 0) return skip(`all_success: an upstream task was skipped (${summary})`);
      if (c.success + c.removed >= c.total) return ready('all upstream tasks succeeded');
      return wait(`all_success: waiting for upstream (${summary})`);
    case 'all_failed':
      if (c.success > 0 || c.skipped > 0)
        return skip(`all_failed: an upstream task did not fail (${summary})`);
      if (allDone) return ready('all upstream tasks failed');
      return wait(`all_failed: waiting for upstream (${summary})`);
    case 'all_done':
      return allDone
        ? ready('all upstream tasks are done')
        : wait(`all_done: waiting for upstream (${summary})`);
    case 'all_done_min_one_success':
      // Airflow 3.1: any skipped upstream skips the task at once; all done without a success
      // is upstream_failed.
      if (c.skipped > 0)
        return skip(`all_done_min_one_success: an upstream task was skipped (${summary})`);
      if (!allDone) return wait(`all_done_min_one_success: waiting for upstream (${summary})`);
      return c.success > 0
        ? ready('all upstream tasks are done and one succeeded')
        : upstreamFailed(`all_done_min_one_success: no upstream task succeeded (${summary})`);
    case 'all_skipped':
      if (c.success > 0 || failures > 0)
        return skip(`all_skipped: an upstream task was not skipped (${summary})`);
      if (allDone) return ready('all upstream tasks were skipped');
      return wait(`all_skipped: waiting for upstream (${summary})`);
    case 'one_success':
      if (c.success > 0) return ready('an upstream task succeeded');
      if (allDone) {
        return c.skipped >= c.done
          ? skip(`one_success: every upstream task was skipped (${summary})`)
          : upstreamFailed(`one_success: no upstream task succeeded (${summary})`);
      }
      return wait(`one_success: waiting for an upstream success (${summary})`);
    case 'one_failed':
      if (failures > 0) return ready('an upstream task failed');
      if (allDone) return skip(`one_failed: no upstream task failed (${summary})`);
      return wait(`one_failed: waiting for an upstream failure (${summary})`);
    case 'one_done':
      if (c.success + c.failed > 0) return ready('an upstream task is done');
      if (allDone) return skip(`one_done: no upstream task succeeded or failed (${summary})`);
      return wait(`one_done: waiting for an upstream task to finish (${summary})`);
    case 'none_failed':
      if (failures > 0) return upstreamFailed(`none_failed: an upstream task failed (${summary})`);
      if (allDone) return ready('no upstream task failed');
      return wait(`none_failed: waiting for upstream (${summary})`);
    case 'none_failed_min_one_success':
      if (failures > 0)
        return upstreamFailed(`none_failed_min_one_success: an upstream task failed (${summary})`);
      if (allDone) {
        return c.skipped >= c.total
          ? skip(`none_failed_min_one_success: every upstream task was skipped (${summary})`)
          : ready('no upstream task failed and one succeeded');
      }
      return wait(`none_failed_min_one_success: waiting for upstream (${summary})`);
    case 'none_skipped':
      if (c.skipped > 0) return skip(`none_skipped: an upstream task was skipped (${summary})`);
      if (allDone) return ready('no upstream task was skipped');
      return wait(`none_skipped: waiting for upstream (${summary})`);
    case 'always':
      return ready('trigger rule "always"');
    default:
      return assertNever(rule, 'trigger rule');
  }
}
