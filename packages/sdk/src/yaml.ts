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
import { parse } from 'yaml';
import { z } from 'zod';
import { type CommonTaskOptions, Dag, type DagOptions, param, type Task } from './index.ts';

const duration = z.union([z.string(), z.number()]);
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
    ...taskDefaults,
  })
  .refine((t) => [t.shell, t.http, t.k8sPod].filter((x) => x !== undefined).length === 1, {
    message: 'a task needs exactly one of "shell", "http" or "k8sPod"',
  });

const dateLike = z.union([z.string(), z.date()]);
const yamlDagSchema = z.strictObject({
  id: z.string(),
  team: z.string(),
  description: z.string().optional(),
  tags: z.array(z.string()).optional(),
  schedule: z.string().nullable().optional(),
  timezone: z.string().optional(),
  startDate: dateLike.optional(),
  endDate: dateLike.optional(),
  catchup: z.boolean().optional(),
  maxActiveRuns: z.number().int().positive().optional(),
  maxActiveTasks: z.number().int().positive().optional(),
  params: z.record(z.string(), z.unknown()).optional(),
  /** Rules for params (type, enum, minimum, maximum, minLength, maxLength, pattern, required). */
  paramRules: z.record(z.string(), paramRuleSchema).optional(),
  defaults: z.strictObject(taskDefaults).optional(),
  tasks: z.array(yamlTaskSchema).min(1),
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
    ...(spec.timezone && { timezone: spec.timezone }),
    ...(spec.startDate !== undefined && { startDate: spec.startDate }),
    ...(spec.endDate !== undefined && { endDate: spec.endDate }),
    ...(spec.catchup !== undefined && { catchup: spec.catchup }),
    ...(spec.maxActiveRuns && { maxActiveRuns: spec.maxActiveRuns }),
    ...(spec.maxActiveTasks && { maxActiveTasks: spec.maxActiveTasks }),
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
  for (const t of spec.tasks) {
    const { id, upstream: _upstream, shell, http, k8sPod, ...common } = t;
    const opts = common as CommonTaskOptions;
    if (shell !== undefined) {
      const config = typeof shell === 'string' ? { command: shell } : shell;
      created.set(id, d.task(id, 'shell', config, opts));
    } else if (http !== undefined) {
      created.set(id, d.task(id, 'http', { method: 'GET', responseAs: 'json', ...http }, opts));
    } else if (k8sPod !== undefined) {
      created.set(id, d.task(id, 'k8sPod', k8sPod, opts));
    }
  }
  for (const t of spec.tasks) {
    for (const up of t.upstream ?? []) {
      const upstream = created.get(up);
      if (!upstream) {
        throw new DagValidationError(
          [
            {
              dagId: spec.id,
              taskId: t.id,
              field: 'upstream',
              message: `unknown upstream task "${up}"`,
            },
          ],
          fileloc,
        );
      }
      created.get(t.id)!.after(upstream);
    }
  }
  // Validate now so a broken file is reported at load time.
  d.toSpec({ fileloc });
  return d;
}
