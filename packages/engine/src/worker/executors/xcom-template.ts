/**
 * `{{ xcom.<task_id> }}` and `{{ xcom.<task_id>.<field>… }}` in templated fields (shell command and
 * env, HTTP url/headers/body, sensors, HTTP jobs): the result (return_value XCom) of another task
 * of the run. Only the tasks a field names are read; a missing result or field fails the task with
 * a message naming both, without retrying (a retry would not make it appear).
 */
import { renderTemplates, type TemplateContext, TemplateError } from '@updraft/core/template';
import { type ExecutionContext, TaskFailure } from './types.ts';

const XCOM_REFERENCE = /\{\{\s*xcom\.([A-Za-z0-9_-]+)((?:\.[A-Za-z0-9_-]+)*)\s*\}\}/g;

/** Every string inside a JSON-like value. */
export function stringsIn(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) stringsIn(v, out);
  else if (value && typeof value === 'object')
    for (const v of Object.values(value)) stringsIn(v, out);
  return out;
}

/** The run's template names plus `xcom`, holding the results the given texts refer to. */
export async function xcomTemplateContext(
  ctx: Pick<ExecutionContext, 'template' | 'pullXcom'>,
  texts: readonly string[],
): Promise<TemplateContext> {
  const refs: { taskId: string; fields: string[]; text: string }[] = [];
  for (const text of texts) {
    for (const m of text.matchAll(XCOM_REFERENCE)) {
      refs.push({ taskId: m[1]!, fields: m[2] ? m[2].slice(1).split('.') : [], text: m[0] });
    }
  }
  if (refs.length === 0) return ctx.template;
  const xcom: Record<string, unknown> = {};
  for (const ref of refs) {
    if (!(ref.taskId in xcom)) {
      const value = await ctx.pullXcom(ref.taskId, 'return_value');
      if (value === undefined) {
        throw new TaskFailure(
          `template ${ref.text}: task "${ref.taskId}" has no result (XCom "return_value") in this run`,
          { retryable: false },
        );
      }
      xcom[ref.taskId] = value;
    }
    let value = xcom[ref.taskId];
    const seen: string[] = [];
    for (const field of ref.fields) {
      if (value === null || typeof value !== 'object' || !(field in value)) {
        const where = seen.length > 0 ? ` at "${seen.join('.')}"` : '';
        throw new TaskFailure(
          `template ${ref.text}: the result of task "${ref.taskId}" has no field "${field}"${where}`,
          { retryable: false },
        );
      }
      seen.push(field);
      value = (value as Record<string, unknown>)[field];
    }
  }
  return { ...ctx.template, xcom };
}

/** Renders every string of `value` with the run's names and the XComs they refer to. */
export async function renderWithXcom<T>(
  ctx: Pick<ExecutionContext, 'template' | 'pullXcom'>,
  value: T,
  extra: TemplateContext = {},
): Promise<T> {
  const context = { ...(await xcomTemplateContext(ctx, stringsIn(value))), ...extra };
  return renderOrFail(value, context);
}

/** renderTemplates, with a bad template failing the task (no retry) instead of crashing it. */
export function renderOrFail<T>(value: T, context: TemplateContext): T {
  try {
    return renderTemplates(value, context);
  } catch (error) {
    if (error instanceof TemplateError) throw new TaskFailure(error.message, { retryable: false });
    throw error;
  }
}
