/**
 * The worker: claims queued task instances (FOR UPDATE SKIP LOCKED), runs them with a concurrency
 * limit, streams their output into task logs, heartbeats, enforces timeouts, and records finished
 * tries in transactions that also advance their runs and claim the next work (group commit: tries
 * that finish together share one) — so downstream tasks are queued and started at once and a
 * chain of tasks does not wait for a scheduler tick per hop.
 *
 * Wakes at once on NOTIFY when work is queued, and polls as a fallback.
 */
import { hostname } from 'node:os';
import { BranchResultError, branchChoice, controlFlowSkips } from '@updraft/core/branching';
import { functionConfigSchema, type TaskSpec, type TaskType } from '@updraft/core/dag';
import { retryDelay } from '@updraft/core/decisions';
import { assertNever } from '@updraft/core/errors';
import type { TaskState } from '@updraft/core/state';
import { templateContext } from '@updraft/core/template';
import { pipeline, type Queryable, rowsOf, schema, type Tx } from '@updraft/db';
import { eq, type SQL, sql } from 'drizzle-orm';
import { CallbackRunner, type CallbackRunnerOptions, requestCallbacks } from '../callbacks.ts';
import { isLatestOnly, latestOnlyExecutor } from '../latest-only.ts';
import { mappedItemFields } from '../mapping.ts';
import { type Rider, releasePoolSlots } from '../pools.ts';
import { heartbeatProcess, registerProcess, stopProcess } from '../processes.ts';
import { CHANNELS, type EngineResources } from '../resources.ts';
import {
  advanceRun,
  lockDags,
  RUN_ROW_COLUMNS,
  type RunRow,
  runIsOpenSql,
  runTaskInstancesSql,
  type TiRow,
} from '../runs.ts';
import {
  intArray,
  type StateChange,
  type Statement,
  transitionSelectedStatement,
  transitionTasks,
} from '../transitions.ts';
import { type LoadedVersion, VersionCache } from '../versions.ts';
import { createFunctionExecutor, DagFileCache } from './executors/function.ts';
import { createHttpExecutor } from './executors/http.ts';
import { createHttpJobExecutor } from './executors/http-job.ts';
import { createSensorExecutor } from './executors/sensor.ts';
import { runShellTask } from './executors/shell.ts';
import { type Executor, type RunInfo, TaskFailure, TaskSkipped } from './executors/types.ts';
import { environmentSecrets, type SecretMasker, secretMasker, secretsInJson } from './secrets.ts';
import { readXcom, writeXcom } from './xcom.ts';

export {
  type ExecutionContext,
  type Executor,
  type RescheduleRequest,
  TaskFailure,
  TaskSkipped,
} from './executors/types.ts';

export interface WorkerOptions {
  id?: string;
  concurrency?: number;
  pollIntervalMs?: number;
  heartbeatIntervalMs?: number;
  /** On stop(), how long running tasks may take to finish before they are aborted. */
  shutdownGraceMs?: number;
  /** Largest JSON result (XCom) a task may return. */
  maxResultBytes?: number;
  /** How long a DAG file may take to load in the parse thread before its functions run here. */
  dagFileTimeoutMs?: number;
  logFlushIntervalMs?: number;
  /** Extra executors by task type (e.g. k8sPod). */
  executors?: Partial<Record<TaskType, Executor>>;
  /**
   * Running shell and function tasks in their own pods (per task `executor: 'pod'`, or the team's
   * default), so heavy tasks do not share the worker's memory.
   */
  taskPods?: {
    executor: Executor;
    teamDefault?: (
      team: string,
    ) => 'worker' | 'pod' | undefined | Promise<'worker' | 'pod' | undefined>;
  };
  /**
   * Task types whose work outlives this worker (pods): at shutdown, those still running after the
   * grace period are handed over (the same try continues on another worker) instead of stopped.
   */
  adoptableOperators?: readonly string[];
  /**
   * Environment that sensors and HTTP jobs read secrets from (`${VAR}` in headers, a SQL sensor's
   * connEnv); default process.env. The worker's own configuration is never readable by tasks.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** Running callback requests (callbacks.ts) in this worker; false to leave them to others. */
  callbacks?: Omit<CallbackRunnerOptions, 'id' | 'files' | 'versions'> | false;
}

interface Claimed {
  id: number;
  runPk: number;
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  maxRetries: number;
  pool: string;
  /** This claim adopts a try whose previous worker was lost. */
  resumed: boolean;
  operator: string;
  /** Reschedules (sensors, external jobs): see ExecutionContext. */
  carried: Record<string, unknown> | null;
  rescheduleCount: number;
  firstStartedAt: Date;
  firstTryStartedAt: Date;
}

type Outcome =
  | { kind: 'success'; result: unknown; skip: string[]; skippedBy: string | null }
  | { kind: 'failure'; reason: string; retryable: boolean }
  /** The task instance was changed by someone else (cleared, marked): drop this try's result. */
  | { kind: 'superseded'; reason: string }
  /** The attempt ends, the try continues at `at` (up_for_reschedule). */
  | { kind: 'reschedule'; at: Date; state: Record<string, unknown> }
  | { kind: 'skipped'; reason: string };

/** A finished try waiting to be recorded. */
interface Completion {
  claimed: Claimed;
  outcome: Outcome;
  version: LoadedVersion | undefined;
  durationMs: number;
  /** Recorded in a batch of its own (after a batch it was in failed). */
  alone: boolean;
  attempts: number;
  done: () => void;
}

/** What a batch reads ahead for one run's decision (Worker.#runPlans). */
interface RunPlan {
  runPk: number;
  tries: Completion[];
  read: 'tis' | 'open' | 'none';
  /** 'tis': the tasks to decide (downstream of the tries) and the tasks to read for them. */
  downstream?: Set<string>;
  taskIds?: string[];
  result?: unknown;
}

/** Most finished tries recorded in one transaction. */
const MAX_COMPLETION_BATCH = 128;

class Superseded extends Error {}
const SUPERSEDED = 'the task instance was cleared or marked by someone else';
/** Carries an executor's reschedule request to the outcome (see classifyFailure). */
class Rescheduled extends Error {
  readonly at: Date;
  readonly state: Record<string, unknown>;
  constructor(at: Date, state: Record<string, unknown>) {
    super(`rescheduled to ${at.toISOString()}`);
    this.at = at;
    this.state = state;
  }
}
class TimedOut extends Error {}
class ShuttingDown extends Error {}
/**
 * The try was handed over for adoption at shutdown. `detach` tells executors (the pod runner) to
 * stop following their work without deleting it: another worker continues the same try.
 */
class ReleasedForAdoption extends Error {
  readonly detach = true;
}

/** A claimed task instance's columns as they were before the claim. */
type ClaimedRow = {
  dag_run_id: number;
  max_retries: number;
  pool: string;
  operator: string;
  resume_try: boolean;
  rescheduled: boolean;
  reschedule_count: number;
  next_kwargs: string | null;
  first_started_at: Date | string | null;
  first_try_started_at: Date | string | null;
};

export class Worker {
  readonly id: string;
  readonly #r: EngineResources;
  readonly #versions = new VersionCache();
  readonly #files: DagFileCache;
  readonly #runs = new Map<number, Promise<typeof schema.dagRuns.$inferSelect | undefined>>();
  readonly #concurrency: number;
  readonly #pollIntervalMs: number;
  readonly #heartbeatIntervalMs: number;
  readonly #shutdownGraceMs: number;
  readonly #maxResultBytes: number;
  readonly #logFlushIntervalMs: number;
  readonly #executors: Partial<Record<TaskType, Executor>>;
  readonly #adoptableOperators: ReadonlySet<string>;
  readonly #taskPods: WorkerOptions['taskPods'];
  readonly #callbackRunner: CallbackRunner | null;
  readonly #inFlight = new Map<
    number,
    {
      claimed: Claimed;
      abort: AbortController;
      done: Promise<void>;
      /** Its completion already claimed for the freed slot: the claim loop need not look. */
      queueChecked: boolean;
    }
  >();
  /** Per DAG version: each task's downstream tasks (#runPlans). */
  readonly #graphs = new WeakMap<LoadedVersion, Map<string, string[]>>();
  /** Finished tries waiting to be recorded (#recordCompletions). */
  readonly #completions: Completion[] = [];
  #recording = false;
  /**
   * Task log text not yet written, per try (`logKey`): a try cleared while it runs may still write
   * after the next try of the same task instance has started here, and its lines stay its own.
   */
  readonly #logBuffers = new Map<
    string,
    { taskInstanceId: number; tryNumber: number; chunks: string[]; masker: SecretMasker }
  >();
  /**
   * Values of the worker's environment variables named like secrets (what `${VAR}` in an HTTP
   * task's headers reads): masked in every task's log, whichever task's output carries them (a
   * templated XCom, a function's log line), as Airflow masks its secrets in all task logs.
   */
  readonly #secrets: string[];
  #running = false;
  #accepting = false;
  #wake: (() => void) | null = null;
  #timers: NodeJS.Timeout[] = [];
  #unlisten: (() => Promise<void>) | null = null;
  #loop: Promise<void> | null = null;
  #claiming = false;
  /** Slots promised to claims in progress, so claims never exceed the concurrency limit. */
  #reserved = 0;

  constructor(resources: EngineResources, opts: WorkerOptions = {}) {
    this.#r = resources;
    this.id = opts.id ?? `worker:${hostname()}:${process.pid}`;
    this.#concurrency = opts.concurrency ?? 16;
    this.#pollIntervalMs = opts.pollIntervalMs ?? 2000;
    this.#heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 5000;
    this.#shutdownGraceMs = opts.shutdownGraceMs ?? 30_000;
    this.#maxResultBytes = opts.maxResultBytes ?? 48 * 1024;
    this.#logFlushIntervalMs = opts.logFlushIntervalMs ?? 1000;
    this.#secrets = environmentSecrets(opts.env ?? process.env);
    this.#files = new DagFileCache(
      opts.dagFileTimeoutMs !== undefined ? { checkTimeoutMs: opts.dagFileTimeoutMs } : {},
    );
    // httpJob: a lost worker's try is continued (same Idempotency-Key), not started again.
    this.#adoptableOperators = new Set(opts.adoptableOperators ?? ['k8sPod', 'httpJob']);
    this.#taskPods = opts.taskPods;
    this.#callbackRunner =
      opts.callbacks === false
        ? null
        : new CallbackRunner(resources, {
            ...opts.callbacks,
            id: this.id,
            files: this.#files,
            versions: this.#versions,
          });
    this.#executors = {
      shell: runShellTask,
      http: createHttpExecutor({ env: opts.env ?? process.env }),
      function: createFunctionExecutor(this.#files),
      sensor: createSensorExecutor({
        clock: resources.clock,
        db: resources.database.db,
        files: this.#files,
        env: opts.env ?? process.env,
      }),
      httpJob: createHttpJobExecutor({ clock: resources.clock, env: opts.env ?? process.env }),
      ...opts.executors,
    };
  }

  get activeCount(): number {
    return this.#inFlight.size;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#accepting = true;
    await registerProcess(this.#r, this.id, 'worker');
    this.#unlisten = await this.#r.database.listen(CHANNELS.taskQueued, () => this.#wake?.());
    this.#timers.push(
      setInterval(() => void this.#heartbeat(), this.#heartbeatIntervalMs),
      setInterval(() => void this.#flushLogs(), this.#logFlushIntervalMs),
    );
    this.#r.logger.info({ worker: this.id, concurrency: this.#concurrency }, 'worker started');
    this.#loop = this.#claimLoop();
    await this.#callbackRunner?.start();
  }

  /** Stops claiming, lets running tasks finish within the grace period, then aborts the rest. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#accepting = false;
    this.#wake?.();
    await this.#loop;
    const pending = [...this.#inFlight.values()];
    if (pending.length > 0) {
      this.#r.logger.info(
        { running: pending.length, graceMs: this.#shutdownGraceMs },
        'waiting for running tasks',
      );
      const grace = new Promise<void>((resolve) =>
        setTimeout(resolve, this.#shutdownGraceMs).unref(),
      );
      await Promise.race([Promise.all(pending.map((p) => p.done)), grace]);
      for (const p of this.#inFlight.values()) {
        const handedOver =
          this.#adoptableOperators.has(p.claimed.operator) && (await this.#release(p.claimed));
        p.abort.abort(
          handedOver
            ? new ReleasedForAdoption(
                'the worker is shutting down; another worker continues this try',
              )
            : new ShuttingDown('the worker is shutting down'),
        );
      }
      await Promise.all([...this.#inFlight.values()].map((p) => p.done));
    }
    await this.#callbackRunner?.stop();
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#running = false;
    await this.#unlisten?.();
    await stopProcess(this.#r, this.id).catch(() => {});
    this.#r.logger.info({ worker: this.id }, 'worker stopped');
  }

  async #claimLoop(): Promise<void> {
    while (this.#accepting) {
      let claimed = 0;
      try {
        claimed = await this.claimAndRun();
      } catch (error) {
        this.#r.logger.error({ err: error }, 'claiming task instances failed');
      }
      if (!this.#accepting) break;
      // Full, or found nothing: sleep until NOTIFY, a slot frees up, or the poll interval passes.
      if (claimed === 0 || this.#inFlight.size >= this.#concurrency) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.#pollIntervalMs);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = null;
      }
    }
  }

  /** Claims as many queued task instances as there are free slots and starts them. */
  async claimAndRun(): Promise<number> {
    if (this.#claiming) return 0;
    const free = this.#concurrency - this.#inFlight.size - this.#reserved;
    if (free <= 0) return 0;
    this.#claiming = true;
    this.#reserved += free;
    try {
      const claimed = await this.#claim(free);
      for (const c of claimed) this.#launch(c);
      return claimed.length;
    } finally {
      this.#reserved -= free;
      this.#claiming = false;
    }
  }

  async #claim(limit: number): Promise<Claimed[]> {
    // One statement: atomic without a transaction (saves begin and commit round trips).
    return this.#claimIn(this.#r.database.db, limit);
  }

  /**
   * Claims up to `limit` queued task instances: one statement (select … for update skip locked,
   * the transition to running with its events, and clearing an earlier try's XComs), so it needs
   * no transaction of its own; inside the caller's transaction on a hand-off.
   */
  async #claimIn(tx: Queryable, limit: number): Promise<Claimed[]> {
    const claim = this.#claimStatement(limit);
    return claim.parse(await tx.execute(claim.sql));
  }

  /** #claimIn as a statement, to send behind others (a hand-off's queueing, see Rider). */
  #claimStatement(limit: number): Statement<Claimed[]> {
    const now = this.#r.clock.now();
    // The old values: whether the try continues (adopted or rescheduled) is decided before the update.
    const statement = transitionSelectedStatement<ClaimedRow>(
      sql`select id, state, dag_run_id, max_retries, pool, operator, resume_try, rescheduled, reschedule_count,
          next_kwargs::text as next_kwargs, first_started_at, first_try_started_at from task_instances
        where state = 'queued'
        order by priority_weight desc, queued_at, id limit ${limit} for update skip locked`,
      'running',
      {
        actor: this.id,
        from: ['queued'],
        // An adopted or rescheduled try keeps its number (and its pod, XComs and carried state);
        // anything else starts a new try (reschedules are not tries, as in Airflow).
        set: [
          sql`try_number = case when t.resume_try or t.rescheduled then t.try_number else t.try_number + 1 end`,
          sql`first_started_at = case when t.resume_try or t.rescheduled then coalesce(t.first_started_at, ${now}) else ${now} end`,
          sql`first_try_started_at = coalesce(t.first_try_started_at, ${now})`,
          sql`reschedule_count = case when t.resume_try or t.rescheduled then t.reschedule_count else 0 end`,
          sql`next_kwargs = case when t.resume_try or t.rescheduled then t.next_kwargs else null end`,
          sql`resume_try = false`,
          sql`rescheduled = false`,
          sql`worker_id = ${this.id}`,
          sql`start_date = ${now}`,
          sql`heartbeat_at = ${now}`,
          sql`end_date = null`,
          sql`duration_ms = null`,
        ],
        // A new try starts clean: results of an earlier try are cleared (an adopted try keeps its own).
        alsoCtes: sql`cleared as (
          delete from xcoms x using changed c join old o on o.id = c.id
          where x.task_instance_id = c.id and c.try_number > 1
            and not (o.resume_try or o.rescheduled))`,
      },
    );
    if (!statement) throw new Error('no state leads to running');
    return { sql: statement.sql, parse: (result) => this.#claimed(statement.parse(result), now) };
  }

  #claimed(claimed: { change: StateChange; old: ClaimedRow }[], now: Date): Claimed[] {
    if (claimed.length === 0) return [];
    const changes = claimed.map((c) => c.change);
    const byId = new Map(claimed.map((c) => [c.change.id, c.old]));
    const continues = (p: { resume_try: boolean; rescheduled: boolean }) =>
      p.resume_try || p.rescheduled;
    this.#r.events.emit('stateChanges', changes);
    return changes.map((c) => {
      const p = byId.get(c.id)!;
      return {
        id: c.id,
        runPk: Number(p.dag_run_id),
        dagId: c.dagId,
        runId: c.runId,
        taskId: c.taskId!,
        mapIndex: c.mapIndex ?? -1,
        tryNumber: c.tryNumber ?? 1,
        maxRetries: p.max_retries,
        pool: p.pool,
        operator: p.operator,
        resumed: p.resume_try,
        carried: continues(p) && p.next_kwargs ? JSON.parse(p.next_kwargs) : null,
        rescheduleCount: continues(p) ? Number(p.reschedule_count) : 0,
        firstStartedAt: continues(p) && p.first_started_at ? new Date(p.first_started_at) : now,
        firstTryStartedAt: p.first_try_started_at ? new Date(p.first_try_started_at) : now,
      };
    });
  }

  #launch(claimed: Claimed): void {
    // An earlier try of the same task instance still running here was cleared or marked, and its
    // row has moved on to this try without the heartbeat telling it (the reaper put the row back
    // first): it stops now, as the heartbeat would have stopped it. Another attempt of the same
    // try (adopted, its pod followed again) is not stopped: that would delete the pod it follows.
    const earlier = this.#inFlight.get(claimed.id);
    if (earlier && earlier.claimed.tryNumber !== claimed.tryNumber)
      earlier.abort.abort(new Superseded(SUPERSEDED));
    const abort = new AbortController();
    const entry = { claimed, abort, done: Promise.resolve(), queueChecked: false };
    entry.done = this.#execute(claimed, abort.signal)
      .catch((error) =>
        this.#r.logger.error({ err: error, taskInstance: claimed.id }, 'task execution crashed'),
      )
      .finally(() => {
        // Only its own entry: a try cleared while it ran may end after the next try of the same
        // task instance was launched here, and that one must keep its heartbeat and its slot.
        if (this.#inFlight.get(claimed.id) === entry) this.#inFlight.delete(claimed.id);
        if (!entry.queueChecked) this.#wake?.();
      });
    this.#inFlight.set(claimed.id, entry);
  }

  #log(tiId: number, tryNumber: number, text: string): void {
    const buffer = this.#logBuffer(tiId, tryNumber);
    buffer.chunks.push(buffer.masker.push(text));
  }

  /** A try's log buffer, made (masking the worker's environment secrets) on first use. */
  #logBuffer(tiId: number, tryNumber: number) {
    const key = logKey(tiId, tryNumber);
    let buffer = this.#logBuffers.get(key);
    if (!buffer) {
      buffer = { taskInstanceId: tiId, tryNumber, chunks: [], masker: secretMasker(this.#secrets) };
      this.#logBuffers.set(key, buffer);
    }
    return buffer;
  }

  /** Masks `secrets` too in what a try logs from now on. */
  #maskInLog(claimed: Claimed, secrets: readonly string[]): void {
    if (secrets.length === 0) return;
    const buffer = this.#logBuffer(claimed.id, claimed.tryNumber);
    const masker = secretMasker([...this.#secrets, ...secrets]);
    // What the old masker held back is released through the new one.
    buffer.chunks.push(masker.push(buffer.masker.end()));
    buffer.masker = masker;
  }

  /** The unwritten log of one try, or of every try; a try no longer running here is forgotten. */
  #takeLogs(of?: Claimed): { taskInstanceId: number; tryNumber: number; content: string }[] {
    const out: { taskInstanceId: number; tryNumber: number; content: string }[] = [];
    const keys = of === undefined ? [...this.#logBuffers.keys()] : [logKey(of.id, of.tryNumber)];
    for (const key of keys) {
      const buffer = this.#logBuffers.get(key);
      if (!buffer) continue;
      // A try taken as a whole (its end is being recorded), or no longer running here: the text
      // the masker holds back (it could begin a secret) is all there is to come.
      const running =
        this.#inFlight.get(buffer.taskInstanceId)?.claimed.tryNumber === buffer.tryNumber;
      if (of !== undefined || !running) buffer.chunks.push(buffer.masker.end());
      if (!running) this.#logBuffers.delete(key);
      buffer.chunks = buffer.chunks.filter((c) => c.length > 0);
      if (buffer.chunks.length === 0) continue;
      out.push({
        taskInstanceId: buffer.taskInstanceId,
        tryNumber: buffer.tryNumber,
        content: buffer.chunks.join(''),
      });
      buffer.chunks = [];
    }
    return out;
  }

  /** Puts log rows that could not be written back in front of what was written since. */
  #restoreLogs(rows: readonly { taskInstanceId: number; tryNumber: number; content: string }[]) {
    for (const row of rows) {
      const key = logKey(row.taskInstanceId, row.tryNumber);
      const buffer = this.#logBuffers.get(key);
      if (buffer) buffer.chunks.unshift(row.content);
      // The text is masked already; what the try writes after it is masked as it comes.
      else
        this.#logBuffers.set(key, {
          ...row,
          chunks: [row.content],
          masker: secretMasker(this.#secrets),
        });
    }
  }

  async #flushLogs(): Promise<void> {
    const rows = this.#takeLogs();
    if (rows.length === 0) return;
    try {
      await this.#r.database.db.insert(schema.taskLogs).values(rows);
    } catch (error) {
      // Put them back; they will be written with the next flush or the completion.
      this.#restoreLogs(rows);
      this.#r.logger.warn({ err: error }, 'could not write task logs yet');
    }
  }

  async #execute(claimed: Claimed, signal: AbortSignal): Promise<void> {
    const { db } = this.#r.database;
    const started = Date.now();
    let outcome: Outcome;
    let version: LoadedVersion | undefined;
    try {
      const run = await this.#runOf(claimed.runPk);
      if (!run) throw new Superseded('the run was deleted');
      version = await this.#versions.get(db, run.dagVersionId);
      // The run's conf and the DAG's params may hold secrets that templates put into commands,
      // requests and so into the log: masked there as the API masks them.
      this.#maskInLog(claimed, secretsInJson([version.spec.params, run.conf]));
      const task = version.tasks.get(claimed.taskId);
      if (!task)
        throw new TaskFailure(`task "${claimed.taskId}" is not in DAG version ${version.id}`, {
          retryable: false,
        });
      const executor = await this.#executorFor(task, version.spec.team);
      if (!executor)
        throw new TaskFailure(`no executor for task type "${task.type}" on this worker`, {
          retryable: false,
        });
      const runInfo: RunInfo = {
        runPk: run.id,
        dagId: run.dagId,
        runId: run.runId,
        logicalDate: run.logicalDate,
        dataIntervalStart: run.dataIntervalStart,
        dataIntervalEnd: run.dataIntervalEnd,
        conf: run.conf,
      };
      // The DAG file a function task runs from is loaded (and first checked in the parse thread)
      // before its timeout starts, as Airflow's execution_timeout does not count parsing.
      if (task.type === 'function')
        await this.#files.dag(version.fileloc, run.dagId, version.sourceHash);
      const controller = new AbortController();
      const onAbort = () => controller.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      const timer =
        task.timeoutMs != null
          ? setTimeout(
              () => controller.abort(new TimedOut(`timed out after ${task.timeoutMs} ms`)),
              task.timeoutMs,
            )
          : undefined;
      try {
        const { result, reschedule } = await executor({
          run: runInfo,
          taskInstanceId: claimed.id,
          taskId: claimed.taskId,
          mapIndex: claimed.mapIndex,
          tryNumber: claimed.tryNumber,
          resumed: claimed.resumed,
          carried: claimed.carried,
          rescheduleCount: claimed.rescheduleCount,
          firstStartedAt: claimed.firstStartedAt,
          firstTryStartedAt: claimed.firstTryStartedAt,
          task,
          version,
          template: {
            ...templateContext({
              dagId: run.dagId,
              runId: run.runId,
              taskId: claimed.taskId,
              tryNumber: claimed.tryNumber,
              logicalDate: run.logicalDate,
              dataIntervalStart: run.dataIntervalStart,
              dataIntervalEnd: run.dataIntervalEnd,
              params: version.spec.params,
              conf: run.conf,
            }),
            // A mapped instance: {{ map_index }} and {{ item }} (mapping.ts).
            ...(await mappedItemFields(db, run.id, run.dagId, task, claimed.mapIndex)),
          },
          signal: controller.signal,
          log: (text) => this.#log(claimed.id, claimed.tryNumber, text),
          pullXcom: (taskId, key) => readXcom(db, claimed.runPk, taskId, key),
          pushXcom: (key, value) => writeXcom(db, claimed, key, value, this.#maxResultBytes),
        });
        if (controller.signal.aborted) throw controller.signal.reason;
        if (reschedule) throw new Rescheduled(reschedule.at, reschedule.state ?? {});
        const control = task.type === 'function' ? functionConfigSchema.parse(task.config) : {};
        outcome = control.control
          ? {
              kind: 'success',
              // A branch's result is stored as the ids it chose (it may return Task objects).
              result: control.control === 'branch' ? branchChoice(result, claimed.taskId) : result,
              // A bad branch choice throws here and fails the task.
              skip: controlFlowSkips(
                version.spec,
                claimed.taskId,
                // Latest-only short-circuits its direct downstream tasks (latest-only.ts).
                control.control === 'latest_only'
                  ? { kind: 'short_circuit', ignoreDownstreamTriggerRules: false }
                  : {
                      kind: control.control,
                      ignoreDownstreamTriggerRules: control.ignoreDownstreamTriggerRules,
                    },
                result,
              ),
              skippedBy: `${control.control === 'branch' ? 'branch' : control.control === 'latest_only' ? 'latest-only' : 'short-circuit'} "${claimed.taskId}"`,
            }
          : { kind: 'success', result, skip: [], skippedBy: null };
      } finally {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      }
    } catch (error) {
      // An abort decides the outcome, whatever the executor made of it.
      outcome = classifyFailure(signal.aborted ? signal.reason : error);
    }
    if (outcome.kind === 'success' && outcome.result !== undefined) {
      const size = Buffer.byteLength(JSON.stringify(outcome.result) ?? '', 'utf8');
      if (size > this.#maxResultBytes) {
        outcome = {
          kind: 'failure',
          reason: `the task's result is ${size} bytes; the limit is ${this.#maxResultBytes} bytes (store large data elsewhere and pass a reference)`,
          retryable: false,
        };
      }
    }
    if (outcome.kind === 'reschedule') {
      const size = Buffer.byteLength(JSON.stringify(outcome.state), 'utf8');
      outcome =
        size > this.#maxResultBytes
          ? {
              kind: 'failure',
              reason: `the state carried to the next attempt is ${size} bytes; the limit is ${this.#maxResultBytes} bytes`,
              retryable: false,
            }
          : outcome;
      if (outcome.kind === 'reschedule')
        this.#log(claimed.id, claimed.tryNumber, `rescheduled until ${outcome.at.toISOString()}\n`);
    }
    if (outcome.kind === 'skipped')
      this.#log(claimed.id, claimed.tryNumber, `skipped: ${outcome.reason}\n`);
    if (outcome.kind === 'failure')
      this.#log(claimed.id, claimed.tryNumber, `error: ${outcome.reason}\n`);
    // Cleared or marked while it ran: its log says why it stops here.
    if (outcome.kind === 'superseded')
      this.#log(claimed.id, claimed.tryNumber, `stopped: ${outcome.reason}\n`);
    await this.#finish(claimed, outcome, version, Date.now() - started);
  }

  /** The executor of a task: its type's, or the task-pod executor for shell/function tasks run as pods. */
  async #executorFor(task: TaskSpec, team: string): Promise<Executor | undefined> {
    if (isLatestOnly(task)) return latestOnlyExecutor(this.#r);
    if (task.type !== 'shell' && task.type !== 'function') return this.#executors[task.type];
    const mode = task.executor ?? (await this.#taskPods?.teamDefault?.(team)) ?? 'worker';
    if (mode === 'worker') return this.#executors[task.type];
    if (this.#taskPods) return this.#taskPods.executor;
    return async () => {
      throw new TaskFailure(
        `task "${task.taskId}" runs in a pod, but this worker has no Kubernetes configured (set KUBECONFIG, UPDRAFT_KUBE_CONTEXT or UPDRAFT_KUBE_IN_CLUSTER)`,
        { retryable: false },
      );
    };
  }

  /**
   * A run's fields a task needs never change (version, dates, conf): read once per run, also when
   * many of its tasks start at once.
   */
  #runOf(runPk: number): Promise<typeof schema.dagRuns.$inferSelect | undefined> {
    const hit = this.#runs.get(runPk);
    if (hit) return hit;
    const read = this.#r.database.db
      .select()
      .from(schema.dagRuns)
      .where(eq(schema.dagRuns.id, runPk))
      .then(([run]) => run);
    if (this.#runs.size >= 1000) this.#runs.delete(this.#runs.keys().next().value!);
    this.#runs.set(runPk, read);
    // A failed or missing read is not remembered.
    read.then(
      (run) => run || this.#runs.delete(runPk),
      () => this.#runs.delete(runPk),
    );
    return read;
  }

  /** Queues the try's outcome for recording; resolves once it is recorded (or given up). */
  #finish(
    claimed: Claimed,
    outcome: Outcome,
    version: LoadedVersion | undefined,
    durationMs: number,
  ): Promise<void> {
    return new Promise((done) => {
      this.#completions.push({
        claimed,
        outcome,
        version,
        durationMs,
        alone: false,
        attempts: 0,
        done,
      });
      void this.#recordCompletions();
    });
  }

  /**
   * Records finished tries. Tries that finish while a batch is being recorded form the next batch
   * (group commit): one transaction records them, advances each of their runs once, frees their
   * pool slots and claims work for the freed worker slots. A chain pays nothing for it (its batch
   * has one try); many short tasks pay one transaction per batch instead of one per try.
   *
   * Retried while the database is unreachable. After a batch fails, its tries are recorded one at
   * a time, so one that cannot be recorded never holds the others back; one never recorded is left
   * to the scheduler's zombie check.
   */
  async #recordCompletions(): Promise<void> {
    if (this.#recording) return;
    this.#recording = true;
    let failures = 0;
    try {
      for (;;) {
        // Tries that finish in this turn of the event loop join the batch: a claimed group of
        // short tasks, and those the previous batch's hand-off has just started, if they need no
        // I/O. Without this turn, tries already waiting went first, alone; the worker's slots
        // split into groups that took turns, each paying a transaction (bench W3: 20 and 12).
        await new Promise((resolve) => setImmediate(resolve));
        if (this.#completions.length === 0) break;
        let n = 1;
        if (!this.#completions[0]!.alone) {
          while (
            n < this.#completions.length &&
            n < MAX_COMPLETION_BATCH &&
            !this.#completions[n]!.alone
          )
            n++;
        }
        const batch = this.#completions.splice(0, n);
        try {
          await this.#recordBatch(batch);
          failures = 0;
        } catch (error) {
          failures++;
          const delay = Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
          const retry: Completion[] = [];
          for (const c of batch) {
            c.attempts++;
            if (c.attempts >= 20) {
              this.#r.logger.error(
                { taskInstance: c.claimed.id },
                'giving up recording task outcome; the scheduler will treat it as a zombie',
              );
              c.done();
              continue;
            }
            c.alone = true;
            retry.push(c);
          }
          this.#r.logger.warn(
            {
              err: error,
              taskInstances: batch.map((c) => c.claimed.id),
              attempt: failures,
              retryInMs: delay,
            },
            'could not record task outcomes; retrying',
          );
          // A failed batch is retried a try at a time, at once; a try that failed alone goes to
          // the back, behind the others. Wait only when every waiting try has failed (the
          // database is away): fresh ones are tried first.
          if (batch.length > 1) this.#completions.unshift(...retry);
          else this.#completions.push(...retry);
          if (batch.length === 1 && this.#completions.every((c) => c.attempts > 0))
            await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    } finally {
      this.#recording = false;
    }
  }

  /** One transaction for a batch of finished tries (see #recordCompletions). */
  async #recordBatch(batch: Completion[]): Promise<void> {
    let handOff: Claimed[] = [];
    let reserved = 0;
    let lockedRuns = new Set<number>();
    /** Queued in this transaction after the claim was sent (see Rider). */
    let unseen = 0;
    const runPks = [...new Set(batch.map((c) => c.claimed.runPk))];
    // Put back if the batch is not recorded, so a retry writes them.
    const logs = batch.flatMap((c) => this.#takeLogs(c.claimed));
    try {
      const changes = await this.#r.database.db.transaction(async (tx) => {
        const now = this.#r.clock.now();
        const plain = batch.filter(
          (c) => c.outcome.kind === 'success' && c.outcome.skip.length === 0,
        );
        const plans = this.#runPlans(runPks, batch, plain);
        const end = this.#endTriesStatement(plain, 'success', null, now);
        const reads = plans.filter((p) => p.read !== 'none');
        // One round trip, pipelined, in this order: lock the runs (those another transaction
        // holds are skipped: their tries are recorded here and they are advanced after commit),
        // record the plain successes with their results, write the logs, then read what each
        // run's decision needs, after those changes.
        const results = await pipeline(tx, [
          sql`select ${RUN_ROW_COLUMNS} from dag_runs
            where id = any(${intArray(runPks)}) order by id for update skip locked`,
          ...(end ? [end.sql] : []),
          ...(logs.length > 0 ? [tx.insert(schema.taskLogs).values(logs).getSQL()] : []),
          ...reads.map((p) =>
            p.read === 'tis' ? runTaskInstancesSql(p.runPk, p.taskIds) : runIsOpenSql(p.runPk),
          ),
        ]);
        const runRows = rowsOf<RunRow>(results[0]);
        lockedRuns = new Set(runRows.map((r) => Number(r.id)));
        const succeeded = end ? end.parse(results[1]).map((r) => r.change) : [];
        const readResults = results.slice(results.length - reads.length);
        for (const [i, p] of reads.entries()) p.result = readResults[i];
        const changes = [
          ...succeeded,
          ...(await this.#recordOtherTries(tx, batch, plain, succeeded, now)),
        ];
        // What was read is current only if every try of the run was recorded by the statement
        // before the reads.
        const recorded = new Set(succeeded.map((c) => c.id));
        for (const p of plans)
          if (!p.tries.every((c) => recorded.has(c.claimed.id))) p.read = 'none';
        const versionIds = new Set(batch.map((c) => c.version?.id));
        const [onlyVersion] = versionIds;
        await requestCallbacks(
          tx,
          this.#versions,
          changes,
          versionIds.size === 1 && onlyVersion !== undefined
            ? { versionId: onlyVersion }
            : undefined,
        );
        let queued = 0;
        const served = new Set<string>();
        // Claim for the slots this batch frees (and any others free): the next task of a chain
        // starts without another round trip, and the claim loop has nothing left to look for.
        // The claim rides with the first queueing below when there is one (no wait for its
        // answer), else it is sent after.
        const room = this.#accepting
          ? this.#concurrency - this.#inFlight.size - this.#reserved + batch.length
          : 0;
        let claim: Statement<Claimed[]> | undefined;
        let rider: Rider | undefined;
        if (room > 0) {
          this.#reserved += room;
          reserved = room;
          rider = {
            sent: false,
            build: () => {
              claim = this.#claimStatement(room);
              return claim.sql;
            },
          };
        }
        // Nothing downstream of these tries, and the run goes on: no decision to make.
        const toAdvance = runRows.flatMap((runRow) => {
          const plan = plans.find((p) => p.runPk === Number(runRow.id))!;
          const goesOn = plan.read === 'open' && rowsOf<{ open: boolean }>(plan.result)[0]?.open;
          return goesOn ? [] : [{ runRow, plan }];
        });
        // Runs of several DAGs: all their locks first, in order (see lockDags).
        const dags = new Set(toAdvance.map(({ runRow }) => runRow.dag_id));
        if (dags.size > 1) await lockDags(tx, dags);
        for (const { runRow, plan } of toAdvance) {
          const advanced = await advanceRun(tx, this.#versions, Number(runRow.id), this.id, now, {
            locked: true,
            lockedRow: runRow,
            touch: false,
            notifyQueued: false,
            served,
            ...(rider && { rider }),
            ...(plan.read === 'tis' && {
              tis: rowsOf<TiRow>(plan.result),
              only: plan.downstream!,
            }),
          });
          changes.push(...advanced.changes);
          queued += advanced.queued;
        }
        // The freed pool slots go to whatever waits in their pools, any DAG's (pools.ts); after
        // the runs' own decisions, to keep the lock order (DAG, then pool). A pool a decision
        // above already served needs no second look.
        const ended = new Set(changes.filter((c) => c.entity === 'task_instance').map((c) => c.id));
        const freed = batch
          .filter((c) => ended.has(c.claimed.id) && !served.has(c.claimed.pool))
          .map((c) => c.claimed.id);
        if (freed.length > 0) {
          const released = await releasePoolSlots(tx, freed, this.id, now, {
            versions: this.#versions,
            notify: false,
            served,
            ...(rider && { rider }),
          });
          changes.push(...released);
          queued += released.length;
        }
        if (rider) {
          if (!rider.sent) rider.result = await tx.execute(rider.build());
          handOff = claim!.parse(rider.result);
        }
        // Work the claim did not see (queued after it, or beyond its room) is announced.
        unseen = rider?.queuedAfter ?? 0;
        if (queued > handOff.length || unseen > 0)
          await tx.execute(sql`select pg_notify(${CHANNELS.taskQueued}, '')`);
        return changes;
      });
      if (changes.length > 0) this.#r.events.emit('stateChanges', changes);
    } catch (error) {
      this.#reserved -= reserved;
      this.#restoreLogs(logs);
      throw error;
    }
    for (const c of batch) {
      this.#logBuffers.delete(logKey(c.claimed.id, c.claimed.tryNumber));
      const entry = this.#inFlight.get(c.claimed.id);
      // Another try of the same task instance, launched here since, is not this one's to end.
      if (entry?.claimed !== c.claimed) continue;
      // The batch's claim looked at the queue for every free slot, after everything it queued:
      // no need to wake the claim loop.
      if (reserved > 0 && unseen === 0) entry.queueChecked = true;
      this.#inFlight.delete(c.claimed.id);
    }
    for (const next of handOff) this.#launch(next);
    this.#reserved -= reserved;
    for (const c of batch) c.done();
    for (const runPk of runPks) if (!lockedRuns.has(runPk)) await this.#advanceAfterCommit(runPk);
  }

  /**
   * What each run's decision needs read after these tries end: its task instances when a task
   * downstream of one of them may now run (or never will); when none has downstream tasks (a wide
   * fan-out), only whether the run goes on, since nothing changes until its last try ends; and
   * nothing ahead (advanceRun reads for itself) when a try of the run ends other than in plain
   * success, which is recorded after the reads.
   */
  #runPlans(runPks: number[], batch: Completion[], plain: Completion[]): RunPlan[] {
    return runPks.map((runPk) => {
      const tries = batch.filter((c) => c.claimed.runPk === runPk);
      if (!tries.every((c) => plain.includes(c))) return { runPk, tries, read: 'none' };
      const version = tries[0]!.version;
      if (!version) return { runPk, tries, read: 'none' };
      let graph = this.#graphs.get(version);
      if (!graph) {
        graph = new Map(version.spec.tasks.map((t) => [t.taskId, [] as string[]]));
        for (const t of version.spec.tasks) {
          const ups = [...t.upstream, ...(t.expand && 'task' in t.expand ? [t.expand.task] : [])];
          for (const up of ups) graph.get(up)?.push(t.taskId);
        }
        this.#graphs.set(version, graph);
      }
      const downstream = new Set(tries.flatMap((c) => graph.get(c.claimed.taskId) ?? []));
      if (downstream.size === 0) return { runPk, tries, read: 'open' };
      // The tasks that may now run, and what their trigger rules look at.
      const read = new Set(downstream);
      for (const id of downstream)
        for (const up of version.tasks.get(id)?.upstream ?? []) read.add(up);
      return { runPk, tries, read: 'tis', downstream, taskIds: [...read] };
    });
  }

  /**
   * Records the outcomes other than plain successes (branching, failure, reschedule, skip), and
   * puts tries cleared while they ran back to none.
   */
  async #recordOtherTries(
    tx: Tx,
    batch: Completion[],
    plain: Completion[],
    succeeded: StateChange[],
    now: Date,
  ): Promise<StateChange[]> {
    const changes: StateChange[] = [];
    for (const c of batch) {
      if (!plain.includes(c)) changes.push(...(await this.#recordOutcome(tx, c, now)));
    }
    const recorded = new Set([...succeeded, ...changes].map((c) => c.id));
    const cleared = batch.filter((c) => !recorded.has(c.claimed.id));
    changes.push(
      ...(await this.#endTries(tx, cleared, 'none', 'cleared while running', now, ['restarting'])),
    );
    return changes;
  }

  /**
   * Ends these tries (this worker's, by try number) in one statement: `to` from running (or
   * `from`), with each try's end date and duration; a success stores its result (XCom) too.
   */
  async #endTries(
    tx: Tx,
    tries: Completion[],
    to: TaskState,
    reason: string | null,
    now: Date,
    from: TaskState[] = ['running'],
  ): Promise<StateChange[]> {
    const statement = this.#endTriesStatement(tries, to, reason, now, from);
    return statement ? statement.parse(await tx.execute(statement.sql)).map((r) => r.change) : [];
  }

  #endTriesStatement(
    tries: Completion[],
    to: TaskState,
    reason: string | null,
    now: Date,
    from: TaskState[] = ['running'],
  ) {
    if (tries.length === 0) return null;
    const results =
      to === 'success'
        ? tries.flatMap((c) =>
            c.outcome.kind === 'success' && c.outcome.result !== undefined
              ? [
                  {
                    id: c.claimed.id,
                    run: c.claimed.runPk,
                    task: c.claimed.taskId,
                    map: c.claimed.mapIndex,
                    // Wrapped, so a null result is stored as JSON null.
                    value: { v: c.outcome.result },
                  },
                ]
              : [],
          )
        : [];
    return transitionSelectedStatement(
      sql`select t.id, t.state, d.duration_ms from task_instances t
        join unnest(${intArray(tries.map((c) => c.claimed.id))},
          ${intArray(
            tries.map((c) => c.claimed.tryNumber),
            'int',
          )},
          ${intArray(
            tries.map((c) => c.durationMs),
            'int',
          )}) as d(id, try_number, duration_ms)
          on t.id = d.id
        where t.id = any(${intArray(tries.map((c) => c.claimed.id))})
          and t.try_number = d.try_number and t.worker_id = ${this.id}
        for update of t`,
      to,
      {
        actor: this.id,
        reason,
        from,
        set: [sql`end_date = ${now}`, sql`duration_ms = old.duration_ms`],
        ...(results.length > 0 && {
          alsoCtes: sql`stored as (
            insert into xcoms (task_instance_id, dag_run_id, task_id, map_index, key, value)
            select r.id, r.run, r.task, r.map, 'return_value', r.value -> 'v'
            from jsonb_to_recordset(${JSON.stringify(results)}::jsonb)
              as r(id bigint, run bigint, task text, map int, value jsonb)
            join changed c on c.id = r.id
            on conflict (task_instance_id, key) do update set value = excluded.value)`,
        }),
      },
    );
  }

  /** A try's outcome other than a plain success (branching, failure, reschedule, skip). */
  async #recordOutcome(tx: Tx, c: Completion, now: Date): Promise<StateChange[]> {
    const { claimed, outcome, version, durationMs } = c;
    const mine = sql`worker_id = ${this.id} and try_number = ${claimed.tryNumber}`;
    const ended = [sql`end_date = ${now}`, sql`duration_ms = ${durationMs}`];
    // This worker's running try ends in `to` (unless the try is no longer its own).
    const endTry = (to: TaskState, reason: string | undefined, set: SQL[] = ended) =>
      transitionTasks(tx, [claimed.id], to, {
        actor: this.id,
        reason,
        from: ['running'],
        where: mine,
        set,
      });
    let changes: StateChange[] = [];
    switch (outcome.kind) {
      case 'success':
        changes = await endTry('success', undefined);
        if (changes.length > 0 && outcome.result !== undefined) {
          await tx
            .insert(schema.xcoms)
            .values({
              taskInstanceId: claimed.id,
              dagRunId: claimed.runPk,
              taskId: claimed.taskId,
              mapIndex: claimed.mapIndex,
              key: 'return_value',
              value: outcome.result as never,
            })
            .onConflictDoUpdate({
              target: [schema.xcoms.taskInstanceId, schema.xcoms.key],
              set: { value: outcome.result as never },
            });
        }
        if (changes.length > 0 && outcome.skip.length > 0) {
          const ids = rowsOf<{ id: number }>(
            await tx.execute(sql`select id from task_instances where dag_run_id = ${claimed.runPk}
              and task_id in (${sql.join(
                outcome.skip.map((t) => sql`${t}`),
                sql`, `,
              )})`),
          ).map((r) => Number(r.id));
          changes.push(
            ...(await transitionTasks(tx, ids, 'skipped', {
              actor: this.id,
              reason: `skipped by ${outcome.skippedBy}`,
              from: ['none', 'scheduled'],
              set: [sql`end_date = ${now}`],
            })),
          );
        }
        break;
      case 'failure': {
        const task = version?.tasks.get(claimed.taskId);
        if (outcome.retryable && claimed.tryNumber <= claimed.maxRetries && task) {
          const delay = retryDelay(
            task,
            claimed.tryNumber,
            `${claimed.dagId}/${claimed.runId}/${claimed.taskId}`,
          );
          changes = await endTry('up_for_retry', outcome.reason, [
            ...ended,
            sql`next_attempt_at = ${new Date(now.getTime() + delay)}`,
          ]);
        } else {
          changes = await endTry('failed', outcome.reason);
        }
        break;
      }
      case 'reschedule':
        // Not a new try: the next claim continues this one (see #claimIn).
        changes = await endTry(
          'up_for_reschedule',
          `rescheduled until ${outcome.at.toISOString()}`,
          [
            ...ended,
            sql`next_attempt_at = ${outcome.at}`,
            sql`next_kwargs = ${JSON.stringify(outcome.state)}::jsonb`,
            sql`reschedule_count = reschedule_count + 1`,
            sql`rescheduled = true`,
          ],
        );
        // Schedulers end their sleep when this attempt is due (not later than their loop).
        if (changes.length > 0) {
          const dueIn = Math.max(0, outcome.at.getTime() - now.getTime());
          await tx.execute(sql`select pg_notify(${CHANNELS.scheduler}, ${`due:${dueIn}`})`);
        }
        break;
      case 'skipped':
        changes = await endTry('skipped', outcome.reason);
        break;
      case 'superseded':
        break;
      default:
        assertNever(outcome, 'outcome');
    }
    return changes;
  }

  /**
   * After recording a try without holding its run: advance the run now if it is free, and claim
   * what that queued while this worker has room; if another completion holds the run, wake the
   * scheduler for it, so a decision that holder did not see is made promptly.
   */
  async #advanceAfterCommit(runPk: number): Promise<void> {
    let reserved = 0;
    try {
      const out = await this.#r.database.db.transaction(async (tx) => {
        const [got] = rowsOf<RunRow>(
          await tx.execute(
            sql`select ${RUN_ROW_COLUMNS} from dag_runs where id = ${runPk} for update skip locked`,
          ),
        );
        if (!got) {
          await tx.execute(sql`select pg_notify(${CHANNELS.scheduler}, ${`run:${runPk}`})`);
          return null;
        }
        // The worker notifies other workers itself, only for what it does not claim here.
        const advanced = await advanceRun(tx, this.#versions, runPk, this.id, this.#r.clock.now(), {
          locked: true,
          lockedRow: got,
          touch: false,
          notifyQueued: false,
        });
        const room = Math.min(
          advanced.queued,
          this.#accepting ? this.#concurrency - this.#inFlight.size - this.#reserved : 0,
        );
        let handOff: Claimed[] = [];
        if (room > 0) {
          this.#reserved += room;
          reserved = room;
          handOff = await this.#claimIn(tx, room);
        }
        if (advanced.queued > handOff.length)
          await tx.execute(sql`select pg_notify(${CHANNELS.taskQueued}, '')`);
        return { changes: advanced.changes, handOff };
      });
      if (!out) return;
      if (out.changes.length > 0) this.#r.events.emit('stateChanges', out.changes);
      for (const next of out.handOff) this.#launch(next);
    } catch (error) {
      // The scheduler advances every running run on its own pass; nothing is lost.
      this.#r.logger.warn({ err: error, runPk }, 'could not advance the run after a completion');
    } finally {
      this.#reserved -= reserved;
    }
  }

  /** Hands a running try back to the queue for adoption (same try). True if it was ours to release. */
  async #release(claimed: Claimed): Promise<boolean> {
    try {
      const changes = await this.#r.database.db.transaction(async (tx) => {
        await tx.execute(sql`select id from dag_runs where id = ${claimed.runPk} for update`);
        const released = await transitionTasks(tx, [claimed.id], 'queued', {
          actor: this.id,
          reason:
            'released for adoption: the worker is shutting down; the try continues on another worker',
          from: ['running'],
          where: sql`worker_id = ${this.id} and try_number = ${claimed.tryNumber}`,
          set: [
            sql`resume_try = true`,
            sql`worker_id = null`,
            sql`queued_at = ${this.#r.clock.now()}`,
          ],
        });
        if (released.length > 0)
          await tx.execute(sql`select pg_notify(${CHANNELS.taskQueued}, '')`);
        return released;
      });
      if (changes.length > 0) this.#r.events.emit('stateChanges', changes);
      return changes.length > 0;
    } catch (error) {
      this.#r.logger.warn(
        { err: error, taskInstance: claimed.id },
        'could not hand the try over; stopping it',
      );
      return false;
    }
  }

  /** Keeps our running task instances alive and aborts those someone else changed. */
  async #heartbeat(): Promise<void> {
    const ids = [...this.#inFlight.keys()];
    try {
      await heartbeatProcess(this.#r, this.id);
      if (ids.length === 0) return;
      const alive = new Set(
        rowsOf<{ id: number }>(
          await this.#r.database.db.execute(sql`update task_instances set heartbeat_at = ${this.#r.clock.now()}
            where id in (${sql.join(
              ids.map((id) => sql`${id}`),
              sql`, `,
            )}) and worker_id = ${this.id} and state = 'running'
            returning id`),
        ).map((r) => Number(r.id)),
      );
      for (const id of ids) {
        if (!alive.has(id)) this.#inFlight.get(id)?.abort.abort(new Superseded(SUPERSEDED));
      }
    } catch (error) {
      this.#r.logger.warn({ err: error }, 'heartbeat failed');
    }
  }
}

const logKey = (taskInstanceId: number, tryNumber: number) => `${taskInstanceId}/${tryNumber}`;

function classifyFailure(error: unknown): Outcome {
  if (error instanceof Superseded) return { kind: 'superseded', reason: error.message };
  if (error instanceof Rescheduled) return { kind: 'reschedule', at: error.at, state: error.state };
  if (error instanceof TaskSkipped) return { kind: 'skipped', reason: error.message };
  if (error instanceof TimedOut) return { kind: 'failure', reason: error.message, retryable: true };
  if (error instanceof ReleasedForAdoption) return { kind: 'superseded', reason: error.message };
  if (error instanceof ShuttingDown)
    return { kind: 'failure', reason: error.message, retryable: true };
  if (error instanceof BranchResultError)
    return { kind: 'failure', reason: error.message, retryable: false };
  if (error instanceof TaskFailure)
    return { kind: 'failure', reason: error.message, retryable: error.retryable };
  const nonRetryable =
    typeof error === 'object' &&
    error !== null &&
    (error as { nonRetryable?: unknown }).nonRetryable === true;
  const message = error instanceof Error ? error.message : String(error);
  return { kind: 'failure', reason: message, retryable: !nonRetryable };
}
