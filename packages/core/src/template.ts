/**
 * Templated fields ("{{ ds }}", "{{ params.table }}", "{{ run_id }}") rendered with a run's
 * context. Deliberately small: dotted lookups only, no code. An unknown name is an error, not an
 * empty string, so a typo fails the task with a message instead of running the wrong command.
 */

export type TemplateContext = Record<string, unknown>;

const EXPRESSION = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\s*\}\}/g;

export class TemplateError extends Error {}

export function renderTemplate(text: string, context: TemplateContext): string {
  return text.replace(EXPRESSION, (_match, path: string) => {
    let value: unknown = context;
    for (const part of path.split('.')) {
      if (value === null || typeof value !== 'object' || !(part in value)) {
        throw new TemplateError(`template "{{ ${path} }}" refers to an unknown name "${part}"`);
      }
      value = (value as Record<string, unknown>)[part];
    }
    if (value instanceof Date) return value.toISOString();
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}

/** Renders every string inside a JSON-like value. */
export function renderTemplates<T>(value: T, context: TemplateContext): T {
  if (typeof value === 'string') return renderTemplate(value, context) as T;
  if (Array.isArray(value)) return value.map((v) => renderTemplates(v, context)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        k,
        renderTemplates(v, context),
      ]),
    ) as T;
  }
  return value;
}

export interface RunTemplateFields {
  dagId: string;
  runId: string;
  taskId: string;
  tryNumber: number;
  logicalDate: Date;
  dataIntervalStart: Date;
  dataIntervalEnd: Date;
  params: Record<string, unknown>;
  conf: Record<string, unknown>;
}

/** The names available in templates, following Airflow's (ds, ts, run_id, data_interval_start…). */
export function templateContext(f: RunTemplateFields): TemplateContext {
  const iso = f.logicalDate.toISOString();
  const ds = iso.slice(0, 10);
  return {
    dag_id: f.dagId,
    run_id: f.runId,
    task_id: f.taskId,
    try_number: f.tryNumber,
    ds,
    ds_nodash: ds.replaceAll('-', ''),
    ts: iso,
    logical_date: iso,
    data_interval_start: f.dataIntervalStart.toISOString(),
    data_interval_end: f.dataIntervalEnd.toISOString(),
    params: { ...f.params, ...f.conf },
    conf: f.conf,
  };
}
