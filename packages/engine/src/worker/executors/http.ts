/**
 * HTTP tasks: one request; a status outside `expectStatus` (default 2xx) fails the task. The
 * request is built like a sensor's or an HTTP job's (http-request.ts): templates, XCom pulls, and
 * header secrets from the worker's environment ("Bearer ${API_TOKEN}"), masked in logs and errors.
 */
import { httpConfigSchema } from '@updraft/core/dag';
import { describeTarget, type Env, maskSecrets, prepareRequest, send } from './http-request.ts';
import { type Executor, TaskFailure } from './types.ts';
import { stringsIn, xcomTemplateContext } from './xcom-template.ts';

export function createHttpExecutor(deps: { env: Env }): Executor {
  return async (ctx) => {
    const config = httpConfigSchema.parse(ctx.task.config);
    // {{ xcom.<task>.<field> }} may name another task's result (see xcom-template.ts).
    const context = await xcomTemplateContext(
      ctx,
      stringsIn([config.url, config.headers ?? {}, config.body ?? null]),
    );
    const req = prepareRequest(config, context, deps.env);
    const answer = await send(req, ctx.signal, ctx.log);
    const ok = config.expectStatus
      ? config.expectStatus.includes(answer.status)
      : answer.status >= 200 && answer.status < 300;
    if (!ok) {
      throw new TaskFailure(
        `${describeTarget(req)} answered ${answer.status}: ${maskSecrets(answer.text.slice(0, 500), req.secrets)}`,
      );
    }
    if (config.responseAs === 'none' || answer.text.length === 0) return {};
    if (config.responseAs === 'text') return { result: answer.text };
    if (answer.json === undefined) {
      throw new TaskFailure(
        `${describeTarget(req)} answered ${answer.status} with a body that is not JSON (set responseAs: "text")`,
      );
    }
    return { result: answer.json };
  };
}
