/**
 * SDK builders for sensors (`d.sensor.check/externalTask/http/sql/file`) and HTTP jobs
 * (`d.httpJob`). Durations accept "30s", "5m", "1h" or milliseconds; the spec stores milliseconds.
 *
 * Sensor options follow Airflow's: `timeout` is the sensor's overall timeout (counted from its
 * first start, across reschedules and retries), `executionTimeout` the limit of one attempt.
 */
import { DagValidationError, type TaskType } from '@updraft/core/dag';
import { type DurationInput, parseDuration } from '@updraft/core/duration';
import type { HttpExpect, SensorMode } from '@updraft/core/sensors';
import type { CommonTaskOptions, Task, TaskContext } from './index.ts';

export interface SensorOptions extends Omit<CommonTaskOptions, 'timeout'> {
  /** 'poke' (default): check repeatedly holding a worker slot; 'reschedule': free the slot between checks. */
  mode?: SensorMode;
  /** Time between checks (default 60s). */
  pokeInterval?: DurationInput;
  /** Give up this long after the first start (default 7 days): fail, or end skipped with softFail. */
  timeout?: DurationInput;
  /** Limit of one attempt (Airflow's execution_timeout). */
  executionTimeout?: DurationInput;
  /** Double the interval after every unsuccessful check (capped by maxWait). */
  exponentialBackoff?: boolean;
  maxWait?: DurationInput;
  /** End skipped instead of failed on timeout or a definite failure. */
  softFail?: boolean;
}

/** What a check function returns: met or not, optionally with a value that becomes the result. */
export type CheckResult<T> = boolean | { done: boolean; value?: T };

export interface HttpResponseInfo {
  status: number;
  text: string;
  /** The body parsed as JSON, or undefined. */
  json: unknown;
}

export interface HttpRequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  /** Templated ("{{ ds }}", "{{ xcom.task.field }}"). */
  url: string;
  /** Templated; "${VAR}" reads a secret from the worker's environment (masked in logs). */
  headers?: Record<string, string>;
  body?: unknown;
}

export interface SensorBuilders {
  /** Waits until `fn` returns true or { done: true, value } (value becomes the result). */
  check<T = undefined>(
    id: string,
    fn: (ctx: TaskContext) => CheckResult<T> | Promise<CheckResult<T>>,
    options?: SensorOptions,
  ): Task<T>;
  /**
   * Waits until a task of another DAG (or its whole run, without taskId) reached one of
   * `allowedStates` (default success) for the same logical date, or `executionDelta` earlier. A
   * failed state (default failed/upstream_failed) fails the sensor at once.
   */
  externalTask(
    id: string,
    options: SensorOptions & {
      dagId: string;
      taskId?: string;
      allowedStates?: string[];
      failedStates?: string[];
      executionDelta?: DurationInput;
    },
  ): Task<undefined>;
  /** Waits until the endpoint answers as `expect` says (default any 2xx), or `check` returns true. */
  http(
    id: string,
    options: SensorOptions &
      HttpRequestOptions & {
        expect?: HttpExpect;
        check?: (response: HttpResponseInfo) => boolean | Promise<boolean>;
      },
  ): Task<unknown>;
  /**
   * Waits until the first cell of `query` is truthy, on the PostgreSQL database whose URL is in
   * the worker's environment variable `connEnv` (never put the URL itself in a DAG).
   */
  sql(id: string, options: SensorOptions & { connEnv: string; query: string }): Task<unknown>;
  /** Waits until a path or glob ("/data/in/*.csv") exists; the result is the matching paths. */
  file(id: string, options: SensorOptions & { path: string }): Task<string[]>;
}

export interface HttpJobOptions extends Omit<CommonTaskOptions, 'timeout'> {
  /** The request that starts the job (default method POST). */
  start: HttpRequestOptions;
  status: {
    /** Templated; "{{ job.<field> }}" names a field of the start response. */
    url: string;
    method?: HttpRequestOptions['method'];
    /** Default: the start request's headers. */
    headers?: Record<string, string>;
    /** Dotted path of the status field (default "status"). */
    field?: string;
    done?: string[];
    failed?: string[];
    /** Dotted path of the job's error message (default "error"). */
    errorField?: string;
    /** Dotted path of the result; default the whole status response. */
    resultField?: string;
  };
  /** 'reschedule' (default): no worker slot between polls; 'poke': poll inside one attempt. */
  mode?: SensorMode;
  /** Time between polls (default 30s). */
  pollInterval?: DurationInput;
  /** The job must finish this long after the try's first start (default 24h). */
  timeout?: DurationInput;
  /** Limit of one attempt. */
  executionTimeout?: DurationInput;
}

export type AddTask = (
  id: string,
  type: TaskType,
  options: CommonTaskOptions,
  config: Record<string, unknown>,
  fn?: (ctx: TaskContext) => unknown,
) => Task<unknown>;

function ms(dagId: string, taskId: string, field: string, v: DurationInput): number {
  try {
    return parseDuration(v);
  } catch (error) {
    throw new DagValidationError([{ dagId, taskId, field, message: (error as Error).message }]);
  }
}

const SENSOR_KEYS: ReadonlySet<string> = new Set([
  'mode',
  'pokeInterval',
  'timeout',
  'executionTimeout',
  'exponentialBackoff',
  'maxWait',
  'softFail',
]);

/**
 * Splits sensor options into the sensor's own (`base`), the kind's (`rest`, named by `kindKeys`)
 * and everything else, which are the task's common options (retries, pool, upstream, …).
 */
function splitSensor(
  dagId: string,
  id: string,
  options: object,
  kindKeys: readonly string[],
): { common: CommonTaskOptions; base: Record<string, unknown>; rest: Record<string, unknown> } {
  const common: Record<string, unknown> = {};
  const own: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (SENSOR_KEYS.has(key)) own[key] = value;
    else if (kindKeys.includes(key)) rest[key] = value;
    else common[key] = value;
  }
  const o = own as SensorOptions;
  if (o.executionTimeout !== undefined) common.timeout = o.executionTimeout;
  const base: Record<string, unknown> = {};
  if (o.mode !== undefined) base.mode = o.mode;
  if (o.pokeInterval !== undefined)
    base.pokeIntervalMs = ms(dagId, id, 'pokeInterval', o.pokeInterval);
  if (o.timeout !== undefined) base.timeoutMs = ms(dagId, id, 'timeout', o.timeout);
  if (o.exponentialBackoff !== undefined) base.exponentialBackoff = o.exponentialBackoff;
  if (o.maxWait !== undefined) base.maxWaitMs = ms(dagId, id, 'maxWait', o.maxWait);
  if (o.softFail !== undefined) base.softFail = o.softFail;
  return { common: common as CommonTaskOptions, base, rest };
}

const HTTP_KEYS = ['method', 'url', 'headers', 'body'];

export function sensorBuilders(dagId: string, add: AddTask): SensorBuilders {
  return {
    check(id, fn, options = {}) {
      const { common, base } = splitSensor(dagId, id, options, []);
      return add(id, 'sensor', common, { kind: 'check', ...base }, fn) as Task<never>;
    },
    externalTask(id, options) {
      const keys = ['dagId', 'taskId', 'allowedStates', 'failedStates', 'executionDelta'];
      const { common, base, rest } = splitSensor(dagId, id, options, keys);
      const {
        dagId: externalDagId,
        taskId,
        allowedStates,
        failedStates,
        executionDelta,
      } = rest as unknown as Parameters<SensorBuilders['externalTask']>[1];
      return add(id, 'sensor', common, {
        kind: 'externalTask',
        ...base,
        externalDagId,
        ...(taskId !== undefined && { externalTaskId: taskId }),
        ...(allowedStates && { allowedStates }),
        ...(failedStates && { failedStates }),
        ...(executionDelta !== undefined && {
          executionDeltaMs: ms(dagId, id, 'executionDelta', executionDelta),
        }),
      }) as Task<undefined>;
    },
    http(id, options) {
      const keys = [...HTTP_KEYS, 'expect', 'check'];
      const { common, base, rest } = splitSensor(dagId, id, options, keys);
      const { check, ...request } = rest as unknown as Parameters<SensorBuilders['http']>[1];
      return add(
        id,
        'sensor',
        common,
        { kind: 'http', ...base, ...request, ...(check && { predicate: true }) },
        check as ((ctx: TaskContext) => unknown) | undefined,
      );
    },
    sql(id, options) {
      const { common, base, rest } = splitSensor(dagId, id, options, ['connEnv', 'query']);
      return add(id, 'sensor', common, { kind: 'sql', ...base, ...rest });
    },
    file(id, options) {
      const { common, base, rest } = splitSensor(dagId, id, options, ['path']);
      return add(id, 'sensor', common, { kind: 'file', ...base, ...rest }) as Task<string[]>;
    },
  };
}

export function httpJobTask(dagId: string, id: string, options: HttpJobOptions, add: AddTask) {
  const { start, status, mode, pollInterval, timeout, executionTimeout, ...common } = options;
  return add(
    id,
    'httpJob',
    { ...common, ...(executionTimeout !== undefined && { timeout: executionTimeout }) },
    {
      start,
      status,
      ...(mode && { mode }),
      ...(pollInterval !== undefined && {
        pollIntervalMs: ms(dagId, id, 'pollInterval', pollInterval),
      }),
      ...(timeout !== undefined && { timeoutMs: ms(dagId, id, 'timeout', timeout) }),
    },
  );
}

const YAML_SENSOR_KEYS: Record<string, readonly string[]> = {
  externalTask: ['dagId', 'taskId', 'allowedStates', 'failedStates', 'executionDelta'],
  http: [...HTTP_KEYS, 'expect'],
  sql: ['connEnv', 'query'],
  file: ['path'],
};

/**
 * A YAML task's `sensor: { kind, …, mode, pokeInterval, timeout, softFail }` (a `check` needs
 * code, so it is TypeScript only). The task's own `timeout` is the limit of one attempt.
 */
export function yamlSensor(
  builders: SensorBuilders,
  dagId: string,
  id: string,
  raw: Record<string, unknown>,
  common: CommonTaskOptions,
): Task<unknown> {
  const { kind, ...rest } = raw;
  const fail = (field: string, message: string) =>
    new DagValidationError([{ dagId, taskId: id, field, message }]);
  if (typeof kind !== 'string' || !(kind in YAML_SENSOR_KEYS)) {
    throw fail('sensor.kind', `must be one of ${Object.keys(YAML_SENSOR_KEYS).join(', ')}`);
  }
  const allowed = new Set([...SENSOR_KEYS, ...YAML_SENSOR_KEYS[kind]!]);
  allowed.delete('executionTimeout');
  for (const key of Object.keys(rest)) {
    if (!allowed.has(key)) throw fail(`sensor.${key}`, `unknown field for a ${kind} sensor`);
  }
  const { timeout: executionTimeout, ...others } = common;
  const options = {
    ...others,
    ...(executionTimeout !== undefined && { executionTimeout }),
    ...rest,
  } as never;
  return (builders[kind as 'file'] as (id: string, o: never) => Task<unknown>)(id, options);
}

/** A YAML task's `httpJob: { start, status, mode, pollInterval, timeout }`. */
export function yamlHttpJob(
  dagId: string,
  id: string,
  raw: Record<string, unknown>,
  common: CommonTaskOptions,
  add: AddTask,
): Task<unknown> {
  const { timeout: executionTimeout, ...others } = common;
  return httpJobTask(
    dagId,
    id,
    {
      ...others,
      ...(executionTimeout !== undefined && { executionTimeout }),
      ...(raw as unknown as HttpJobOptions),
    },
    add,
  );
}
