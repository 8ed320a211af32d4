/**
 * Control-flow tasks decide which downstream tasks are skipped, from their result:
 *  - branch: returns the id(s) of direct downstream tasks to follow; the other direct downstream
 *    tasks are skipped, except those also downstream of a followed task (so a join after both the
 *    branch and the chosen path still runs), as Airflow's skip_all_except does;
 *  - short_circuit: a falsy result skips everything downstream, or, with
 *    `ignoreDownstreamTriggerRules: false`, only the direct downstream tasks, leaving the rest to
 *    their trigger rules.
 * Skips then propagate through trigger rules like any other skip.
 */
import { type DagSpec, downstreamMap } from './dag.ts';
import { InvalidError } from './errors.ts';

export const CONTROL_KINDS = ['branch', 'short_circuit'] as const;
export type ControlKind = (typeof CONTROL_KINDS)[number];

export class BranchResultError extends InvalidError {}

function reachableFrom(start: readonly string[], down: Map<string, string[]>): Set<string> {
  const seen = new Set<string>();
  const todo = [...start];
  while (todo.length > 0) {
    const id = todo.pop()!;
    for (const next of down.get(id) ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        todo.push(next);
      }
    }
  }
  return seen;
}

/** Normalises a branch task's result to task ids; null/undefined/[] follow nothing. */
export function branchChoice(result: unknown, taskId: string): string[] {
  if (result === null || result === undefined) return [];
  const list = Array.isArray(result) ? result : [result];
  return list.map((item) => {
    if (typeof item === 'string') return item;
    if (item && typeof item === 'object' && typeof (item as { id?: unknown }).id === 'string') {
      return (item as { id: string }).id;
    }
    throw new BranchResultError(
      `branch task "${taskId}" must return a task id, a list of task ids, or null; got ${JSON.stringify(item)}`,
    );
  });
}

/** The task ids a control-flow task's result skips. Throws BranchResultError on a bad result. */
export function controlFlowSkips(
  spec: Pick<DagSpec, 'tasks'>,
  taskId: string,
  control: { kind: ControlKind; ignoreDownstreamTriggerRules?: boolean | undefined },
  result: unknown,
): string[] {
  const down = downstreamMap(spec.tasks);
  const direct = down.get(taskId) ?? [];
  if (control.kind === 'short_circuit') {
    if (result) return [];
    if (control.ignoreDownstreamTriggerRules === false) return [...direct];
    return [...reachableFrom([taskId], down)];
  }
  const chosen = branchChoice(result, taskId);
  const unknown = chosen.filter((id) => !direct.includes(id));
  if (unknown.length > 0) {
    throw new BranchResultError(
      `branch task "${taskId}" chose ${unknown.map((u) => `"${u}"`).join(', ')}, which ${unknown.length === 1 ? 'is' : 'are'} not directly downstream of it; choose from ${direct.map((d) => `"${d}"`).join(', ') || '(none)'}`,
    );
  }
  const kept = new Set([...chosen, ...reachableFrom(chosen, down)]);
  return direct.filter((id) => !kept.has(id));
}
