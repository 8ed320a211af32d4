/**
 * Dynamic task mapping (Airflow's `.expand()`), as data: a mapped task runs once per item of a
 * list known only at run time — a literal list in the DAG, or the result of an upstream task.
 * The spec stores where the list comes from; the engine expands the task when its dependencies are
 * met (see packages/engine/src/mapping.ts). Also the validation of that part of a DAG spec.
 */
import { z } from 'zod';
import type { DagIssue } from './dag.ts';

/** Airflow's [core] max_map_length default: a longer list fails the mapped task. */
export const DEFAULT_MAX_MAP_LENGTH = 1024;

const maxLength = z.number().int().positive().default(DEFAULT_MAX_MAP_LENGTH);

export const expandSpecSchema = z.union([
  /** Map over a literal JSON list written in the DAG. */
  z.strictObject({ items: z.array(z.unknown()), maxLength }),
  /** Map over the result (return value) of an upstream task; a mapped upstream gives its list of results. */
  z.strictObject({ task: z.string().min(1), maxLength }),
]);
export type ExpandSpec = z.infer<typeof expandSpecSchema>;

/** Whether a value survives JSON unchanged (what a literal list item must be). */
export function isJsonValue(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJsonValue);
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return false;
    return Object.values(value as Record<string, unknown>).every(isJsonValue);
  }
  return false;
}

/**
 * Issues of the mapping-related fields of a parsed spec: the source task must be a direct
 * upstream task, a literal list must be JSON and within the limit, and depends_on_past flags must
 * agree.
 */
export function mappingIssues(spec: {
  dagId: string;
  tasks: readonly {
    taskId: string;
    upstream: readonly string[];
    expand?: ExpandSpec | null | undefined;
  }[];
}): DagIssue[] {
  const issues: DagIssue[] = [];
  const dagId = spec.dagId;
  for (const task of spec.tasks) {
    const expand = task.expand;
    if (!expand) continue;
    const field = 'expand';
    if ('task' in expand) {
      if (expand.task === task.taskId) {
        issues.push({
          dagId,
          taskId: task.taskId,
          field,
          message: 'a task cannot map over itself',
        });
      } else if (!task.upstream.includes(expand.task)) {
        issues.push({
          dagId,
          taskId: task.taskId,
          field,
          message: `maps over task "${expand.task}", which must be one of its upstream tasks`,
        });
      }
      continue;
    }
    const bad = expand.items.findIndex((item) => !isJsonValue(item));
    if (bad >= 0) {
      issues.push({
        dagId,
        taskId: task.taskId,
        field: `expand.items.${bad}`,
        message:
          'items of a literal list must be JSON values (strings, numbers, booleans, null, arrays, plain objects)',
      });
    }
    if (expand.items.length > expand.maxLength) {
      issues.push({
        dagId,
        taskId: task.taskId,
        field,
        message: `maps over ${expand.items.length} items; the limit (maxLength) is ${expand.maxLength}`,
      });
    }
  }
  return issues;
}

/** The error a mapped task fails with when its list is longer than allowed (Airflow's max_map_length). */
export function tooLongMessage(dagId: string, taskId: string, length: number, max: number): string {
  return `DAG "${dagId}" task "${taskId}": cannot expand over ${length} items; the limit (maxLength) is ${max}`;
}
