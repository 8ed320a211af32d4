/**
 * Task groups and mapping in YAML DAGs:
 *
 *   tasks:
 *     - id: list
 *       shell: echo '["a","b"]'
 *   groups:
 *     - id: extract
 *       upstream: [list]
 *       defaults: { retries: 3 }
 *       tasks:
 *         - id: fetch                    # → "extract.fetch"
 *           shell: ./fetch.sh {{ item }}
 *           expand: { task: list }       # or { items: [1, 2, 3] }, with maxLength
 *         - id: load
 *           upstream: [fetch]            # a name in the same group first, then a full id
 *           shell: ./load.sh
 *       groups: [...]                    # nested groups
 *
 * An upstream name may also be a group's id: the group's leaves.
 */
import { DagValidationError } from '@updraft/core/dag';
import { z } from 'zod';
import type { TaskGroup } from './group.ts';
import type { Dag, Task, TaskDefaults } from './index.ts';

export const yamlExpandSchema = z.union([
  z.strictObject({
    items: z.array(z.unknown()),
    maxLength: z.number().int().positive().optional(),
  }),
  z.strictObject({ task: z.string(), maxLength: z.number().int().positive().optional() }),
]);

export interface YamlTaskLike {
  id: string;
  upstream?: string[] | undefined;
  expand?: z.infer<typeof yamlExpandSchema> | undefined;
}

export interface YamlGroup<T extends YamlTaskLike> {
  id: string;
  upstream?: string[] | undefined;
  defaults?: Record<string, unknown> | undefined;
  tasks?: T[] | undefined;
  groups?: YamlGroup<T>[] | undefined;
}

export function yamlGroupSchema<T extends YamlTaskLike>(
  task: z.ZodType<T>,
  defaults: z.ZodType<Record<string, unknown>>,
): z.ZodType<YamlGroup<T>> {
  const schema: z.ZodType<YamlGroup<T>> = z.lazy(() =>
    z.strictObject({
      id: z.string(),
      upstream: z.array(z.string()).optional(),
      defaults: defaults.optional(),
      tasks: z.array(task).optional(),
      groups: z.array(schema).optional(),
    }),
  );
  return schema;
}

interface Placed<T> {
  prefix: string;
  task: T;
}

/**
 * Adds the YAML groups' tasks to `d` (inside d.group, so ids are prefixed and defaults apply),
 * then wires every task's upstream and expand (top-level tasks and grouped ones), then each group's
 * upstream. `add` creates one task from its YAML entry and returns it.
 */
export function buildYamlGraph<T extends YamlTaskLike>(
  d: Dag,
  spec: { id: string; tasks: T[]; groups?: YamlGroup<T>[] | undefined },
  add: (t: T) => Task | undefined,
  fileloc: string,
): void {
  const tasks = new Map<string, Task>();
  const groups = new Map<string, TaskGroup>();
  const placedTasks: Placed<T>[] = spec.tasks.map((task) => ({ prefix: '', task }));
  const placedGroups: Placed<YamlGroup<T>>[] = [];
  for (const t of spec.tasks) {
    const task = add(t);
    if (task) tasks.set(task.id, task);
  }
  const addGroups = (list: YamlGroup<T>[], g: Dag, prefix: string) => {
    for (const group of list) {
      const full = prefix ? `${prefix}.${group.id}` : group.id;
      const made = g.group(group.id, (group.defaults ?? {}) as TaskDefaults, (inner) => {
        for (const t of group.tasks ?? []) {
          const task = add(t);
          if (task) tasks.set(task.id, task);
          placedTasks.push({ prefix: full, task: t });
        }
        addGroups(group.groups ?? [], inner, full);
      });
      groups.set(full, made);
      placedGroups.push({ prefix, task: group });
    }
  };
  addGroups(spec.groups ?? [], d, '');

  const fail = (taskId: string | undefined, field: string, message: string): never => {
    throw new DagValidationError([{ dagId: spec.id, taskId, field, message }], fileloc);
  };
  /** A name as seen from inside `prefix`: the innermost enclosing scope that has it wins. */
  const resolve = (name: string, prefix: string): Task | TaskGroup | undefined => {
    const scopes = prefix
      .split('.')
      .map((_, i, parts) => parts.slice(0, parts.length - i).join('.'));
    for (const scope of [...(prefix ? scopes : []), '']) {
      const full = scope ? `${scope}.${name}` : name;
      const found = tasks.get(full) ?? groups.get(full);
      if (found) return found;
    }
    return undefined;
  };
  const fullId = (p: Placed<YamlTaskLike>) => (p.prefix ? `${p.prefix}.${p.task.id}` : p.task.id);
  // Task-to-task edges first: a group's roots and leaves depend on them.
  const later: (() => void)[] = [];
  for (const p of placedTasks) {
    const id = fullId(p);
    const task = tasks.get(id);
    if (!task) continue;
    for (const up of p.task.upstream ?? []) {
      const upstream =
        resolve(up, p.prefix) ?? fail(id, 'upstream', `unknown upstream task "${up}"`);
      if ('dag' in upstream) task.after(upstream);
      else later.push(() => task.after(upstream));
    }
    const expand = p.task.expand;
    if (expand) {
      const opts = expand.maxLength === undefined ? {} : { maxLength: expand.maxLength };
      if ('items' in expand) task.expand(expand.items, opts);
      else {
        const source = resolve(expand.task, p.prefix);
        if (!source || !('dag' in source))
          fail(id, 'expand', `unknown task "${expand.task}" to map over`);
        task.expand(source as Task<readonly unknown[]>, opts);
      }
    }
  }
  for (const wire of later) wire();
  for (const p of placedGroups) {
    const group = groups.get(fullId(p))!;
    for (const up of p.task.upstream ?? []) {
      group.after(
        resolve(up, p.prefix) ??
          fail(undefined, 'upstream', `group "${fullId(p)}": unknown upstream "${up}"`),
      );
    }
  }
}
