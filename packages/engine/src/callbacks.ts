/**
 * Callbacks: which state changes trigger which callbacks (a pure rule), writing them to the
 * durable outbox `callback_requests` in the SAME transaction as the change, and running them
 * (claimed with FOR UPDATE SKIP LOCKED, a timeout per call, a few attempts with backoff).
 *
 * Airflow 3 semantics: a task's callbacks fire for its own outcome — on_failure when a try ends
 * failed for good, on_retry when it goes up_for_retry, on_success, on_skipped when the task itself
 * ends skipped while running. A task that never ran (upstream_failed, skipped by a branch, a
 * trigger rule or a run timeout) fires nothing. A run's callbacks fire when it succeeds or fails.
 * A callback's own failure never changes a task or a run; it is recorded on its request.
 */
import type { CallbackSpec, HttpCallbackSpec } from '@updraft/core/callbacks';
import { fillEnvTemplate, redact } from '@updraft/core/callbacks';
import { type Queryable, rowsOf, schema } from '@updraft/db';
import type { CallbackEvent } from '@updraft/db/schema';
import { callbackFunction } from '@updraft/sdk';
import { sql } from 'drizzle-orm';
import type { EngineResources } from './resources.ts';
import type { StateChange } from './transitions.ts';
import type { LoadedVersion, VersionCache } from './versions.ts';
import type { DagFileCache } from './worker/executors/function.ts';

/** NOTIFY channel: callback requests were written. */
export const CALLBACKS_CHANNEL = 'updraft_callbacks';

type TaskCallbackKey = 'onSuccess' | 'onFailure' | 'onRetry' | 'onSkipped';

/** The callback a state change triggers, or null. Pure: the rules in one table. */
export function callbackEventOf(
  change: Pick<StateChange, 'entity' | 'from' | 'to'>,
): { scope: 'task' | 'dag'; event: CallbackEvent; key: TaskCallbackKey } | null {
  if (change.entity === 'task_instance') {
    // Only a try's own outcome: the task instance was running.
    if (change.from !== 'running') return null;
    switch (change.to) {
      case 'success':
        return { scope: 'task', event: 'success', key: 'onSuccess' };
      case 'failed':
        return { scope: 'task', event: 'failure', key: 'onFailure' };
      case 'up_for_retry':
        return { scope: 'task', event: 'retry', key: 'onRetry' };
      case 'skipped':
        return { scope: 'task', event: 'skipped', key: 'onSkipped' };
      default:
        return null;
    }
  }
  if (change.from !== 'running' && change.from !== 'queued') return null;
  if (change.to === 'success') return { scope: 'dag', event: 'success', key: 'onSuccess' };
  if (change.to === 'failed') return { scope: 'dag', event: 'failure', key: 'onFailure' };
  return null;
}

function callbacksFor(
  version: LoadedVersion,
  change: StateChange,
  key: TaskCallbackKey,
): CallbackSpec[] {
  if (change.entity === 'task_instance') {
    return version.tasks.get(change.taskId ?? '')?.callbacks?.[key] ?? [];
  }
  if (key !== 'onSuccess' && key !== 'onFailure') return [];
  return version.spec.callbacks?.[key] ?? [];
}

const HAS_CALLBACKS = new WeakMap<LoadedVersion, boolean>();

/** Whether a version has any callback at all (the common case is none: no query then). */
function hasCallbacks(version: LoadedVersion): boolean {
  let has = HAS_CALLBACKS.get(version);
  if (has === undefined) {
    has = computeHasCallbacks(version);
    HAS_CALLBACKS.set(version, has);
  }
  return has;
}

function computeHasCallbacks(version: LoadedVersion): boolean {
  const c = version.spec.callbacks;
  if (c && (c.onSuccess?.length || c.onFailure?.length)) return true;
  return version.spec.tasks.some(
    (t) =>
      t.callbacks &&
      (t.callbacks.onSuccess?.length ||
        t.callbacks.onFailure?.length ||
        t.callbacks.onRetry?.length ||
        t.callbacks.onSkipped?.length),
  );
}

interface RunRow {
  id: number;
  dag_id: string;
  run_id: string;
  dag_version_id: number;
  logical_date: Date | string;
  data_interval_start: Date | string;
  data_interval_end: Date | string;
  conf: Record<string, unknown> | string;
}

const iso = (d: Date | string) => new Date(d).toISOString();

/** The context a callback receives: states, reason, dates and params — never secrets. */
export function callbackContext(
  event: CallbackEvent,
  run: RunRow,
  version: LoadedVersion,
  change: {
    taskId: string | null;
    mapIndex: number | null;
    tryNumber: number | null;
    state: string;
    reason: string | null;
  },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const conf = typeof run.conf === 'string' ? JSON.parse(run.conf) : (run.conf ?? {});
  return {
    event,
    dagId: run.dag_id,
    runId: run.run_id,
    taskId: change.taskId,
    mapIndex: change.mapIndex,
    tryNumber: change.tryNumber,
    state: change.state,
    reason: change.reason,
    logicalDate: iso(run.logical_date),
    dataIntervalStart: iso(run.data_interval_start),
    dataIntervalEnd: iso(run.data_interval_end),
    params: { ...(version.spec.params ?? {}), ...conf },
    ...extra,
  };
}

export interface CallbackRequestInput {
  scope: 'task' | 'dag';
  event: CallbackEvent;
  run: RunRow;
  taskInstanceId: number | null;
  taskId: string | null;
  mapIndex: number | null;
  tryNumber: number | null;
  context: Record<string, unknown>;
  callbacks: readonly CallbackSpec[];
}

/** Writes one outbox row per callback; call inside the transaction of the change. */
export async function insertCallbackRequests(
  tx: Queryable,
  requests: readonly CallbackRequestInput[],
): Promise<number> {
  const rows = requests.flatMap((r) =>
    r.callbacks.map((callback) => ({
      scope: r.scope,
      event: r.event,
      dagId: r.run.dag_id,
      dagRunId: Number(r.run.id),
      dagVersionId: Number(r.run.dag_version_id),
      taskInstanceId: r.taskInstanceId,
      taskId: r.taskId,
      mapIndex: r.mapIndex,
      tryNumber: r.tryNumber,
      payload: { context: r.context, callback },
    })),
  );
  if (rows.length === 0) return 0;
  await tx.insert(schema.callbackRequests).values(rows as never);
  await tx.execute(sql`select pg_notify(${CALLBACKS_CHANNEL}, '')`);
  return rows.length;
}

/**
 * Writes the callback requests that `changes` trigger, in the caller's transaction. `hint` (the
 * run and version of all changes, when the caller knows them) lets the common case — a DAG without
 * callbacks — return without a query.
 */
export async function requestCallbacks(
  tx: Queryable,
  versions: VersionCache,
  changes: readonly StateChange[],
  hint?: { versionId: number },
): Promise<number> {
  const triggered = changes
    .map((change) => ({ change, rule: callbackEventOf(change) }))
    .filter((x): x is { change: StateChange; rule: NonNullable<typeof x.rule> } => !!x.rule);
  if (triggered.length === 0) return 0;
  if (hint && !hasCallbacks(await versions.get(tx, hint.versionId))) return 0;
  const keys = [...new Set(triggered.map((t) => `${t.change.dagId}\0${t.change.runId}`))];
  const runs = rowsOf<RunRow>(
    await tx.execute(sql`select id, dag_id, run_id, dag_version_id, logical_date, data_interval_start,
        data_interval_end, conf from dag_runs
      where (dag_id, run_id) in (${sql.join(
        keys.map((k) => {
          const [dagId, runId] = k.split('\0');
          return sql`(${dagId}, ${runId})`;
        }),
        sql`, `,
      )})`),
  );
  const byKey = new Map(runs.map((r) => [`${r.dag_id}\0${r.run_id}`, r]));
  const requests: CallbackRequestInput[] = [];
  for (const { change, rule } of triggered) {
    const run = byKey.get(`${change.dagId}\0${change.runId}`);
    if (!run) continue;
    const version = await versions.get(tx, Number(run.dag_version_id));
    const callbacks = callbacksFor(version, change, rule.key);
    if (callbacks.length === 0) continue;
    const isTask = change.entity === 'task_instance';
    requests.push({
      scope: rule.scope,
      event: rule.event,
      run,
      taskInstanceId: isTask ? change.id : null,
      taskId: isTask ? change.taskId : null,
      mapIndex: isTask ? change.mapIndex : null,
      tryNumber: isTask ? change.tryNumber : null,
      context: callbackContext(rule.event, run, version, {
        taskId: isTask ? change.taskId : null,
        mapIndex: isTask ? change.mapIndex : null,
        tryNumber: isTask ? change.tryNumber : null,
        state: change.to,
        reason: change.reason,
      }),
      callbacks,
    });
  }
  return insertCallbackRequests(tx, requests);
}

export interface CallbackRunnerOptions {
  id: string;
  files: DagFileCache;
  versions: VersionCache;
  /** Environment for "${VAR}" in webhook urls and headers (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  pollIntervalMs?: number;
  /** Per call (a webhook's own timeout wins). */
  timeoutMs?: number;
  maxAttempts?: number;
  /** Delay before attempt n+1 is backoffMs * 4^(n-1). */
  backoffMs?: number;
  /** Requests run at once. */
  concurrency?: number;
}

interface ClaimedRequest {
  id: number;
  dag_id: string;
  dag_version_id: number;
  attempts: number;
  payload: { context: Record<string, unknown>; callback: CallbackSpec };
}

/**
 * Runs pending callback requests (a small loop inside each worker). A request is claimed by
 * setting it running under SKIP LOCKED; a claim older than the stale limit (its worker died) is
 * taken over. A pending request waiting for its next attempt keeps the time in claimed_at.
 */
export class CallbackRunner {
  readonly #r: EngineResources;
  readonly #o: Required<Omit<CallbackRunnerOptions, 'env'>> & {
    env: Readonly<Record<string, string | undefined>>;
  };
  #running = false;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #unlisten: (() => Promise<void>) | null = null;

  constructor(resources: EngineResources, opts: CallbackRunnerOptions) {
    this.#r = resources;
    this.#o = {
      pollIntervalMs: 1000,
      timeoutMs: 30_000,
      maxAttempts: 3,
      backoffMs: 1000,
      concurrency: 4,
      ...opts,
      env: opts.env ?? process.env,
    };
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#unlisten = await this.#r.database.listen(CALLBACKS_CHANNEL, () => this.#wake?.());
    this.#loop = (async () => {
      while (this.#running) {
        let ran = 0;
        try {
          ran = await this.runPending();
        } catch (error) {
          this.#r.logger.warn({ err: error }, 'running callbacks failed');
        }
        if (!this.#running) break;
        if (ran > 0) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.#o.pollIntervalMs);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = null;
      }
    })();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    await this.#unlisten?.();
  }

  /** Claims and runs up to `concurrency` due requests; returns how many ran. */
  async runPending(): Promise<number> {
    const now = this.#r.clock.now();
    const stale = new Date(now.getTime() - Math.max(this.#o.timeoutMs * 2, 60_000));
    const claimed = rowsOf<ClaimedRequest>(
      await this.#r.database.db.execute(sql`
        update callback_requests c set state = 'running', attempts = c.attempts + 1,
          worker_id = ${this.#o.id}, claimed_at = ${now}
        where c.id in (
          select id from callback_requests
          where (state = 'pending' and (claimed_at is null or claimed_at <= ${now}))
             or (state = 'running' and claimed_at < ${stale})
          order by id limit ${this.#o.concurrency} for update skip locked)
        returning c.id, c.dag_id, c.dag_version_id, c.attempts, c.payload`),
    );
    await Promise.all(claimed.map((c) => this.#run(c)));
    return claimed.length;
  }

  async #run(c: ClaimedRequest): Promise<void> {
    const payload = typeof c.payload === 'string' ? JSON.parse(c.payload) : c.payload;
    let error: string | null = null;
    try {
      await this.#call(c, payload.callback, payload.context);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    const { db } = this.#r.database;
    if (error === null) {
      // A previous attempt's error stays: "succeeded on attempt 2 after …".
      await db.execute(sql`update callback_requests set state = 'success',
        finished_at = ${this.#r.clock.now()} where id = ${c.id} and worker_id = ${this.#o.id}`);
      return;
    }
    const attempts = Number(c.attempts);
    const message = error.slice(0, 2000);
    if (attempts < this.#o.maxAttempts) {
      const next = new Date(
        this.#r.clock.now().getTime() + this.#o.backoffMs * 4 ** (attempts - 1),
      );
      await db.execute(sql`update callback_requests set state = 'pending', error = ${message},
        claimed_at = ${next} where id = ${c.id} and worker_id = ${this.#o.id}`);
    } else {
      await db.execute(sql`update callback_requests set state = 'failed', error = ${message},
        finished_at = ${this.#r.clock.now()} where id = ${c.id} and worker_id = ${this.#o.id}`);
    }
    this.#r.logger.warn(
      { callbackRequest: c.id, dagId: c.dag_id, attempt: attempts, error: message },
      'callback failed',
    );
  }

  async #call(
    c: ClaimedRequest,
    callback: CallbackSpec,
    context: Record<string, unknown>,
  ): Promise<void> {
    if (callback.kind === 'http') return this.#callHttp(callback, context);
    const version = await this.#o.versions.get(this.#r.database.db, Number(c.dag_version_id));
    const { dag } = await this.#o.files.dag(version.fileloc, c.dag_id);
    const fn = callbackFunction(dag, callback.ref);
    if (!fn) throw new Error(`callback "${callback.ref}" is no longer defined in the DAG file`);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.resolve().then(() => fn(structuredClone(context) as never)),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`callback timed out after ${this.#o.timeoutMs} ms`)),
            this.#o.timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #callHttp(callback: HttpCallbackSpec, context: Record<string, unknown>): Promise<void> {
    const secrets: string[] = [];
    try {
      const url = fillEnvTemplate(callback.url, this.#o.env);
      secrets.push(...url.secrets);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      for (const [name, value] of Object.entries(callback.headers ?? {})) {
        const filled = fillEnvTemplate(value, this.#o.env);
        secrets.push(...filled.secrets);
        headers[name] = filled.text;
      }
      const timeoutMs = callback.timeoutMs ?? this.#o.timeoutMs;
      const res = await fetch(url.text, {
        method: callback.method,
        headers,
        ...(callback.method !== 'GET' && { body: JSON.stringify(context) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text().catch(() => '');
      if (!res.ok) {
        throw new Error(
          `${callback.method} ${callback.url} answered ${res.status}: ${text.slice(0, 300)}`,
        );
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // Never leak a filled-in secret (a token in a header or the url) into the recorded error.
      throw new Error(redact(`webhook ${callback.url}: ${message}`, secrets));
    }
  }
}
