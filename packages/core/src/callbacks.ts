/**
 * Callbacks and deadline alerts as stored in a DAG spec (JSON). A callback is either a function in
 * the DAG file (referenced by a stable key; the worker loads the file to run it) or an HTTP webhook
 * (usable from YAML) whose url and header values may name environment variables as "${VAR}".
 */
import { z } from 'zod';

export const CALLBACK_HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export const functionCallbackSchema = z.strictObject({
  kind: z.literal('function'),
  /** Key of the function in the DAG object, e.g. "task:load:onFailure:0" or "dag:onSuccess:0". */
  ref: z.string().min(1),
});

export const httpCallbackSchema = z.strictObject({
  kind: z.literal('http'),
  method: z.enum(CALLBACK_HTTP_METHODS).default('POST'),
  /** May contain "${VAR}" placeholders, filled from the worker's environment when called. */
  url: z.string().min(1, 'url must not be empty'),
  headers: z.record(z.string(), z.string()).optional(),
  timeoutMs: z.number().int().positive().optional(),
});

export const callbackSpecSchema = z.discriminatedUnion('kind', [
  functionCallbackSchema,
  httpCallbackSchema,
]);
export type CallbackSpec = z.infer<typeof callbackSpecSchema>;
export type HttpCallbackSpec = z.infer<typeof httpCallbackSchema>;

const list = z.array(callbackSpecSchema).optional();

/** A task's callbacks: each fires for the task's own outcome (see docs/concepts/callbacks.md). */
export const taskCallbacksSchema = z.strictObject({
  onSuccess: list,
  onFailure: list,
  onRetry: list,
  onSkipped: list,
});
export type TaskCallbacks = z.infer<typeof taskCallbacksSchema>;

/** A DAG's run-level callbacks. */
export const dagCallbacksSchema = z.strictObject({
  onSuccess: list,
  onFailure: list,
});
export type DagCallbacks = z.infer<typeof dagCallbacksSchema>;

export const DEADLINE_REFERENCES = ['data_interval_end', 'logical_date', 'queued_at'] as const;
export type DeadlineReference = (typeof DEADLINE_REFERENCES)[number];

/** Deadline alert: the run should have finished `afterMs` after its reference time. */
export const deadlineSchema = z.strictObject({
  reference: z.enum(DEADLINE_REFERENCES).default('data_interval_end'),
  afterMs: z.number().int().min(0),
  callbacks: z.array(callbackSpecSchema).min(1, 'a deadline needs a callback'),
});
export type DeadlineSpec = z.infer<typeof deadlineSchema>;

/** The time by which a run should have finished, or null without a deadline. */
export function deadlineFor(
  deadline: DeadlineSpec | null | undefined,
  run: { dataIntervalEnd: Date; logicalDate: Date; queuedAt: Date },
): Date | null {
  if (!deadline) return null;
  const base =
    deadline.reference === 'logical_date'
      ? run.logicalDate
      : deadline.reference === 'queued_at'
        ? run.queuedAt
        : run.dataIntervalEnd;
  return new Date(base.getTime() + deadline.afterMs);
}

/**
 * Fills "${VAR}" placeholders from `env`. A missing variable is an error naming it (never its
 * value). Returns the filled text and the values used, so callers can redact them from messages.
 */
export function fillEnvTemplate(
  text: string,
  env: Readonly<Record<string, string | undefined>>,
): { text: string; secrets: string[] } {
  const secrets: string[] = [];
  const filled = text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const value = env[name];
    if (value === undefined) throw new Error(`environment variable ${name} is not set`);
    if (value.length > 0) secrets.push(value);
    return value;
  });
  return { text: filled, secrets };
}

/** Replaces every occurrence of the given values with "***". */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (s.length >= 3) out = out.split(s).join('***');
  }
  return out;
}
