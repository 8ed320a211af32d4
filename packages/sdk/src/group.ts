/**
 * Task groups (Airflow's TaskGroup): tasks declared inside `d.group('extract', …)` get ids
 * prefixed with the group's id ("extract.load"; nested: "outer.inner.load"), take the group's
 * defaults (over the DAG's), and the group can be wired as a whole: `group.then(task)` makes the
 * task run after the group's leaves, `task.then(group)` makes the group's roots run after it.
 */
import type { Task, TaskDefaults } from './index.ts';

export const GROUP_BRAND = Symbol.for('updraft.taskGroup');

/** Something a dependency can point at: a task or a whole group. */
export type Node = Task | TaskGroup;

export function isTaskGroup(value: unknown): value is TaskGroup {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[GROUP_BRAND] === true
  );
}

export class TaskGroup {
  readonly [GROUP_BRAND] = true;
  /** Full id, with the ids of enclosing groups: "outer.inner". */
  readonly id: string;
  /** Defaults of the tasks in the group: the enclosing group's, then this group's own. */
  readonly defaults: TaskDefaults;
  /** @internal every task in the group, nested groups included, in declaration order */
  readonly tasks: Task[] = [];

  constructor(id: string, defaults: TaskDefaults) {
    this.id = id;
    this.defaults = defaults;
  }

  /** Tasks of the group with no upstream task inside the group. */
  roots(): Task[] {
    const ids = new Set(this.tasks.map((t) => t.id));
    return this.tasks.filter((t) => !t.upstreamIds.some((up) => ids.has(up)));
  }

  /** Tasks of the group with no downstream task inside the group. */
  leaves(): Task[] {
    const upstreamOfMembers = new Set(this.tasks.flatMap((t) => t.upstreamIds));
    return this.tasks.filter((t) => !upstreamOfMembers.has(t.id));
  }

  /** Makes `next` (tasks or groups) run after this group's leaves. Returns the last one given. */
  // biome-ignore lint/suspicious/noThenProperty: `group.then(task)` is the SDK's dependency syntax
  then<N extends Node>(...next: N[]): N {
    for (const n of next) n.after(this);
    return next[next.length - 1] as N;
  }

  /** Makes this group's roots run after each of `upstream` (tasks or groups). */
  after(...upstream: Node[]): this {
    for (const root of this.roots()) root.after(...upstream);
    return this;
  }
}

/** The tasks a dependency on `node` means: the task itself, or a group's leaves. */
export function upstreamTasksOf(node: Node): Task[] {
  return isTaskGroup(node) ? node.leaves() : [node];
}
