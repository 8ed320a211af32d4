import type { TaskSpec } from '@updraft/core/dag';
import type { TemplateContext } from '@updraft/core/template';
import type { LoadedVersion } from '../../versions.ts';

export interface RunInfo {
  runPk: number;
  dagId: string;
  runId: string;
  logicalDate: Date;
  dataIntervalStart: Date;
  dataIntervalEnd: Date;
  conf: Record<string, unknown>;
}

export interface ExecutionContext {
  run: RunInfo;
  taskInstanceId: number;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  /** True when this worker adopted the try from a lost worker: reattach to its work, do not redo it. */
  resumed: boolean;
  /**
   * State carried from the previous attempt of this try (what the executor returned with
   * `reschedule`, Airflow's next_kwargs); null on a try's first attempt.
   */
  carried: Record<string, unknown> | null;
  /** How many times this try was rescheduled so far (0 on its first attempt). */
  rescheduleCount: number;
  /** Start of this try's first attempt (kept across reschedules). */
  firstStartedAt: Date;
  /** Start of the first attempt of the first try since the last clear (sensor timeouts count from here). */
  firstTryStartedAt: Date;
  task: TaskSpec;
  version: LoadedVersion;
  /** The names templated fields may use ({{ ds }}, {{ params.x }}, …). */
  template: TemplateContext;
  signal: AbortSignal;
  log(text: string): void;
  /** Pod-based executors also hand the container's own output here (without their status lines). */
  onContainerLog?: (text: string) => void;
  pullXcom(taskId: string, key: string): Promise<unknown>;
  pushXcom(key: string, value: unknown): Promise<void>;
}

export interface ExecutionResult {
  /** The task's result, stored as its return_value XCom when not undefined. */
  result?: unknown;
  /**
   * Ends this attempt without finishing the try (Airflow's up_for_reschedule): the task instance
   * frees its worker and pool slots and runs again at `at`, continuing the same try (the try number
   * stays) with `state` handed back as ctx.carried.
   */
  reschedule?: RescheduleRequest;
}

export interface RescheduleRequest {
  at: Date;
  state?: Record<string, unknown>;
}

export type Executor = (ctx: ExecutionContext) => Promise<ExecutionResult>;

/** The task chose to end as skipped (Airflow's AirflowSkipException), e.g. a soft-failing sensor. */
export class TaskSkipped extends Error {}

/** A failure the task chose: `retryable: false` skips remaining retries. */
export class TaskFailure extends Error {
  readonly retryable: boolean;
  constructor(message: string, opts: { retryable?: boolean } = {}) {
    super(message);
    this.retryable = opts.retryable ?? true;
  }
}
