/**
 * HTTP jobs (App Engine style): one request starts an external job, then its status URL is polled
 * until a field says done or failed (see httpJobConfigSchema in @updraft/core/sensors).
 *
 * - The start request carries `Idempotency-Key: updraft-<hash of dag/run/task/map index/try>`. A
 *   start repeated within the same try (the worker was lost before it recorded the job, and the
 *   try was adopted by another worker) sends the same key, so a service that honours the header
 *   returns the job it already started instead of starting a second one. A retry is a new try
 *   and starts a new job with a new key.
 * - Waiting is done in reschedule mode by default: between polls the task instance is
 *   up_for_reschedule and holds no worker or pool slot; the start response (the job handle) is
 *   carried to the next attempt. Mode "poke" polls inside one attempt instead.
 * - The timeout counts from the first start of the try; a job that has not finished by then
 *   fails the try (retries start a new job).
 * - Header values may read secrets from the worker's environment ("Bearer ${API_TOKEN}"); they and
 *   any header named like a secret are masked in logs and error messages.
 */
import { createHash } from 'node:crypto';
import { formatDuration } from '@updraft/core/duration';
import { httpJobConfigSchema, jsonPath } from '@updraft/core/sensors';
import type { Clock } from '../../resources.ts';
import {
  describeTarget,
  type Env,
  type HttpAnswer,
  maskSecrets,
  type PreparedRequest,
  prepareRequest,
  send,
} from './http-request.ts';
import { parseTaskConfig, sleep } from './sensor.ts';
import { type ExecutionContext, type Executor, TaskFailure } from './types.ts';
import { stringsIn, xcomTemplateContext } from './xcom-template.ts';

export interface HttpJobDeps {
  clock: Clock;
  env: Env;
}

/** Stable per try: the same in every attempt and adoption of a try, different for a retry. */
export function idempotencyKey(
  ctx: Pick<ExecutionContext, 'taskId' | 'mapIndex' | 'tryNumber'> & {
    run: { dagId: string; runId: string };
  },
): string {
  const identity = [ctx.run.dagId, ctx.run.runId, ctx.taskId, ctx.mapIndex, ctx.tryNumber].join(
    '/',
  );
  return `updraft-${createHash('sha256').update(identity).digest('hex').slice(0, 32)}`;
}

const START_ATTEMPTS = 3;

/**
 * Sends the start request, repeating it (same Idempotency-Key) after a network error, a timeout,
 * 429 or 5xx: the service may have started the job without the answer arriving.
 */
async function startWithRetries(req: PreparedRequest, ctx: ExecutionContext): Promise<HttpAnswer> {
  for (let attempt = 1; ; attempt++) {
    let answer: HttpAnswer | undefined;
    try {
      answer = await send(req, ctx.signal, ctx.log);
    } catch (error) {
      if (ctx.signal.aborted || attempt >= START_ATTEMPTS) throw error;
      ctx.log(`${(error as Error).message}; sending the start again with the same key\n`);
    }
    if (answer) {
      const transient = answer.status === 429 || answer.status >= 500;
      if (!transient || attempt >= START_ATTEMPTS) return answer;
      ctx.log(`start answered ${answer.status}; sending it again with the same key\n`);
    }
    await sleep(START_RETRY_DELAY_MS * 2 ** (attempt - 1), ctx.signal);
  }
}

/** First pause before the start request is sent again. */
export const START_RETRY_DELAY_MS = 500;

export function createHttpJobExecutor(deps: HttpJobDeps): Executor {
  return async (ctx) => {
    const config = parseTaskConfig(ctx, httpJobConfigSchema);
    const deadline = ctx.firstStartedAt.getTime() + config.timeoutMs;
    const context = await xcomTemplateContext(
      ctx,
      stringsIn([config.start, config.status.url, config.status.headers ?? {}]),
    );
    let job: unknown;
    if (ctx.carried && 'job' in ctx.carried) {
      job = ctx.carried.job;
    } else {
      const key = idempotencyKey(ctx);
      const req = prepareRequest(config.start, context, deps.env, { 'Idempotency-Key': key });
      const answer = await startWithRetries(req, ctx);
      if (answer.status < 200 || answer.status >= 300) {
        throw new TaskFailure(
          `starting the job: ${describeTarget(req)} answered ${answer.status}: ${maskSecrets(answer.text.slice(0, 500), req.secrets)}`,
        );
      }
      // The status request reads the job from the start's reply ({{ job.name }}): a reply that is
      // not JSON has no fields, and saying so beats a template error about an unknown name.
      const readsFields = stringsIn([config.status.url, config.status.headers ?? {}]).some((t) =>
        /\{\{\s*job\./.test(t),
      );
      if (answer.json === undefined && readsFields)
        throw new TaskFailure(
          `starting the job: ${describeTarget(req)} answered ${answer.status} with a body that is not JSON, but the status request reads fields of it ({{ job.… }}): ${maskSecrets(answer.text.slice(0, 200), req.secrets)}`,
        );
      job = answer.json ?? answer.text;
      ctx.log(`job started (Idempotency-Key: ${key})\n`);
    }
    for (let polls = Number(ctx.carried?.polls ?? 0) + 1; ; polls++) {
      const req = prepareRequest(
        {
          method: config.status.method,
          url: config.status.url,
          headers: config.status.headers ?? config.start.headers,
        },
        { ...context, job },
        deps.env,
      );
      let answer: HttpAnswer | undefined;
      try {
        answer = await send(req, ctx.signal, ctx.log);
      } catch (error) {
        if (ctx.signal.aborted) throw error;
        // An unreachable status endpoint is waited through; the timeout ends the wait.
        ctx.log(`poll ${polls}: ${(error as Error).message}\n`);
      }
      if (answer && answer.status >= 400 && answer.status < 500) {
        throw new TaskFailure(
          `polling the job: ${describeTarget(req)} answered ${answer.status}: ${maskSecrets(answer.text.slice(0, 500), req.secrets)}`,
        );
      }
      if (answer && answer.status >= 200 && answer.status < 300) {
        // A gateway's HTML page, say: no state will ever be read from it.
        if (answer.json === undefined && answer.text.trim().length > 0)
          throw new TaskFailure(
            `polling the job: ${describeTarget(req)} answered ${answer.status} with a body that is not JSON: ${maskSecrets(answer.text.slice(0, 200), req.secrets)}`,
          );
        const value = jsonPath(answer.json, config.status.field);
        const state = value === undefined || value === null ? '' : String(value).toLowerCase();
        const is = (list: string[]) => list.some((v) => v.toLowerCase() === state);
        if (state && is(config.status.done)) {
          ctx.log(`job ${state} after ${polls} poll(s)\n`);
          const result = config.status.resultField
            ? jsonPath(answer.json, config.status.resultField)
            : (answer.json ?? answer.text);
          return result === undefined ? {} : { result };
        }
        if (state && is(config.status.failed)) {
          const message = jsonPath(answer.json, config.status.errorField);
          throw new TaskFailure(
            `the job ${state}: ${
              message === undefined
                ? `(no "${config.status.errorField}" in the status response)`
                : maskSecrets(
                    typeof message === 'string' ? message : JSON.stringify(message),
                    req.secrets,
                  )
            }`,
          );
        }
        ctx.log(`poll ${polls}: ${config.status.field} is ${JSON.stringify(value ?? null)}\n`);
      }
      const now = deps.clock.now().getTime();
      if (now >= deadline) {
        throw new TaskFailure(
          `the job did not finish within ${formatDuration(config.timeoutMs)} of the try's first start (${polls} poll(s))`,
        );
      }
      const wait = Math.max(0, Math.min(config.pollIntervalMs, deadline - now));
      if (config.mode === 'reschedule') {
        return { reschedule: { at: new Date(now + wait), state: { job, polls } } };
      }
      await sleep(wait, ctx.signal);
    }
  };
}
