/**
 * Sensor tasks: wait until a condition holds (see @updraft/core/sensors for the config).
 *
 *   poke        one attempt checks, sleeps the poke interval (abortable), checks again … holding
 *               its worker slot; for short waits.
 *   reschedule  one check per attempt; when the condition does not hold, the attempt returns a
 *               reschedule request and the task instance waits in up_for_reschedule without a
 *               worker or pool slot. The try number stays (reschedules are not tries).
 *
 * The timeout counts from the first start of the first try (ctx.firstTryStartedAt), across
 * reschedules and retries, as Airflow's does. A timeout fails the task without retrying; with
 * softFail it (and a definite failure, such as a failed external task) ends the task skipped.
 *
 * Conditions: `check` (a function in the DAG file returning a boolean or { done, value }),
 * `externalTask` (a task, or the whole run, of another DAG for the same logical date),
 * `http` (a response matching `expect`, or a predicate in the DAG file), `sql` (the first cell of
 * a query on a PostgreSQL database whose URL is in a named environment variable) and `file`
 * (a path or glob exists). The value of a met condition becomes the task's result (XCom).
 */
import { access, glob } from 'node:fs/promises';
import { formatDuration } from '@updraft/core/duration';
import {
  externalFailedStates,
  jsonPath,
  pokeDelay,
  type SensorConfig,
  sensorConfigSchema,
} from '@updraft/core/sensors';
import { openDatabase, type Queryable, rowsOf } from '@updraft/db';
import { sql } from 'drizzle-orm';
import type { Clock } from '../../resources.ts';
import { createFunctionExecutor, type DagFileCache } from './function.ts';
import {
  describeTarget,
  type Env,
  type HttpAnswer,
  maskSecrets,
  prepareRequest,
  readEnv,
  send,
} from './http-request.ts';
import { type ExecutionContext, type Executor, TaskFailure, TaskSkipped } from './types.ts';
import { renderWithXcom, stringsIn, xcomTemplateContext } from './xcom-template.ts';

export interface SensorDeps {
  clock: Clock;
  db: Queryable;
  files: DagFileCache;
  /** Where `${VAR}` header secrets and the SQL sensor's connection URL are read. */
  env: Env;
}

export interface CheckOutcome {
  done: boolean;
  /** The task's result when done. */
  value?: unknown;
  /** Why not yet (logged). */
  reason?: string;
}

type Check<K extends SensorConfig['kind']> = (
  ctx: ExecutionContext,
  config: Extract<SensorConfig, { kind: K }>,
  deps: SensorDeps,
) => Promise<CheckOutcome>;

/** Parses a task's config, naming the task and the field when it is bad. */
export function parseTaskConfig<T>(
  ctx: ExecutionContext,
  schema: {
    safeParse(
      v: unknown,
    ):
      | { success: true; data: T }
      | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
  },
): T {
  const parsed = schema.safeParse(ctx.task.config);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map(
    (i) => `config.${i.path.map(String).join('.')}: ${i.message}`,
  );
  throw new TaskFailure(`task "${ctx.taskId}" has an invalid config: ${issues.join('; ')}`, {
    retryable: false,
  });
}

/** Resolves after `ms`, or rejects with the signal's reason when it is aborted first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A check function's answer: true/false, { done, value }, or any other value (truthy = done). */
export function checkAnswer(answer: unknown): CheckOutcome {
  if (typeof answer === 'boolean') return { done: answer };
  if (answer && typeof answer === 'object' && 'done' in answer) {
    const { done, value } = answer as { done: unknown; value?: unknown };
    return { done: Boolean(done), value };
  }
  return answer ? { done: true, value: answer } : { done: false };
}

const checkFunction: Check<'check'> = async (ctx, _config, deps) => {
  const { result } = await createFunctionExecutor(deps.files)(ctx);
  return checkAnswer(result);
};

const checkExternalTask: Check<'externalTask'> = async (ctx, config, deps) => {
  const logicalDate = new Date(ctx.run.logicalDate.getTime() - config.executionDeltaMs);
  const what = config.externalTaskId
    ? `task "${config.externalTaskId}" of DAG "${config.externalDagId}"`
    : `DAG "${config.externalDagId}"`;
  const known = rowsOf(
    await deps.db.execute(sql`select 1 from dags where dag_id = ${config.externalDagId}`),
  );
  if (known.length === 0) {
    throw new TaskFailure(`external DAG "${config.externalDagId}" does not exist`, {
      retryable: false,
    });
  }
  const [run] = rowsOf<{ id: number; state: string }>(
    await deps.db.execute(sql`select id, state from dag_runs
      where dag_id = ${config.externalDagId} and logical_date = ${logicalDate}
      order by id desc limit 1`),
  );
  const at = `for logical date ${logicalDate.toISOString()}`;
  if (!run) return { done: false, reason: `no run of DAG "${config.externalDagId}" ${at} yet` };
  const failed = externalFailedStates(config);
  let states: string[];
  if (config.externalTaskId) {
    const [exists] = rowsOf<{ present: boolean }>(
      await deps.db.execute(sql`select exists(
          select 1 from dag_runs r join dag_versions v on v.id = r.dag_version_id,
            jsonb_array_elements(v.spec->'tasks') t
          where r.id = ${run.id} and t->>'taskId' = ${config.externalTaskId}) as present`),
    );
    if (!exists?.present) {
      throw new TaskFailure(
        `external task "${config.externalTaskId}" does not exist in DAG "${config.externalDagId}"`,
        { retryable: false },
      );
    }
    const rows = rowsOf<{ state: string; map_index: number }>(
      await deps.db.execute(sql`select state, map_index from task_instances
        where dag_run_id = ${run.id} and task_id = ${config.externalTaskId}`),
    );
    // A mapped task: its expanded instances count, not the placeholder.
    const mapped = rows.filter((r) => Number(r.map_index) >= 0);
    states = (mapped.length > 0 ? mapped : rows).map((r) => r.state);
    if (states.length === 0) return { done: false, reason: `${what} has no task instance yet` };
  } else {
    states = [run.state];
  }
  const bad = states.find((s) => failed.includes(s));
  if (bad) {
    throw new TaskFailure(`${what} ${at} is ${bad}`, { retryable: false });
  }
  if (states.every((s) => config.allowedStates.includes(s))) {
    return { done: true };
  }
  return { done: false, reason: `${what} ${at} is ${[...new Set(states)].join(', ')}` };
};

/** Whether a response meets `expect` (default: any 2xx). */
export function httpExpectMet(
  answer: HttpAnswer,
  expect: { status?: number[] | undefined; field?: string | undefined; equals?: unknown } = {},
): boolean {
  const statusOk = expect.status
    ? expect.status.includes(answer.status)
    : answer.status >= 200 && answer.status < 300;
  if (!statusOk) return false;
  if (expect.field === undefined) return true;
  const value = jsonPath(answer.json, expect.field);
  if (!('equals' in expect)) return Boolean(value);
  return JSON.stringify(value) === JSON.stringify(expect.equals);
}

/** Client errors a sensor waits through: not there yet, slow, too early, too many requests. */
const WAITABLE_CLIENT_ERRORS: ReadonlySet<number> = new Set([404, 408, 425, 429]);

const checkHttp: Check<'http'> = async (ctx, config, deps) => {
  const context = await xcomTemplateContext(
    ctx,
    stringsIn([config.url, config.headers ?? {}, config.body ?? null]),
  );
  const req = prepareRequest(config, context, deps.env);
  let answer: HttpAnswer;
  try {
    answer = await send(req, ctx.signal, ctx.log);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    // A sensor waits through an unreachable endpoint; the timeout ends the wait.
    return { done: false, reason: (error as Error).message };
  }
  let met: boolean;
  if (config.predicate) {
    const { dag } = await deps.files.dag(
      ctx.version.fileloc,
      ctx.run.dagId,
      ctx.version.sourceHash,
    );
    const predicate = dag.functionOf(ctx.taskId) as unknown as
      | ((response: HttpAnswer) => unknown)
      | undefined;
    if (!predicate) {
      throw new TaskFailure(`task "${ctx.taskId}" has no response predicate in its DAG file`, {
        retryable: false,
      });
    }
    met = Boolean(await predicate(answer));
  } else {
    met = httpExpectMet(answer, config.expect);
  }
  const said = `answered ${answer.status}: ${maskSecrets(answer.text.slice(0, 200), req.secrets)}`;
  // As Airflow's HttpSensor: a 404 (not there yet) is waited through, but a client error that
  // waiting cannot change (401, 403, 400) fails the try at once instead of poking until the timeout.
  if (!met && !config.predicate && !config.expect?.status?.includes(answer.status)) {
    if (answer.status >= 400 && answer.status < 500 && !WAITABLE_CLIENT_ERRORS.has(answer.status))
      throw new TaskFailure(
        `${describeTarget(req)} ${said} (waiting will not change a ${answer.status})`,
      );
  }
  if (!met) return { done: false, reason: said };
  return { done: true, value: answer.json ?? (answer.text.length > 0 ? answer.text : undefined) };
};

/** Airflow's SqlSensor: done when the first cell of the first row is truthy. */
export function truthyCell(value: unknown): boolean {
  if (value === null || value === undefined || value === false) return false;
  if (typeof value === 'number' || typeof value === 'bigint') return Number(value) !== 0;
  if (typeof value === 'string') return !['', '0', 'f', 'false'].includes(value.toLowerCase());
  return true;
}

const checkSql: Check<'sql'> = async (ctx, config, deps) => {
  const url = readEnv(deps.env, config.connEnv, `task "${ctx.taskId}" connEnv`);
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new TaskFailure(
      `environment variable ${config.connEnv} must hold a postgres:// URL (its value is not shown)`,
      { retryable: false },
    );
  }
  const query = await renderWithXcom(ctx, config.query);
  const handle = await openDatabase({ url, maxConnections: 1, applicationName: 'updraft-sensor' });
  try {
    const rows = rowsOf<Record<string, unknown>>(await handle.db.execute(sql.raw(query)));
    const first = rows[0] ? Object.values(rows[0])[0] : undefined;
    return truthyCell(first)
      ? { done: true, value: first }
      : { done: false, reason: `first cell is ${JSON.stringify(first ?? null)}` };
  } catch (error) {
    throw new TaskFailure(`query failed: ${maskSecrets((error as Error).message, [url])}`);
  } finally {
    await handle.close().catch(() => {});
  }
};

const GLOB_CHARS = /[*?[\]{}]/;

const checkFile: Check<'file'> = async (ctx, config) => {
  const path = await renderWithXcom(ctx, config.path);
  if (!GLOB_CHARS.test(path)) {
    try {
      await access(path);
      return { done: true, value: [path] };
    } catch {
      return { done: false, reason: `${path} does not exist` };
    }
  }
  const matches: string[] = [];
  for await (const match of glob(path)) matches.push(match);
  matches.sort();
  return matches.length > 0
    ? { done: true, value: matches }
    : { done: false, reason: `nothing matches ${path}` };
};

function check(ctx: ExecutionContext, config: SensorConfig, deps: SensorDeps) {
  switch (config.kind) {
    case 'check':
      return checkFunction(ctx, config, deps);
    case 'externalTask':
      return checkExternalTask(ctx, config, deps);
    case 'http':
      return checkHttp(ctx, config, deps);
    case 'sql':
      return checkSql(ctx, config, deps);
    case 'file':
      return checkFile(ctx, config, deps);
  }
}

export function createSensorExecutor(deps: SensorDeps): Executor {
  return async (ctx) => {
    const config = parseTaskConfig(ctx, sensorConfigSchema);
    const deadline = ctx.firstTryStartedAt.getTime() + config.timeoutMs;
    let checks = Number(ctx.carried?.checks ?? 0);
    for (;;) {
      let outcome: CheckOutcome;
      try {
        outcome = await check(ctx, config, deps);
      } catch (error) {
        if (config.softFail && error instanceof TaskFailure && !error.retryable) {
          throw new TaskSkipped(`soft fail: ${error.message}`);
        }
        throw error;
      }
      checks++;
      if (outcome.done) {
        ctx.log(`condition met after ${checks} check(s)\n`);
        return outcome.value === undefined ? {} : { result: outcome.value };
      }
      const now = deps.clock.now().getTime();
      if (outcome.reason) ctx.log(`check ${checks}: not yet (${outcome.reason})\n`);
      if (now >= deadline) {
        const message = `sensor timed out: the condition was not met within ${formatDuration(config.timeoutMs)} of its first start (${checks} check(s))`;
        if (config.softFail) throw new TaskSkipped(`soft fail: ${message}`);
        throw new TaskFailure(message, { retryable: false });
      }
      const wait = Math.max(0, Math.min(pokeDelay(config, checks), deadline - now));
      if (config.mode === 'reschedule') {
        return { reschedule: { at: new Date(now + wait), state: { checks } } };
      }
      await sleep(wait, ctx.signal);
    }
  };
}
