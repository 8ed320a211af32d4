/**
 * Callbacks in the SDK: `onSuccess`, `onFailure`, `onRetry`, `onSkipped` on tasks (and in a DAG's
 * `defaults`), `onSuccess` / `onFailure` on a DAG, and `deadline: { after, callback }`. A callback is
 * a function in the DAG file or `webhook({ url, … })`. Functions are kept on the Dag object under a
 * stable key the spec stores, so a worker that loads the same file finds them again.
 */
import {
  CALLBACK_HTTP_METHODS,
  type CallbackSpec,
  type DagCallbacks,
  type DeadlineReference,
  type DeadlineSpec,
  type TaskCallbacks,
} from '@updraft/core/callbacks';
import { type DurationInput, parseDuration } from '@updraft/core/duration';

/** What a callback receives. Never contains secrets (no connections, no environment). */
export interface CallbackContext {
  /** success | failure | retry | skipped | deadline_missed */
  event: string;
  dagId: string;
  runId: string;
  /** Null for a run-level callback or a deadline alert. */
  taskId: string | null;
  mapIndex: number | null;
  tryNumber: number | null;
  /** The state that caused the callback (a task's or the run's). */
  state: string;
  reason: string | null;
  logicalDate: string;
  dataIntervalStart: string;
  dataIntervalEnd: string;
  /** The DAG's params merged with the run's conf. */
  params: Record<string, unknown>;
  /** For deadline alerts: when the run should have finished. */
  deadlineAt?: string;
}

export type CallbackFunction = (ctx: CallbackContext) => unknown;

export interface WebhookOptions {
  /** "${VAR}" is replaced by the worker's environment variable VAR when the callback runs. */
  url: string;
  method?: (typeof CALLBACK_HTTP_METHODS)[number];
  /** Header values may use "${VAR}" too (for tokens); the body is the context as JSON. */
  headers?: Record<string, string>;
  timeout?: DurationInput;
}

const WEBHOOK_BRAND = Symbol.for('updraft.webhook');

export interface Webhook {
  readonly [WEBHOOK_BRAND]: true;
  readonly options: WebhookOptions;
}

/** An HTTP callback: the context is sent as JSON (POST by default). */
export function webhook(options: WebhookOptions): Webhook {
  return { [WEBHOOK_BRAND]: true, options };
}

export type CallbackInput = CallbackFunction | Webhook | readonly (CallbackFunction | Webhook)[];

export interface DeadlineOptions {
  /** How long after the reference time the run should have finished ("30m"). */
  after: DurationInput;
  /** data_interval_end (default), logical_date or queued_at (when the run was created). */
  reference?: DeadlineReference;
  callback: CallbackInput;
}

interface Issue {
  taskId: string | undefined;
  field: string;
  message: string;
}

const REGISTRY = Symbol.for('updraft.callbacks');

type Registry = Map<string, CallbackFunction>;

function registry(owner: object): Registry {
  const o = owner as { [REGISTRY]?: Registry };
  if (!o[REGISTRY]) {
    Object.defineProperty(o, REGISTRY, { value: new Map(), enumerable: false });
  }
  return o[REGISTRY]!;
}

function isWebhook(value: unknown): value is Webhook {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[WEBHOOK_BRAND] === true
  );
}

/** Also accepts the YAML shape `{ http: { url, method, headers, timeout } }`. */
function isYamlHttp(value: unknown): value is { http: WebhookOptions } {
  return typeof value === 'object' && value !== null && 'http' in value;
}

function specsOf(
  owner: object,
  key: string,
  input: unknown,
  taskId: string | undefined,
  field: string,
  issues: Issue[],
): CallbackSpec[] | undefined {
  if (input === undefined || input === null) return undefined;
  const items = Array.isArray(input) ? input : [input];
  const out: CallbackSpec[] = [];
  items.forEach((item, i) => {
    const ref = `${key}:${i}`;
    if (typeof item === 'function') {
      registry(owner).set(ref, item as CallbackFunction);
      out.push({ kind: 'function', ref });
      return;
    }
    const options = isWebhook(item)
      ? item.options
      : isYamlHttp(item)
        ? item.http
        : (undefined as WebhookOptions | undefined);
    if (!options || typeof options.url !== 'string' || options.url.length === 0) {
      issues.push({
        taskId,
        field,
        message: 'a callback must be a function or webhook({ url }) ({ http: { url } } in YAML)',
      });
      return;
    }
    if (options.method && !CALLBACK_HTTP_METHODS.includes(options.method)) {
      issues.push({
        taskId,
        field: `${field}.method`,
        message: `must be one of ${CALLBACK_HTTP_METHODS.join(', ')}`,
      });
      return;
    }
    let timeoutMs: number | undefined;
    if (options.timeout !== undefined) {
      try {
        timeoutMs = parseDuration(options.timeout);
      } catch (error) {
        issues.push({ taskId, field: `${field}.timeout`, message: (error as Error).message });
      }
    }
    out.push({
      kind: 'http',
      method: options.method ?? 'POST',
      url: options.url,
      ...(options.headers && { headers: options.headers }),
      ...(timeoutMs && { timeoutMs }),
    });
  });
  return out.length > 0 ? out : undefined;
}

const TASK_EVENTS = ['onSuccess', 'onFailure', 'onRetry', 'onSkipped'] as const;

/** A task's callbacks for its spec (its own options already merged over the DAG's defaults). */
export function taskCallbackSpecs(
  owner: object,
  taskId: string,
  options: Partial<Record<(typeof TASK_EVENTS)[number], unknown>>,
  issues: Issue[],
): TaskCallbacks {
  const out: TaskCallbacks = {};
  for (const event of TASK_EVENTS) {
    const specs = specsOf(owner, `task:${taskId}:${event}`, options[event], taskId, event, issues);
    if (specs) out[event] = specs;
  }
  return out;
}

/** A DAG's run-level callbacks for its spec. */
export function dagCallbackSpecs(
  owner: object,
  options: { onSuccess?: unknown; onFailure?: unknown },
  issues: Issue[],
): DagCallbacks {
  const out: DagCallbacks = {};
  for (const event of ['onSuccess', 'onFailure'] as const) {
    const specs = specsOf(owner, `dag:${event}`, options[event], undefined, event, issues);
    if (specs) out[event] = specs;
  }
  return out;
}

/** A DAG's deadline alert for its spec. */
export function deadlineSpec(
  owner: object,
  deadline: DeadlineOptions | undefined,
  issues: Issue[],
): DeadlineSpec | null {
  if (!deadline) return null;
  let afterMs = 0;
  try {
    afterMs = parseDuration(deadline.after);
  } catch (error) {
    issues.push({ taskId: undefined, field: 'deadline.after', message: (error as Error).message });
  }
  const callbacks = specsOf(
    owner,
    'dag:deadline',
    deadline.callback,
    undefined,
    'deadline.callback',
    issues,
  );
  if (!callbacks) {
    issues.push({ taskId: undefined, field: 'deadline.callback', message: 'is required' });
    return null;
  }
  return { reference: deadline.reference ?? 'data_interval_end', afterMs, callbacks };
}

/**
 * The function a spec's callback ref names, on a Dag loaded from its file (the worker's side).
 * `build` makes the Dag register its callbacks (toSpec) if it has not yet.
 */
export function callbackFunction(
  dag: object & { toSpec(): unknown },
  ref: string,
): CallbackFunction | undefined {
  let found = (dag as { [REGISTRY]?: Registry })[REGISTRY]?.get(ref);
  if (!found) {
    dag.toSpec();
    found = (dag as { [REGISTRY]?: Registry })[REGISTRY]?.get(ref);
  }
  return found;
}
