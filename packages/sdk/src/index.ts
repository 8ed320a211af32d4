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
import type { ParamRule } from '@updraft/core/params';
import { type PodTaskConfigInput, podTaskConfigSchema } from '@updraft/kube/spec';

export type { DagSpec, TaskSpec, TriggerRule, WeightRule } from '@updraft/core/dag';
export type { PodTaskConfigInput } from '@updraft/kube/spec';

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
  /** Run a shell or function task in the worker ('worker') or in its own pod ('pod'). */
  executor?: 'worker' | 'pod';
}

export interface CommonTaskOptions extends TaskDefaults {
  upstream?: readonly Task[];
  doc?: string;
}

export interface DagOptions {
  id: string;
  /** Owning team: its namespace, quotas and access rules apply to this DAG. */
  team: string;
  description?: string;
  tags?: string[];
  /** Cron ("0 6 * * 1-5"), preset ("@daily"), interval ("15m"), "@once", or null for manual only. */
  schedule?: string | null;
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
  then(...next: Task[]): Task;
  // biome-ignore lint/suspicious/noThenProperty: see above
  then(...next: unknown[]): Task {
    if (next.some((n) => !(n instanceof Task))) {
      throw new TypeError(
        `task "${this.id}" is not a promise: do not await a task; use a.then(b) only with tasks`,
      );
    }
    for (const task of next as Task[]) task.after(this);
    return (next[next.length - 1] as Task | undefined) ?? this;
  }

  /** Makes this task run after each of `upstream`. */
  after(...upstream: Task[]): this {
    for (const up of upstream) {
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
  options: CommonTaskOptions;
  config: Record<string, unknown>;
  fn?: TaskFunction<unknown>;
}

export class Dag {
  readonly [DAG_BRAND] = true;
  readonly id: string;
  readonly options: DagOptions;
  readonly #tasks = new Map<string, TaskEntry>();

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
    const entry: TaskEntry = { task, type, options, config };
    if (fn) entry.fn = fn as TaskFunction<unknown>;
    this.#tasks.set(id, entry);
    if (options.upstream) task.after(...options.upstream);
    return task;
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
  k8sPod(id: string, options: CommonTaskOptions & PodTaskConfigInput): Task<unknown> {
    const common: Record<string, unknown> = {};
    const config: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(options)) {
      if (value === undefined) continue;
      if (COMMON_OPTION_KEYS.has(key)) common[key] = value;
      else config[key] = value;
    }
    return this.#add(id, 'k8sPod', common as CommonTaskOptions, config);
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
    const tasks: TaskSpec[] = [...this.#tasks.values()].map(({ task, type, options, config }) => {
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
        executor: t.executor ?? null,
        doc: options.doc ?? null,
        config,
      };
    });
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
        schedule: o.schedule ?? null,
        timezone: o.timezone ?? 'UTC',
        startDate: dateOf(o.startDate),
        endDate: dateOf(o.endDate),
        catchup: o.catchup ?? false,
        maxActiveRuns: o.maxActiveRuns ?? 16,
        maxActiveTasks: o.maxActiveTasks ?? 16,
        runTimeoutMs: runTimeoutMs,
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
