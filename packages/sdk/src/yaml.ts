/**
 * Declarative DAGs for people who do not write code. A YAML file describes one DAG with shell,
 * HTTP and pod tasks; it is turned into the same Dag the TypeScript SDK builds, so defaults and
 * validation are identical.
 *
 *   id: weekly_report
 *   team: analytics
 *   schedule: "0 6 * * 1"
 *   tasks:
 *     - id: extract
 *       shell: ./extract.sh {{ ds }}
 *     - id: publish
 *       upstream: [extract]
 *       http: { method: POST, url: https://reports.internal/publish }
 */
import { DagValidationError, TRIGGER_RULES, WEIGHT_RULES } from '@updraft/core/dag';
import { paramRuleSchema } from '@updraft/core/params';
import { scheduleInputSchema, type TimetableInput } from '@updraft/core/timetable';
import { parse } from 'yaml';
import { z } from 'zod';
import { type CommonTaskOptions, Dag, type DagOptions, param, type Task } from './index.ts';
import { yamlHttpJob, yamlSensor } from './sensors.ts';
import { buildYamlGraph, yamlExpandSchema, yamlGroupSchema } from './yaml-groups.ts';

const duration = z.union([z.string(), z.number()]);
/** A webhook callback: { http: { url, method, headers, timeout } } (url/headers may use "${VAR}"). */
const yamlCallback = z.strictObject({
  http: z.strictObject({
    url: z.string().min(1),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    timeout: duration.optional(),
  }),
});
const yamlCallbacks = z.union([yamlCallback, z.array(yamlCallback)]).optional();
const taskDefaults = {
  retries: z.number().int().min(0).optional(),
  retryDelay: duration.optional(),
  retryExponentialBackoff: z.boolean().optional(),
  maxRetryDelay: duration.optional(),
  timeout: duration.optional(),
  triggerRule: z.enum(TRIGGER_RULES).optional(),
  priorityWeight: z.number().int().optional(),
  weightRule: z.enum(WEIGHT_RULES).optional(),
  pool: z.string().optional(),
  dependsOnPast: z.boolean().optional(),
  waitForDownstream: z.boolean().optional(),
  poolSlots: z.number().int().min(1).optional(),
  maxActiveTisPerDag: z.number().int().positive().optional(),
  maxActiveTisPerDagrun: z.number().int().positive().optional(),
  onSuccess: yamlCallbacks,
  onFailure: yamlCallbacks,
  onRetry: yamlCallbacks,
  onSkipped: yamlCallbacks,
};

const yamlTaskSchema = z
  .strictObject({
    id: z.string(),
    upstream: z.array(z.string()).optional(),
    doc: z.string().optional(),
    shell: z
      .union([
        z.string(),
        z.strictObject({
          command: z.string(),
          env: z.record(z.string(), z.string()).optional(),
          cwd: z.string().optional(),
        }),
      ])
      .optional(),
    http: z.record(z.string(), z.unknown()).optional(),
    k8sPod: z.record(z.string(), z.unknown()).optional(),
    /** A sensor: { kind: externalTask | http | sql | file, …, mode, pokeInterval, timeout } (sensors.ts). */
    sensor: z.record(z.string(), z.unknown()).optional(),
    /** An external job over HTTP: { start, status, mode, pollInterval, timeout } (sensors.ts). */
    httpJob: z.record(z.string(), z.unknown()).optional(),
    /** Dynamic task mapping: { items: [...] } or { task: upstream_id }, with maxLength. */
    expand: yamlExpandSchema.optional(),
    /** `latestOnly: true`: a latest-only task (docs/concepts/latest-only.md). */
    latestOnly: z.literal(true).optional(),
    ...taskDefaults,
  })
  .refine(
    (t) =>
      [t.shell, t.http, t.k8sPod, t.latestOnly, t.sensor, t.httpJob].filter((x) => x !== undefined)
        .length === 1,
    {
      message:
        'a task needs exactly one of "shell", "http", "k8sPod", "latestOnly", "sensor" or "httpJob"',
    },
  );

const dateLike = z.union([z.string(), z.date()]);
const yamlDagSchema = z.strictObject({
  id: z.string(),
  team: z.string(),
  description: z.string().optional(),
  tags: z.array(z.string()).optional(),
  schedule: scheduleInputSchema.optional(),
  /** A timetable by name and params (docs/concepts/schedules.md). */
  timetable: z
    .strictObject({ name: z.string(), params: z.record(z.string(), z.unknown()).optional() })
    .optional(),
  timezone: z.string().optional(),
  startDate: dateLike.optional(),
  endDate: dateLike.optional(),
  catchup: z.boolean().optional(),
  maxActiveRuns: z.number().int().positive().optional(),
  maxActiveTasks: z.number().int().positive().optional(),
  maxActiveTasksPerRun: z.number().int().positive().optional(),
  onSuccess: yamlCallbacks,
  onFailure: yamlCallbacks,
  deadline: z
    .strictObject({
      after: duration,
      reference: z.enum(['data_interval_end', 'logical_date', 'queued_at']).optional(),
      callback: z.union([yamlCallback, z.array(yamlCallback)]),
    })
    .optional(),
  params: z.record(z.string(), z.unknown()).optional(),
  /** Rules for params (type, enum, minimum, maximum, minLength, maxLength, pattern, required). */
  paramRules: z.record(z.string(), paramRuleSchema).optional(),
  defaults: z.strictObject(taskDefaults).optional(),
  tasks: z.array(yamlTaskSchema).default([]),
  /** Task groups, each with its tasks and nested groups (yaml-groups.ts). */
  groups: z.array(yamlGroupSchema(yamlTaskSchema, z.strictObject(taskDefaults))).optional(),
});

/** Parses a YAML DAG file into a Dag. Errors name the file, the DAG, the task and the field. */
export function dagFromYaml(text: string, fileloc: string): Dag {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    throw new DagValidationError(
      [{ message: `invalid YAML: ${(error as Error).message}` }],
      fileloc,
    );
  }
  const parsed = yamlDagSchema.safeParse(raw);
  if (!parsed.success) {
    const rawObj = (raw ?? {}) as { id?: unknown; tasks?: { id?: unknown }[] };
    throw new DagValidationError(
      parsed.error.issues.map((issue) => {
        const [first, index, ...rest] = issue.path;
        const taskId =
          first === 'tasks' && typeof index === 'number'
            ? String(rawObj.tasks?.[index]?.id ?? `#${index}`)
            : undefined;
        return {
          dagId: typeof rawObj.id === 'string' ? rawObj.id : undefined,
          taskId,
          field: (taskId ? rest : issue.path).join('.') || undefined,
          message: issue.message,
        };
      }),
      fileloc,
    );
  }
  const spec = parsed.data;
  const options: DagOptions = {
    id: spec.id,
    team: spec.team,
    ...(spec.description !== undefined && { description: spec.description }),
    ...(spec.tags && { tags: spec.tags }),
    ...(spec.schedule !== undefined && { schedule: spec.schedule }),
    ...(spec.timetable && { timetable: spec.timetable as TimetableInput }),
    ...(spec.timezone && { timezone: spec.timezone }),
    ...(spec.startDate !== undefined && { startDate: spec.startDate }),
    ...(spec.endDate !== undefined && { endDate: spec.endDate }),
    ...(spec.catchup !== undefined && { catchup: spec.catchup }),
    ...(spec.maxActiveRuns && { maxActiveRuns: spec.maxActiveRuns }),
    ...(spec.maxActiveTasks && { maxActiveTasks: spec.maxActiveTasks }),
    ...(spec.maxActiveTasksPerRun && { maxActiveTasksPerRun: spec.maxActiveTasksPerRun }),
    ...(spec.onSuccess && { onSuccess: spec.onSuccess as never }),
    ...(spec.onFailure && { onFailure: spec.onFailure as never }),
    ...(spec.deadline && { deadline: spec.deadline as never }),
    ...((spec.params || spec.paramRules) && {
      params: {
        ...spec.params,
        ...Object.fromEntries(
          Object.entries(spec.paramRules ?? {}).map(([name, rule]) => [
            name,
            param({
              ...rule,
              ...(spec.params?.[name] !== undefined && { default: spec.params[name] }),
            }),
          ]),
        ),
      },
    }),
    ...(spec.defaults && { defaults: spec.defaults as DagOptions['defaults'] }),
  };
  const d = new Dag(options);
  const created = new Map<string, Task>();
  const add = (t: (typeof spec.tasks)[number]): Task | undefined => {
    const {
      id,
      upstream: _upstream,
      expand: _expand,
      shell,
      http,
      k8sPod,
      latestOnly,
      sensor,
      httpJob,
      ...common
    } = t;
    const opts = common as CommonTaskOptions;
    if (shell !== undefined) {
      const config = typeof shell === 'string' ? { command: shell } : shell;
      created.set(id, d.task(id, 'shell', config, opts));
    } else if (http !== undefined) {
      created.set(id, d.task(id, 'http', { method: 'GET', responseAs: 'json', ...http }, opts));
    } else if (k8sPod !== undefined) {
      created.set(id, d.task(id, 'k8sPod', k8sPod, opts));
    } else if (latestOnly) {
      created.set(id, d.latestOnly(id, opts));
    } else if (sensor !== undefined) {
      created.set(id, yamlSensor(d.sensor, spec.id, id, sensor, opts));
    } else if (httpJob !== undefined) {
      created.set(
        id,
        yamlHttpJob(spec.id, id, httpJob, opts, (i, type, o, config) => d.task(i, type, config, o)),
      );
    }
    return created.get(id);
  };
  // Top-level tasks, task groups, upstream and expand (yaml-groups.ts).
  buildYamlGraph(d, spec, add, fileloc);
  // Validate now so a broken file is reported at load time.
  d.toSpec({ fileloc });
  return d;
}
