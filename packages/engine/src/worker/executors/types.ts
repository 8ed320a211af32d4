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
}

export type Executor = (ctx: ExecutionContext) => Promise<ExecutionResult>;

/** A failure the task chose: `retryable: false` skips remaining retries. */
export class TaskFailure extends Error {
  readonly retryable: boolean;
  constructor(message: string, opts: { retryable?: boolean } = {}) {
    super(message);
    this.retryable = opts.retryable ?? true;
  }
}
