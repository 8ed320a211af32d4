/** HTTP tasks: one request; a status outside `expectStatus` (default 2xx) fails the task. */
import { httpConfigSchema } from '@updraft/core/dag';
import { maskSecrets, sensitiveValues } from '../secrets.ts';
import { type Executor, TaskFailure } from './types.ts';
import { renderWithXcom } from './xcom-template.ts';

export const runHttpTask: Executor = async (ctx) => {
  // {{ xcom.<task>.<field> }} may name another task's result (see xcom-template.ts).
  const config = await renderWithXcom(ctx, httpConfigSchema.parse(ctx.task.config));
  const headers: Record<string, string> = { ...(config.headers ?? {}) };
  const secrets = sensitiveValues(headers);
  let body: string | undefined;
  if (config.body !== undefined) {
    body = typeof config.body === 'string' ? config.body : JSON.stringify(config.body);
    if (
      typeof config.body !== 'string' &&
      !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')
    ) {
      headers['content-type'] = 'application/json';
    }
  }
  const started = Date.now();
  let response: Response;
  try {
    response = await fetch(config.url, {
      method: config.method,
      headers,
      body: body ?? null,
      signal: ctx.signal,
    });
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    throw new TaskFailure(
      `${config.method} ${maskSecrets(config.url, secrets)} failed: ${(error as Error).message}`,
    );
  }
  const text = await response.text();
  ctx.log(
    `${config.method} ${maskSecrets(config.url, secrets)} → ${response.status} (${Date.now() - started} ms)\n`,
  );
  const ok = config.expectStatus ? config.expectStatus.includes(response.status) : response.ok;
  if (!ok) {
    throw new TaskFailure(
      `${config.method} ${maskSecrets(config.url, secrets)} answered ${response.status}: ${maskSecrets(text.slice(0, 500), secrets)}`,
    );
  }
  if (config.responseAs === 'none' || text.length === 0) return {};
  if (config.responseAs === 'text') return { result: text };
  try {
    return { result: JSON.parse(text) };
  } catch {
    throw new TaskFailure(
      `${config.method} ${config.url} answered ${response.status} with a body that is not JSON (set responseAs: "text")`,
    );
  }
};
