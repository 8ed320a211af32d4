/**
 * The Updraft DAG SDK. A DAG file exports one or more DAGs built with `dag()`:
 *
 *   export default dag({ id: 'daily_sales', team: 'analytics', schedule: '@daily' }, (d) => {
 *     const extract = d.shell('extract', { command: 'echo extracting {{ ds }}' });
 *     const total = d.fn('total', async (ctx) => ({ rows: 42 }));
 *     const report = d.fn('report', async (ctx) => (await ctx.pull(total))?.rows);
 *     extract.then(total).then(report);
 *   });
 *
 * Dependencies are typed references, never strings; `ctx.pull(task)` is typed by the task's result.
 */
import {
  type DagSpec,
  DagValidationError,
  type HttpConfig,
  ID_PATTERN,
  type TaskSpec,
  type TaskType,
  type TriggerRule,
  validateDagSpec,
  type WeightRule,
} from '@updraft/core/dag';
import { type DurationInput, parseDuration } from '@updraft/core/duration';
import { DEFAULT_MAX_MAP_LENGTH } from '@updraft/core/mapping';
import type { ParamRule } from '@updraft/core/params';
import { type ScheduleInput, scheduleFields, type TimetableInput } from '@updraft/core/timetable';
import { type PodTaskConfigInput, podTaskConfigSchema } from '@updraft/kube/spec';
import {
  type CallbackInput,
  type DeadlineOptions,
  dagCallbackSpecs,
  deadlineSpec,
  taskCallbackSpecs,
} from './callbacks.ts';
import { isTaskGroup, TaskGroup, upstreamTasksOf } from './group.ts';
import {
  type HttpJobOptions,
  httpJobTask,
  type SensorBuilders,
  sensorBuilders,
} from './sensors.ts';

export type { DagSpec, TaskSpec, TriggerRule, WeightRule } from '@updraft/core/dag';
export type { PodTaskConfigInput } from '@updraft/kube/spec';
export {
  type CallbackContext,
  type CallbackFunction,
  type CallbackInput,
  callbackFunction,
  type DeadlineOptions,
  type Webhook,
  type WebhookOptions,
  webhook,
} from './callbacks.ts';
export { TaskGroup } from './group.ts';
export type {
  CheckResult,
  HttpJobOptions,
  HttpResponseInfo,
  SensorBuilders,
  SensorOptions,
} from './sensors.ts';

/** Config schemas of task types that live outside @updraft/core (checked when a DAG is loaded). */
const EXTRA_CONFIG = { k8sPod: podTaskConfigSchema };

/** Option names of CommonTaskOptions: everything else given to k8sPod() is pod config. */
const COMMON_OPTION_KEYS: ReadonlySet<string> = new Set([
  'upstream',
  'doc',
  'retries',
  'retryDelay',
  'retryExponentialBackoff',
  'maxRetryDelay',
  'timeout',
  'triggerRule',
  'priorityWeight',
  'weightRule',
  'pool',
  'dependsOnPast',
  'waitForDownstream',
  'poolSlots',
  'maxActiveTisPerDag',
  'maxActiveTisPerDagrun',
  'onSuccess',
  'onFailure',
  'onRetry',
  'onSkipped',
] satisfies (keyof CommonTaskOptions)[]);

/** Brand shared across module instances (the DAG processor may load the SDK more than once). */
export const DAG_BRAND = Symbol.for('updraft.dag');

export interface TaskDefaults {
  retries?: number;
  retryDelay?: DurationInput;
  retryExponentialBackoff?: boolean;
  maxRetryDelay?: DurationInput;
  /** Per-try execution timeout. */
  timeout?: DurationInput;
  triggerRule?: TriggerRule;
  priorityWeight?: number;
  weightRule?: WeightRule;
  pool?: string;
  /** Slots of the pool each instance of the task occupies while queued or running (default 1). */
  poolSlots?: number;
  /** At most this many instances of the task queued or running across all runs of the DAG. */
  maxActiveTisPerDag?: number;
  /** At most this many instances of the task queued or running within one run. */
  maxActiveTisPerDagrun?: number;
  /** Called when the task succeeds (a function in this file, or webhook({ url })). */
  onSuccess?: CallbackInput;
  /** Called when a try fails for good (no retries left). */
  onFailure?: CallbackInput;
  /** Called when a try fails and the task will be retried. */
  onRetry?: CallbackInput;
  /** Called when the task itself ends skipped while running (not when skipped by others). */
  onSkipped?: CallbackInput;
  /** Run a shell or function task in the worker ('worker') or in its own pod ('pod'). */
  executor?: 'worker' | 'pod';
  /** Run only if this task ended success or skipped in the previous run (Airflow's depends_on_past). */
  dependsOnPast?: boolean;
  /** Also wait until the previous run's direct downstream tasks of this task ended success or skipped (implies dependsOnPast). */
  waitForDownstream?: boolean;
}

export interface CommonTaskOptions extends TaskDefaults {
  upstream?: readonly (Task | TaskGroup)[];
  doc?: string;
}

export interface DagOptions {
  id: string;
  /** Owning team: its namespace, quotas and access rules apply to this DAG. */
  team: string;
  description?: string;
  tags?: string[];
  /**
   * Cron ("0 6 * * 1-5"), preset ("@daily"), interval ("15m"), "@once", or null for manual only;
   * `{ cron, style: 'trigger', interval? }` for trigger-style cron (docs/concepts/schedules.md).
   */
  schedule?: ScheduleInput;
  /** A timetable by name (built-in "events", "cron_trigger", … or one the deployment registered). */
  timetable?: TimetableInput;
  /** IANA timezone for cron schedules. */
  timezone?: string;
  startDate?: string | Date;
  endDate?: string | Date;
  /** Create runs for every missed interval since the start date (default false, as Airflow 3). */
  catchup?: boolean;
  maxActiveRuns?: number;
  maxActiveTasks?: number;
  /** Fail a run that has not finished this long after it started ("2h"); unfinished tasks are skipped. */
  runTimeout?: DurationInput;
  /** Queued or running task instances per run (Airflow 3's max_active_tasks); default no limit. */
  maxActiveTasksPerRun?: number;
  /** Called when a run succeeds. */
  onSuccess?: CallbackInput;
  /** Called when a run fails. */
  onFailure?: CallbackInput;
  /** Deadline alert: { after: '30m', callback } — after the data interval end by default. */
  deadline?: DeadlineOptions;
  /** Defaults for every task of the DAG. */
  defaults?: TaskDefaults;
  /**
   * Run parameters: a default value, or param({ type, enum, minimum, …, default }) to also check
   * a manual run's conf when it is triggered. A manual run's conf overrides the defaults.
   */
  params?: Record<string, unknown>;
}

export interface TaskContext {
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  logicalDate: Date;
  dataIntervalStart: Date;
  dataIntervalEnd: Date;
  /** Logical date as YYYY-MM-DD. */
  ds: string;
  /** DAG params merged with the run's conf. */
  params: Record<string, unknown>;
  conf: Record<string, unknown>;
  /** Aborted when the task times out, is cleared or marked failed, or the worker shuts down. */
  signal: AbortSignal;
  /** Writes a line to the task log. */
  log(...args: unknown[]): void;
  /** The result (return value) of an upstream task in this run. */
  pull<T>(task: Task<T>): Promise<T | undefined>;
  /** Stores a named value (XCom) for downstream tasks. */
  push(key: string, value: unknown): Promise<void>;
  /** A named value pushed by a task of this run. */
  pullKey<T = unknown>(taskId: string, key: string): Promise<T | undefined>;
  /** A mapped task instance's item of the list it maps over (see `d.map` / `task.expand`). */
  item?: unknown;
}

export type TaskFunction<T> = (ctx: TaskContext) => T | Promise<T>;

const PARAM_BRAND = Symbol.for('updraft.param');

export interface ParamOptions extends ParamRule {
  default?: unknown;
}

/** A run parameter with a rule, checked when a run is triggered: param({ type: 'integer', minimum: 1, default: 3 }). */
export function param(options: ParamOptions): ParamOptions {
  return { ...options, [PARAM_BRAND]: true } as ParamOptions;
}

function isParam(value: unknown): value is ParamOptions {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[PARAM_BRAND] === true
  );
}

/** What a branch task returns: the downstream task(s) to follow, by id or reference, or null. */
export type BranchChoice = string | Task | readonly (string | Task)[] | null;

/** Raised by a task to fail without retrying. */
export class NonRetryableError extends Error {
  readonly nonRetryable = true;
}

/** A task in a DAG. `T` is the type of its result, so `ctx.pull(task)` is typed. */
export class Task<T = unknown> {
  readonly id: string;
  readonly dag: Dag;
  /** @internal mutable while the DAG is being built */
  readonly upstreamIds: string[] = [];
  declare readonly __result?: T;
  /** @internal set by expand(): what a mapped task maps over */
  expandSource: { over: readonly unknown[] | Task; maxLength: number | undefined } | null = null;

  constructor(dag: Dag, id: string) {
    this.dag = dag;
    this.id = id;
  }

  /**
   * Makes `next` run after this task. Returns the last task given, for chaining: a.then(b).then(c).
   * (A method named `then` makes a Task look like a promise; awaiting one fails with a clear error.)
   */
  // biome-ignore lint/suspicious/noThenProperty: `a.then(b)` is the SDK's dependency syntax
  then<U>(next: Task<U>): Task<U>;
  // biome-ignore lint/suspicious/noThenProperty: see above
  then(next: TaskGroup): TaskGroup;
  // biome-ignore lint/suspicious/noThenProperty: see above
  then(...next: (Task | TaskGroup)[]): Task | TaskGroup;
  // biome-ignore lint/suspicious/noThenProperty: see above
  then(...next: unknown[]): Task | TaskGroup {
    if (next.some((n) => !(n instanceof Task) && !isTaskGroup(n))) {
      throw new TypeError(
        `task "${this.id}" is not a promise: do not await a task; use a.then(b) only with tasks and groups`,
      );
    }
    for (const node of next as (Task | TaskGroup)[]) node.after(this);
    return (next[next.length - 1] as Task | TaskGroup | undefined) ?? this;
  }

  /**
   * Dynamic task mapping: runs this task once per item of `over` — a literal JSON list, or the
   * result (a list) of another task, which becomes an upstream task. Each instance sees its item as
   * `ctx.item` / `{{ item }}` and its index as `ctx.mapIndex` / `{{ map_index }}`. An empty list
   * skips the task; a list longer than `maxLength` (default 1024) fails it. Returns this task, typed
   * by the list of its results (what `ctx.pull` gives downstream, ordered by map index).
   */
  expand(
    over: readonly unknown[] | Task<readonly unknown[]>,
    opts: { maxLength?: number } = {},
  ): Task<T[]> {
    if (over instanceof Task) this.after(over);
    this.expandSource = {
      over: over instanceof Task ? over : [...over],
      maxLength: opts.maxLength,
    };
    return this as unknown as Task<T[]>;
  }

  /** Makes this task run after each of `upstream` (a group: after the group's leaves). */
  after(...nodes: (Task | TaskGroup)[]): this {
    for (const up of nodes.flatMap(upstreamTasksOf)) {
      if (up.dag !== this.dag) {
        throw new DagValidationError([
          {
            dagId: this.dag.id,
            taskId: this.id,
            field: 'upstream',
            message: `task "${up.id}" belongs to DAG "${up.dag.id}"; dependencies must stay within one DAG`,
          },
        ]);
      }
      if (!this.upstreamIds.includes(up.id)) this.upstreamIds.push(up.id);
    }
    return this;
  }
}

interface TaskEntry {
  task: Task;
  type: TaskType;
  /** The task group's full id, or null at the top level. */
  group: string | null;
  options: CommonTaskOptions;
  config: Record<string, unknown>;
  fn?: TaskFunction<unknown>;
}

export class Dag {
  readonly [DAG_BRAND] = true;
  readonly id: string;
  readonly options: DagOptions;
  readonly #tasks = new Map<string, TaskEntry>();
  /** Task groups being built (innermost last), and every group id used. */
  readonly #groups: TaskGroup[] = [];
  readonly #groupIds = new Set<string>();

  constructor(options: DagOptions) {
    this.id = options.id;
    this.options = options;
  }

  #add<T>(
    id: string,
    type: TaskType,
    options: CommonTaskOptions,
    config: Record<string, unknown>,
    fn?: TaskFunction<T>,
  ): Task<T> {
    // Inside d.group(): the id is prefixed with the group's, and the group's defaults apply.
    const group = this.#groups.at(-1) ?? null;
    if (group) {
      id = `${group.id}.${id}`;
      options = { ...group.defaults, ...options };
    }
    if (this.#tasks.has(id)) {
      throw new DagValidationError([{ dagId: this.id, taskId: id, message: 'duplicate task id' }]);
    }
    if (!ID_PATTERN.test(id)) {
      throw new DagValidationError([
        {
          dagId: this.id,
          taskId: id,
          message: 'task id must be 1-250 letters, digits, "_", "-" or "."',
        },
      ]);
    }
    const task = new Task<T>(this, id);
    const entry: TaskEntry = { task, type, group: group?.id ?? null, options, config };
    if (fn) entry.fn = fn as TaskFunction<unknown>;
    this.#tasks.set(id, entry);
    for (const g of this.#groups) g.tasks.push(task);
    if (options.upstream) task.after(...options.upstream);
    return task;
  }

  /**
   * A task group (Airflow's TaskGroup): tasks declared in `build` get ids prefixed with the group
   * id ("extract.load") and the group's `defaults` (over the DAG's). Groups nest. Wire the group as
   * a whole: `group.then(task)`, `task.then(group)`.
   */
  group(id: string, build: (g: Dag) => void): TaskGroup;
  group(id: string, defaults: TaskDefaults, build: (g: Dag) => void): TaskGroup;
  group(
    id: string,
    defaultsOrBuild: TaskDefaults | ((g: Dag) => void),
    maybeBuild?: (g: Dag) => void,
  ): TaskGroup {
    const build = typeof defaultsOrBuild === 'function' ? defaultsOrBuild : maybeBuild;
    const defaults = typeof defaultsOrBuild === 'function' ? {} : defaultsOrBuild;
    const parent = this.#groups.at(-1);
    const fullId = parent ? `${parent.id}.${id}` : id;
    const bad = !/^[A-Za-z0-9_-]{1,200}$/.test(id)
      ? 'group id must be 1-200 letters, digits, "_" or "-" (no ".": it separates group and task ids)'
      : this.#groupIds.has(fullId)
        ? `duplicate task group id "${fullId}"`
        : !build
          ? 'a task group needs a function that declares its tasks'
          : null;
    if (bad) throw new DagValidationError([{ dagId: this.id, field: 'group', message: bad }]);
    this.#groupIds.add(fullId);
    const group = new TaskGroup(fullId, { ...parent?.defaults, ...defaults });
    this.#groups.push(group);
    try {
      build!(this);
    } finally {
      this.#groups.pop();
    }
    return group;
  }

  /**
   * A mapped function task: `fn` runs once per item of `over` (a literal list, or the list another
   * task returns), with the item typed as `ctx.item`. Shorthand for `d.fn(id, fn).expand(over)`.
   */
  map<I, T>(
    id: string,
    over: readonly I[] | Task<readonly I[]> | Task<I[]>,
    fn: (ctx: TaskContext & { item: I }) => T | Promise<T>,
    options: CommonTaskOptions & { maxLength?: number } = {},
  ): Task<Awaited<T>[]> {
    const { maxLength, ...common } = options;
    return this.fn(id, fn as TaskFunction<T>, common).expand(
      over as readonly unknown[] | Task<readonly unknown[]>,
      maxLength === undefined ? {} : { maxLength },
    );
  }

  /** Runs a shell command (sh -c). Templated: "{{ ds }}", "{{ params.x }}". */
  shell(
    id: string,
    options: CommonTaskOptions & { command: string; env?: Record<string, string>; cwd?: string },
  ): Task<string> {
    const { command, env, cwd, ...common } = options;
    return this.#add(id, 'shell', common, {
      command,
      ...(env ? { env } : {}),
      ...(cwd ? { cwd } : {}),
    });
  }

  /** Runs a TypeScript function in the worker. Its return value is the task's result (XCom). */
  fn<T>(id: string, fn: TaskFunction<T>, options: CommonTaskOptions = {}): Task<Awaited<T>> {
    return this.#add(id, 'function', options, {}, fn) as Task<Awaited<T>>;
  }

  /**
   * Branching: `fn` returns the direct downstream task(s) to follow (ids or tasks), or null for
   * none; the other direct downstream tasks are skipped (a join that is also downstream of a
   * followed task still runs). Give the join a trigger rule such as none_failed_min_one_success.
   */
  branch(
    id: string,
    fn: TaskFunction<BranchChoice>,
    options: CommonTaskOptions = {},
  ): Task<BranchChoice> {
    return this.#add(id, 'function', options, { control: 'branch' }, fn);
  }

  /**
   * Short-circuit: when `fn` returns a falsy value, everything downstream is skipped; with
   * `ignoreDownstreamTriggerRules: false` only the direct downstream tasks are skipped and the rest
   * follow their trigger rules.
   */
  shortCircuit<T>(
    id: string,
    fn: TaskFunction<T>,
    options: CommonTaskOptions & { ignoreDownstreamTriggerRules?: boolean } = {},
  ): Task<Awaited<T>> {
    const { ignoreDownstreamTriggerRules, ...common } = options;
    const config = {
      control: 'short_circuit',
      ...(ignoreDownstreamTriggerRules === false && { ignoreDownstreamTriggerRules }),
    };
    return this.#add(id, 'function', common, config, fn) as Task<Awaited<T>>;
  }

  /**
   * Latest-only (Airflow 3's LatestOnlyOperator): when the run is not the latest scheduled one
   * (now is not within [its data interval end, the next fire time]), its direct downstream tasks
   * are skipped. Manual runs and DAGs without a schedule never skip. Result: true when latest.
   */
  latestOnly(id: string, options: CommonTaskOptions = {}): Task<boolean> {
    return this.#add(id, 'function', options, { control: 'latest_only' });
  }

  /** Calls an HTTP endpoint; a status outside `expectStatus` (default 2xx) fails the task. */
  http(
    id: string,
    options: CommonTaskOptions & Partial<HttpConfig> & { url: string },
  ): Task<unknown> {
    const { method, url, headers, body, expectStatus, responseAs, ...common } = options;
    const config: Record<string, unknown> = {
      method: method ?? 'GET',
      url,
      responseAs: responseAs ?? 'json',
    };
    if (headers) config.headers = headers;
    if (body !== undefined) config.body = body;
    if (expectStatus) config.expectStatus = expectStatus;
    return this.#add(id, 'http', common, config);
  }

  /**
   * Runs a container as a Kubernetes pod in the DAG's team namespace, one pod per try. Templated:
   * `command`, `args` and plain `env` values ("{{ ds }}", "{{ params.x }}", and the result of
   * another task of the run as "{{ xcom.<task_id> }}" or "{{ xcom.<task_id>.<field> }}").
   * The container writes its JSON result to `$UPDRAFT_RESULT_PATH` (the termination message, at
   * most 4096 bytes); that becomes the task's result.
   */
  k8sPod(
    id: string,
    options: CommonTaskOptions &
      Omit<PodTaskConfigInput, 'startupTimeout'> & { startupTimeout?: DurationInput },
  ): Task<unknown> {
    const common: Record<string, unknown> = {};
    const config: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(options)) {
      if (value === undefined) continue;
      if (COMMON_OPTION_KEYS.has(key)) common[key] = value;
      else config[key] = value;
    }
    return this.#add(id, 'k8sPod', common as CommonTaskOptions, config);
  }

  /**
   * Sensors wait for a condition: d.sensor.check / externalTask / http / sql / file, in mode
   * 'poke' or 'reschedule' (docs/concepts/sensors.md).
   */
  get sensor(): SensorBuilders {
    return sensorBuilders(this.id, (id, type, options, config, fn) =>
      this.#add(id, type, options, config, fn),
    );
  }

  /** Starts an external job over HTTP and polls its status without holding a worker (docs/concepts/http-jobs.md). */
  httpJob(id: string, options: HttpJobOptions): Task<unknown> {
    return httpJobTask(this.id, id, options, (i, type, o, config) => this.#add(i, type, o, config));
  }

  /** Adds a task of any type from its raw config (used by the YAML loader and extensions). */
  task(
    id: string,
    type: TaskType,
    config: Record<string, unknown>,
    options: CommonTaskOptions = {},
  ): Task {
    return this.#add(id, type, options, config);
  }

  /** The function behind a function task, for the worker. */
  functionOf(taskId: string): TaskFunction<unknown> | undefined {
    return this.#tasks.get(taskId)?.fn;
  }

  get taskIds(): string[] {
    return [...this.#tasks.keys()];
  }

  /** The validated, serializable definition stored as a DAG version. */
  toSpec(opts: { fileloc?: string } = {}): DagSpec {
    const o = this.options;
    const d = o.defaults ?? {};
    const dateOf = (v: string | Date | undefined) =>
      v === undefined ? null : v instanceof Date ? v.toISOString() : v;
    const issues: { taskId: string | undefined; field: string; message: string }[] = [];
    const duration = (
      taskId: string,
      field: string,
      v: DurationInput | undefined,
    ): number | null => {
      if (v === undefined) return null;
      try {
        return parseDuration(v);
      } catch (error) {
        issues.push({ taskId, field, message: (error as Error).message });
        return null;
      }
    };
    const tasks: TaskSpec[] = [...this.#tasks.values()].map(
      ({ task, type, group, options, config }) => {
        const t = { ...d, ...options };
        return {
          taskId: task.id,
          type,
          upstream: [...task.upstreamIds],
          retries: t.retries ?? 0,
          retryDelayMs: duration(task.id, 'retryDelay', t.retryDelay) ?? 300_000,
          retryExponentialBackoff: t.retryExponentialBackoff ?? false,
          maxRetryDelayMs: duration(task.id, 'maxRetryDelay', t.maxRetryDelay),
          timeoutMs: duration(task.id, 'timeout', t.timeout),
          triggerRule: t.triggerRule ?? 'all_success',
          priorityWeight: t.priorityWeight ?? 1,
          weightRule: t.weightRule ?? 'downstream',
          pool: t.pool ?? 'default_pool',
          poolSlots: t.poolSlots ?? 1,
          maxActiveTisPerDag: t.maxActiveTisPerDag ?? null,
          maxActiveTisPerDagrun: t.maxActiveTisPerDagrun ?? null,
          callbacks: taskCallbackSpecs(this, task.id, t, issues),
          executor: t.executor ?? null,
          expand: expandSpec(task),
          group,
          dependsOnPast: (t.dependsOnPast ?? false) || (t.waitForDownstream ?? false),
          waitForDownstream: t.waitForDownstream ?? false,
          doc: options.doc ?? null,
          // A pod's startupTimeout may be a duration ('2m') like every other; stored in ms.
          config:
            type === 'k8sPod' && typeof config.startupTimeout === 'string'
              ? {
                  ...config,
                  startupTimeout:
                    duration(task.id, 'config.startupTimeout', config.startupTimeout) ?? undefined,
                }
              : config,
        };
      },
    );
    const params: Record<string, unknown> = {};
    const paramRules: Record<string, ParamRule> = {};
    for (const [name, value] of Object.entries(o.params ?? {})) {
      if (isParam(value)) {
        const { default: fallback, ...rule } = value;
        paramRules[name] = rule;
        if (fallback !== undefined) params[name] = fallback;
      } else {
        params[name] = value;
      }
    }
    let runTimeoutMs: number | null = null;
    if (o.runTimeout !== undefined) {
      try {
        runTimeoutMs = parseDuration(o.runTimeout);
      } catch (error) {
        issues.push({ taskId: undefined, field: 'runTimeout', message: (error as Error).message });
      }
    }
    const dagCallbacks = dagCallbackSpecs(this, o, issues);
    let when: ReturnType<typeof scheduleFields> = { schedule: null, timetable: null };
    try {
      when = scheduleFields(o.schedule, o.timetable);
    } catch (error) {
      const field = (error as { field?: string }).field ?? 'schedule';
      issues.push({ taskId: undefined, field, message: (error as Error).message });
    }
    const deadline = deadlineSpec(this, o.deadline, issues);
    if (issues.length > 0) {
      throw new DagValidationError(
        issues.map((i) => ({ dagId: this.id, ...i })),
        opts.fileloc,
      );
    }
    return validateDagSpec(
      {
        dagId: o.id,
        team: o.team,
        description: o.description ?? null,
        tags: o.tags ?? [],
        schedule: when.schedule,
        timetable: when.timetable,
        timezone: o.timezone ?? 'UTC',
        startDate: dateOf(o.startDate),
        endDate: dateOf(o.endDate),
        catchup: o.catchup ?? false,
        maxActiveRuns: o.maxActiveRuns ?? 16,
        maxActiveTasks: o.maxActiveTasks ?? 16,
        runTimeoutMs: runTimeoutMs,
        maxActiveTasksPerRun: o.maxActiveTasksPerRun ?? null,
        callbacks: dagCallbacks,
        deadline,
        params,
        paramRules,
        tasks,
      },
      opts.fileloc
        ? { fileloc: opts.fileloc, extraConfig: EXTRA_CONFIG }
        : { extraConfig: EXTRA_CONFIG },
    );
  }
}

/** The spec of what a mapped task maps over (mapping.ts in @updraft/core). */
function expandSpec(task: Task): TaskSpec['expand'] {
  const src = task.expandSource;
  if (!src) return null;
  const maxLength = src.maxLength ?? DEFAULT_MAX_MAP_LENGTH;
  return src.over instanceof Task
    ? { task: src.over.id, maxLength }
    : { items: [...(src.over as readonly unknown[])], maxLength };
}

/** Defines a DAG. `build` declares its tasks and their dependencies. */
export function dag(options: DagOptions, build: (d: Dag) => void): Dag {
  const d = new Dag(options);
  build(d);
  return d;
}

export function isDag(value: unknown): value is Dag {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[DAG_BRAND] === true
  );
}
