/**
 * The DAG model as stored: a JSON-serializable DagSpec that the SDK produces, the database keeps as
 * an immutable version, and the scheduler and worker read. Validation here is the single place
 * that decides whether a DAG is acceptable; its errors name the file, the DAG and the task.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { dagCallbacksSchema, deadlineSchema, taskCallbacksSchema } from './callbacks.ts';
import { InvalidError } from './errors.ts';
import { jsonProblem } from './json.ts';
import { expandSpecSchema, mappingIssues } from './mapping.ts';
import { paramIssues, paramRuleSchema } from './params.ts';
import { parseSchedule, ScheduleError } from './schedule.ts';
import { httpJobConfigSchema, sensorConfigSchema } from './sensors.ts';
import { builtinTimetables, isScheduled, timetableRefSchema } from './timetable.ts';

export const TASK_TYPES = ['shell', 'function', 'http', 'k8sPod', 'sensor', 'httpJob'] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export const TRIGGER_RULES = [
  'all_success',
  'all_failed',
  'all_done',
  'all_done_min_one_success',
  'all_skipped',
  'one_success',
  'one_failed',
  'one_done',
  'none_failed',
  'none_failed_min_one_success',
  'none_skipped',
  'always',
] as const;
export type TriggerRule = (typeof TRIGGER_RULES)[number];

export const WEIGHT_RULES = ['downstream', 'upstream', 'absolute'] as const;
export type WeightRule = (typeof WEIGHT_RULES)[number];

/** Airflow's id rule: letters, digits, underscore, dash and dot. */
export const ID_PATTERN = /^[A-Za-z0-9_.-]{1,250}$/;

const idSchema = (what: string) =>
  z.string().regex(ID_PATTERN, `${what} must be 1-250 letters, digits, "_", "-" or "."`);

/**
 * A date strictly in ISO 8601: a date, or a date and time with an offset (or, with `local`,
 * without one). Date.parse would also take "2026-02-30" (as March 2) and "1" (as 2001).
 */
export const isoDateSchema = (opts: { local: boolean }) =>
  z.union([z.iso.date(), z.iso.datetime({ offset: true, local: opts.local })], {
    error: 'must be an ISO-8601 date such as "2026-01-01" or "2026-01-01T00:00:00Z"',
  });

const isoDate = isoDateSchema({ local: true });

export const shellConfigSchema = z.strictObject({
  command: z.string().min(1, 'command must not be empty'),
  env: z.record(z.string(), z.string()).optional(),
  cwd: z.string().optional(),
});
export type ShellConfig = z.infer<typeof shellConfigSchema>;

export const httpConfigSchema = z.strictObject({
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).default('GET'),
  url: z.string().min(1),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.unknown().optional(),
  /** Status codes that count as success; default any 2xx. */
  expectStatus: z.array(z.number().int().min(100).max(599)).optional(),
  /** Store the response body as the task's result (XCom). */
  responseAs: z.enum(['json', 'text', 'none']).default('json'),
});
export type HttpConfig = z.infer<typeof httpConfigSchema>;

export const functionConfigSchema = z.strictObject({
  /** Control-flow function tasks (branch, short-circuit): see branching.ts. */
  control: z.enum(['branch', 'short_circuit', 'latest_only']).optional(),
  ignoreDownstreamTriggerRules: z.boolean().optional(),
});
export type FunctionConfig = z.infer<typeof functionConfigSchema>;

export const taskSpecSchema = z.strictObject({
  taskId: idSchema('task id'),
  type: z.enum(TASK_TYPES),
  upstream: z.array(z.string()),
  retries: z.number().int().min(0).max(100),
  retryDelayMs: z.number().int().min(0),
  retryExponentialBackoff: z.boolean(),
  maxRetryDelayMs: z.number().int().min(0).nullable(),
  timeoutMs: z.number().int().positive().nullable(),
  triggerRule: z.enum(TRIGGER_RULES),
  priorityWeight: z.number().int(),
  weightRule: z.enum(WEIGHT_RULES),
  pool: z.string().min(1),
  /** Slots of its pool a task instance occupies while queued or running (pools.md). */
  poolSlots: z.number().int().min(1).default(1),
  /** At most this many instances of this task queued or running across all runs (null: no limit). */
  maxActiveTisPerDag: z.number().int().positive().nullable().default(null),
  /** At most this many instances of this task queued or running within one run (null: no limit). */
  maxActiveTisPerDagrun: z.number().int().positive().nullable().default(null),
  /** on_success / on_failure / on_retry / on_skipped callbacks (callbacks.md). */
  callbacks: taskCallbacksSchema.default({}),
  /** Where a shell or function task runs: in the worker's process or in its own pod (null: the team's default). */
  executor: z.enum(['worker', 'pod']).nullable().default(null),
  /** Dynamic task mapping: one instance per item of a list (mapping.md); null when not mapped. */
  expand: expandSpecSchema.nullable().default(null),
  /** The task group the task belongs to ("outer.inner"; task-groups.md); null at the top level. */
  group: z.string().nullable().default(null),
  /** Run only if this task ended success or skipped in the previous run (depends-on-past.md). */
  dependsOnPast: z.boolean().default(false),
  /** Also wait for the previous run's direct downstream tasks of this task (implies dependsOnPast). */
  waitForDownstream: z.boolean().default(false),
  doc: z.string().nullable(),
  config: z.record(z.string(), z.unknown()),
});
export type TaskSpec = z.infer<typeof taskSpecSchema>;

export const dagSpecSchema = z.strictObject({
  dagId: idSchema('DAG id'),
  team: z.string().min(1, 'team is required: every DAG is owned by a team'),
  description: z.string().nullable(),
  tags: z.array(z.string()),
  schedule: z.string().nullable(),
  /**
   * The timetable deciding when runs happen (timetable.ts): a built-in such as cron_trigger or
   * events, or one the deployment registered. Null: the one the schedule string names.
   */
  timetable: timetableRefSchema.nullable().default(null),
  timezone: z.string(),
  startDate: isoDate.nullable(),
  endDate: isoDate.nullable(),
  catchup: z.boolean(),
  maxActiveRuns: z.number().int().positive(),
  maxActiveTasks: z.number().int().positive(),
  /** A run still unfinished this long after it started fails; its unfinished tasks are skipped. */
  runTimeoutMs: z.number().int().positive().nullable().default(null),
  /** Airflow 3's max_active_tasks: queued or running task instances per run (null: no limit). */
  maxActiveTasksPerRun: z.number().int().positive().nullable().default(null),
  /** Run-level on_success / on_failure callbacks (callbacks.md). */
  callbacks: dagCallbacksSchema.default({}),
  /** Deadline alert: a callback when a run has not finished in time (callbacks.md). */
  deadline: deadlineSchema.nullable().default(null),
  params: z.record(z.string(), z.unknown()),
  /** Rules for params (see params.ts); params without a rule accept any JSON value. */
  paramRules: z.record(z.string(), paramRuleSchema).default({}),
  tasks: z.array(taskSpecSchema).min(1, 'a DAG needs at least one task'),
});
export type DagSpec = z.infer<typeof dagSpecSchema>;

export interface DagIssue {
  dagId?: string | undefined;
  taskId?: string | undefined;
  field?: string | undefined;
  message: string;
}

export function formatDagIssue(issue: DagIssue, fileloc?: string): string {
  const where = [
    fileloc,
    issue.dagId ? `DAG "${issue.dagId}"` : undefined,
    issue.taskId ? `task "${issue.taskId}"` : undefined,
    issue.field ? `field "${issue.field}"` : undefined,
  ].filter(Boolean);
  return `${where.join(': ')}: ${issue.message}`;
}

export class DagValidationError extends InvalidError {
  readonly issues: DagIssue[];
  readonly fileloc: string | undefined;
  constructor(issues: DagIssue[], fileloc?: string) {
    super(issues.map((i) => formatDagIssue(i, fileloc)).join('\n'), { issues, fileloc });
    this.issues = issues;
    this.fileloc = fileloc;
  }
}

const TASK_CONFIG_SCHEMAS: Partial<Record<TaskType, z.ZodType>> = {
  shell: shellConfigSchema,
  http: httpConfigSchema,
  function: functionConfigSchema,
  sensor: sensorConfigSchema,
  httpJob: httpJobConfigSchema,
};

/**
 * Checks a DagSpec completely and returns every issue found (not just the first). `extraConfig`
 * lets callers validate task types whose schema lives elsewhere (k8sPod).
 */
export function dagIssues(
  input: unknown,
  extraConfig: Partial<Record<TaskType, z.ZodType>> = {},
): DagIssue[] {
  const parsed = dagSpecSchema.safeParse(input);
  const rawDagId =
    typeof input === 'object' && input && 'dagId' in input && typeof input.dagId === 'string'
      ? input.dagId
      : undefined;
  if (!parsed.success) {
    return parsed.error.issues.map((issue) => {
      const [first, index, ...rest] = issue.path;
      let taskId: string | undefined;
      if (first === 'tasks' && typeof index === 'number') {
        const raw = (input as { tasks?: { taskId?: unknown }[] }).tasks?.[index]?.taskId;
        taskId = typeof raw === 'string' ? raw : `#${index}`;
      }
      const field = taskId ? rest.join('.') : issue.path.join('.');
      return { dagId: rawDagId, taskId, field: field || undefined, message: issue.message };
    });
  }
  const spec = parsed.data;
  const issues: DagIssue[] = [];
  const dagId = spec.dagId;
  // A DAG version is stored as JSON: a value JSON cannot hold would fail when it is recorded (or
  // be changed silently), far from the file that has it.
  const notJson = jsonProblem(spec.params, 'params');
  if (notJson) issues.push({ dagId, field: notJson.path, message: notJson.message });
  for (const task of spec.tasks) {
    const problem = jsonProblem(task.config, 'config');
    if (problem)
      issues.push({ dagId, taskId: task.taskId, field: problem.path, message: problem.message });
  }
  try {
    parseSchedule(spec.schedule, spec.timezone);
  } catch (error) {
    if (!(error instanceof ScheduleError)) throw error;
    const field = /timezone/.test(error.message) ? 'timezone' : 'schedule';
    issues.push({ dagId, field, message: error.message });
  }
  // Built-in timetables are checked here; others against the deployment's registry when loaded.
  if (spec.timetable && builtinTimetables().has(spec.timetable.name)) {
    try {
      builtinTimetables().create(spec.timetable, spec);
    } catch (error) {
      if (!(error instanceof ScheduleError)) throw error;
      issues.push({ dagId, field: 'timetable', message: error.message });
    }
  }
  if (spec.schedule === '@once' && !spec.startDate) {
    issues.push({ dagId, field: 'startDate', message: 'an @once schedule needs a start date' });
  }
  if (spec.startDate && spec.endDate && Date.parse(spec.endDate) < Date.parse(spec.startDate)) {
    issues.push({ dagId, field: 'endDate', message: 'end date is before start date' });
  }
  // Defaults must satisfy their rules. A required param without a default is only possible for a
  // DAG without a schedule: scheduled runs have no conf and use the defaults (as in Airflow).
  const scheduled = isScheduled(spec);
  for (const issue of paramIssues(spec.paramRules, spec.params)) {
    const field = `params.${issue.field.slice('conf.'.length)}`;
    if (issue.message === 'is required') {
      if (scheduled) {
        issues.push({
          dagId,
          field,
          message:
            'is required but has no default, and scheduled runs use the defaults; give it a default or remove the schedule',
        });
      }
      continue;
    }
    issues.push({ dagId, field, message: `default ${issue.message}` });
  }
  const ids = new Set<string>();
  for (const task of spec.tasks) {
    if (ids.has(task.taskId)) {
      issues.push({ dagId, taskId: task.taskId, field: 'taskId', message: 'duplicate task id' });
    }
    ids.add(task.taskId);
  }
  for (const task of spec.tasks) {
    for (const up of task.upstream) {
      if (!ids.has(up)) {
        issues.push({
          dagId,
          taskId: task.taskId,
          field: 'upstream',
          message: `unknown upstream task "${up}"`,
        });
      }
      if (up === task.taskId) {
        issues.push({
          dagId,
          taskId: task.taskId,
          field: 'upstream',
          message: 'a task cannot depend on itself',
        });
      }
    }
    const configSchema = extraConfig[task.type] ?? TASK_CONFIG_SCHEMAS[task.type];
    if (configSchema) {
      const result = configSchema.safeParse(task.config);
      if (!result.success) {
        for (const issue of result.error.issues) {
          issues.push({
            dagId,
            taskId: task.taskId,
            field: ['config', ...issue.path].join('.'),
            message: issue.message,
          });
        }
      }
    }
  }
  issues.push(...mappingIssues(spec));
  const cycle = findCycle(spec.tasks);
  if (cycle) {
    issues.push({
      dagId,
      taskId: cycle[0],
      field: 'upstream',
      message: `cycle detected: ${cycle.join(' → ')}`,
    });
  }
  return issues;
}

/** Validates and returns a normalised spec, or throws DagValidationError naming every problem. */
export function validateDagSpec(
  input: unknown,
  opts: { fileloc?: string; extraConfig?: Partial<Record<TaskType, z.ZodType>> } = {},
): DagSpec {
  const issues = dagIssues(input, opts.extraConfig);
  if (issues.length > 0) throw new DagValidationError(issues, opts.fileloc);
  return dagSpecSchema.parse(input);
}

/** Returns one cycle as a path of task ids (first id repeated at the end), or null. */
export function findCycle(
  tasks: readonly { taskId: string; upstream: readonly string[] }[],
): string[] | null {
  const upstreamOf = new Map(tasks.map((t) => [t.taskId, t.upstream]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | null => {
    const s = state.get(id);
    if (s === 'done') return null;
    if (s === 'visiting') {
      const from = stack.indexOf(id);
      // The stack runs from downstream to upstream; report in execution order.
      return [...stack.slice(from), id].reverse();
    }
    state.set(id, 'visiting');
    stack.push(id);
    for (const up of upstreamOf.get(id) ?? []) {
      if (!upstreamOf.has(up)) continue;
      const found = visit(up);
      if (found) return found;
    }
    stack.pop();
    state.set(id, 'done');
    return null;
  };
  for (const t of tasks) {
    const found = visit(t.taskId);
    if (found) return found;
  }
  return null;
}

/** Task ids in an order where every task comes after all of its upstream tasks. */
export function topologicalOrder(
  tasks: readonly { taskId: string; upstream: readonly string[] }[],
): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const visit = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    for (const up of byId.get(id)?.upstream ?? []) visit(up);
    order.push(id);
  };
  for (const t of tasks) visit(t.taskId);
  return order;
}

/** task id → ids of its direct downstream tasks. */
export function downstreamMap(
  tasks: readonly { taskId: string; upstream: readonly string[] }[],
): Map<string, string[]> {
  const map = new Map<string, string[]>(tasks.map((t) => [t.taskId, []]));
  for (const t of tasks) for (const up of t.upstream) map.get(up)?.push(t.taskId);
  return map;
}

/**
 * Effective priority of each task (Airflow's weight rules): "downstream" adds the weights of all
 * tasks downstream, so long chains start first; "upstream" adds those upstream; "absolute" is as set.
 *
 * A walk per task over what it reaches, on index arrays with a visit stamp per walk: the work is
 * the sum of the reached sets (quadratic for a long chain, as in Airflow), but without a Set or an
 * array per step. With Sets, a 5,000-task chain took 1.7 s, on every load of the version.
 */
export function effectivePriorities(tasks: readonly TaskSpec[]): Map<string, number> {
  const n = tasks.length;
  const index = new Map(tasks.map((t, i) => [t.taskId, i]));
  const weight = Float64Array.from(tasks, (t) => t.priorityWeight);
  // Edges of both directions in compressed form: the neighbours of i are adj[off[i]..off[i+1]).
  const edges: [number, number][] = [];
  for (const [i, t] of tasks.entries())
    for (const up of t.upstream) {
      const j = index.get(up);
      if (j !== undefined) edges.push([j, i]);
    }
  const compress = (from: 0 | 1) => {
    const off = new Int32Array(n + 1);
    for (const e of edges) off[e[from] + 1]!++;
    for (let i = 0; i < n; i++) off[i + 1]! += off[i]!;
    const fill = off.slice(0, n);
    const adj = new Int32Array(edges.length);
    for (const e of edges) adj[fill[e[from]]!++] = e[1 - from]!;
    return { off, adj };
  };
  const down = compress(0);
  const up = compress(1);
  const stamp = new Int32Array(n);
  const stack = new Int32Array(n);
  const result = new Map<string, number>();
  for (const [i, task] of tasks.entries()) {
    let total = task.priorityWeight;
    if (task.weightRule !== 'absolute') {
      const { off, adj } = task.weightRule === 'downstream' ? down : up;
      const mark = i + 1;
      stamp[i] = mark;
      let top = 0;
      stack[top++] = i;
      while (top > 0) {
        const v = stack[--top]!;
        for (let k = off[v]!; k < off[v + 1]!; k++) {
          const w = adj[k]!;
          if (stamp[w] === mark) continue;
          stamp[w] = mark;
          total += weight[w]!;
          stack[top++] = w;
        }
      }
    }
    result.set(task.taskId, total);
  }
  return result;
}

/** Canonical JSON (sorted keys) so equal specs hash equally whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * Content hash of a DAG version: the spec plus the hash of the source file, because function tasks
 * carry code the spec cannot show.
 */
export function dagVersionHash(spec: DagSpec, sourceHash: string): string {
  return createHash('sha256')
    .update(canonicalJson(spec))
    .update('\0')
    .update(sourceHash)
    .digest('hex');
}
