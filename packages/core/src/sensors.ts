/**
 * Sensors and HTTP jobs as stored in a DAG version: the task configs of the `sensor` and `httpJob`
 * task types. Durations are milliseconds here; the SDK and the YAML loader accept "30s", "1h".
 *
 * A sensor waits for a condition. In mode "poke" one attempt checks repeatedly, holding its worker
 * slot; in mode "reschedule" an attempt checks once and then frees its slot until the next check
 * (Airflow's up_for_reschedule; reschedules are not tries). The timeout counts from the first
 * start of the first try, across reschedules and retries; then the sensor fails without retrying
 * (Airflow's AirflowSensorTimeout) or, with `softFail`, ends skipped.
 */
import { z } from 'zod';

export const SENSOR_MODES = ['poke', 'reschedule'] as const;
export type SensorMode = (typeof SENSOR_MODES)[number];

export const SENSOR_KINDS = ['check', 'externalTask', 'http', 'sql', 'file'] as const;
export type SensorKind = (typeof SENSOR_KINDS)[number];

/** Airflow's defaults: poke every 60 s, give up after 7 days. */
export const DEFAULT_POKE_INTERVAL_MS = 60_000;
export const DEFAULT_SENSOR_TIMEOUT_MS = 7 * 24 * 3600 * 1000;

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;
const status = z.number().int().min(100).max(599);
/** An environment variable name (the value is read on the worker, never stored in the spec). */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const sensorBase = {
  mode: z.enum(SENSOR_MODES).default('poke'),
  pokeIntervalMs: z.number().int().min(0).default(DEFAULT_POKE_INTERVAL_MS),
  timeoutMs: z.number().int().positive().default(DEFAULT_SENSOR_TIMEOUT_MS),
  /** Double the interval after each unsuccessful check (capped by maxWaitMs). */
  exponentialBackoff: z.boolean().default(false),
  maxWaitMs: z.number().int().positive().nullable().default(null),
  /** On timeout (or a definite failure such as a failed external task), end skipped instead. */
  softFail: z.boolean().default(false),
};

/** A simple response predicate for YAML: status in `status` and the JSON field equals `equals`. */
export const httpExpectSchema = z.strictObject({
  status: z.array(status).optional(),
  /** Dotted path into the JSON body ("data.state", "items.0.id"). */
  field: z.string().min(1).optional(),
  equals: z.unknown().optional(),
});
export type HttpExpect = z.infer<typeof httpExpectSchema>;

const httpRequest = {
  method: z.enum(HTTP_METHODS).default('GET'),
  url: z.string().min(1),
  /** Values may use "{{ … }}" templates and "${ENV_VAR}" secrets from the worker's environment. */
  headers: z.record(z.string(), z.string()).optional(),
  body: z.unknown().optional(),
};

export const sensorConfigSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('check'), ...sensorBase }),
  z.strictObject({
    kind: z.literal('externalTask'),
    ...sensorBase,
    externalDagId: z.string().min(1),
    /** Without a task, the whole run is watched. */
    externalTaskId: z.string().min(1).nullable().default(null),
    allowedStates: z.array(z.string()).min(1).default(['success']),
    failedStates: z.array(z.string()).nullable().default(null),
    /** Watch the run whose logical date is this much earlier than this run's. */
    executionDeltaMs: z.number().int().default(0),
  }),
  z.strictObject({
    kind: z.literal('http'),
    ...sensorBase,
    ...httpRequest,
    expect: httpExpectSchema.optional(),
    /** The DAG file holds a response predicate (SDK only). */
    predicate: z.boolean().optional(),
  }),
  z.strictObject({
    kind: z.literal('sql'),
    ...sensorBase,
    /** Name of the worker's environment variable holding the PostgreSQL URL. */
    connEnv: z.string().regex(ENV_NAME, 'must be an environment variable name'),
    query: z.string().min(1),
  }),
  z.strictObject({
    kind: z.literal('file'),
    ...sensorBase,
    /** A path or a glob ("/data/in/*.csv"); templated. */
    path: z.string().min(1),
  }),
]);
export type SensorConfig = z.infer<typeof sensorConfigSchema>;
export type SensorConfigInput = z.input<typeof sensorConfigSchema>;

/** Failed states watched by default: a failed upstream makes the sensor fail at once. */
export function externalFailedStates(config: {
  externalTaskId: string | null;
  failedStates: string[] | null;
}): string[] {
  return (
    config.failedStates ?? (config.externalTaskId ? ['failed', 'upstream_failed'] : ['failed'])
  );
}

/**
 * The interval before check number `checks + 1` (Airflow's poke interval, optionally doubled after
 * every unsuccessful check), never beyond maxWaitMs.
 */
export function pokeDelay(
  config: { pokeIntervalMs: number; exponentialBackoff: boolean; maxWaitMs: number | null },
  checks: number,
): number {
  let delay = config.pokeIntervalMs;
  if (config.exponentialBackoff && checks > 1) {
    delay = Math.max(config.pokeIntervalMs, 1) * 2 ** Math.min(checks - 1, 40);
  }
  return config.maxWaitMs !== null ? Math.min(delay, config.maxWaitMs) : delay;
}

/**
 * An external job over HTTP (App Engine style): one request starts it, then its status URL is
 * polled until a field says done or failed. Waits in reschedule mode by default, so waiting jobs
 * hold no worker slot.
 */
export const httpJobConfigSchema = z.strictObject({
  start: z.strictObject({ ...httpRequest, method: z.enum(HTTP_METHODS).default('POST') }),
  status: z.strictObject({
    /** Templated; `{{ job.<field> }}` names a field of the start response ("{{ job.id }}"). */
    url: z.string().min(1),
    method: z.enum(HTTP_METHODS).default('GET'),
    /** Default: the start request's headers. */
    headers: z.record(z.string(), z.string()).optional(),
    /** Dotted path of the status field in the status response. */
    field: z.string().min(1).default('status'),
    done: z.array(z.string()).min(1).default(['done', 'succeeded', 'success', 'completed']),
    failed: z.array(z.string()).default(['failed', 'error', 'cancelled', 'canceled']),
    /** Dotted path of the job's error message when it failed. */
    errorField: z.string().min(1).default('error'),
    /** Dotted path of the result (XCom); default the whole status response. */
    resultField: z.string().min(1).optional(),
  }),
  mode: z.enum(SENSOR_MODES).default('reschedule'),
  pollIntervalMs: z.number().int().min(0).default(30_000),
  /** Counted from the first start; then the task fails (retries start a new job). */
  timeoutMs: z
    .number()
    .int()
    .positive()
    .default(24 * 3600 * 1000),
});
export type HttpJobConfig = z.infer<typeof httpJobConfigSchema>;
export type HttpJobConfigInput = z.input<typeof httpJobConfigSchema>;

/** A dotted path into JSON ("a.b.0.c"); undefined when any step is missing. */
export function jsonPath(value: unknown, path: string): unknown {
  let current = value;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}
