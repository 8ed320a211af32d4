/** JSON shapes of the API, Airflow-style snake_case. Only these fields ever leave the server. */
import { describeSchedule, parseSchedule } from '@updraft/core/schedule';
import type { schema } from '@updraft/db';
import { maskSensitiveFields } from '@updraft/engine';
import { getTableColumns, sql } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';

/**
 * A row whose timestamps may still be PostgreSQL's text, as the busiest listings read them
 * (listingRows).
 */
type TextTimestamps<T> = {
  [K in keyof T]: T[K] extends Date
    ? Date | string
    : T[K] extends Date | null
      ? Date | string | null
      : T[K];
};

type Dag = typeof schema.dags.$inferSelect;
type Run = TextTimestamps<typeof schema.dagRuns.$inferSelect>;
type TaskInstance = TextTimestamps<typeof schema.taskInstances.$inferSelect>;
type ImportError = typeof schema.importErrors.$inferSelect;
type Event = typeof schema.events.$inferSelect;

/** A timestamptz as PostgreSQL writes it in UTC with DateStyle ISO: 2026-11-24 17:18:20.123456+00. */
const PG_UTC_TIMESTAMP = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?\+00$/;

/**
 * ISO 8601 in UTC with milliseconds, as Date.toISOString writes it. PostgreSQL's text in UTC is
 * rewritten (microseconds cut to milliseconds, as a Date parsed from it holds them); any other
 * text (another session time zone or DateStyle) is parsed as Drizzle parses it.
 */
export function iso(d: Date | string | null | undefined): string | null {
  if (d == null) return null;
  if (typeof d !== 'string') return d.toISOString();
  const m = PG_UTC_TIMESTAMP.exec(d);
  if (!m) return new Date(d).toISOString();
  return `${m[1]}T${m[2]}.${(m[3] ?? '').padEnd(3, '0').slice(0, 3)}Z`;
}

/**
 * A table's rows for the busiest listings, read without Drizzle's result mapping. That mapping
 * checked each field of each row against the column classes, and parsed every timestamp into a
 * Date that iso then formatted back: together most of the CPU of listing 100 runs (bench W5).
 * `columns` selects every column under its property name; `decode` applies each column's own
 * decoding, except to timestamps, which stay PostgreSQL's text for iso.
 */
export function listingRows<T extends PgTable>(table: T) {
  const columns = Object.entries(getTableColumns(table));
  const decoded = columns.filter(([, column]) => column.columnType !== 'PgTimestamp');
  return {
    columns: sql.raw(columns.map(([key, column]) => `"${column.name}" as "${key}"`).join(', ')),
    decode(rows: Record<string, unknown>[]): TextTimestamps<T['$inferSelect']>[] {
      for (const row of rows)
        for (const [key, column] of decoded) {
          const value = row[key];
          if (value !== null && value !== undefined) row[key] = column.mapFromDriverValue(value);
        }
      return rows as TextTimestamps<T['$inferSelect']>[];
    },
  };
}

export function dagJson(d: Dag) {
  let schedule_description: string;
  try {
    // A timetable's summary, when one decides (written by the processor, which has the plugins).
    schedule_description =
      d.scheduleSummary ?? describeSchedule(parseSchedule(d.schedule, d.timezone));
  } catch {
    schedule_description = 'invalid schedule';
  }
  return {
    dag_id: d.dagId,
    team: d.teamId,
    description: d.description,
    tags: d.tags,
    is_paused: d.isPaused,
    is_active: d.isActive,
    fileloc: d.fileloc,
    schedule: d.schedule,
    schedule_description,
    timezone: d.timezone,
    max_active_runs: d.maxActiveRuns,
    max_active_tasks: d.maxActiveTasks,
    latest_version_id: d.latestVersionId,
    next_dagrun: iso(d.nextDagrun),
    next_dagrun_data_interval_start: iso(d.nextDagrunDataIntervalStart),
    next_dagrun_data_interval_end: iso(d.nextDagrunDataIntervalEnd),
    next_dagrun_create_after: iso(d.nextDagrunCreateAfter),
    last_parsed_at: iso(d.lastParsedAt),
  };
}

export function runJson(r: Run) {
  return {
    dag_id: r.dagId,
    dag_run_id: r.runId,
    dag_version_id: r.dagVersionId,
    run_type: r.runType,
    state: r.state,
    logical_date: iso(r.logicalDate),
    data_interval_start: iso(r.dataIntervalStart),
    data_interval_end: iso(r.dataIntervalEnd),
    // A secret passed in a run's conf (an api_token) is not shown back (as DAG params are not).
    conf: maskSensitiveFields(r.conf),
    triggered_by: r.triggeredBy,
    note: r.note,
    queued_at: iso(r.queuedAt),
    start_date: iso(r.startDate),
    end_date: iso(r.endDate),
    /** Deadline alert (callbacks.md): when the run should have finished, and when that was missed. */
    deadline_at: iso(r.deadlineAt),
    deadline_missed_at: iso(r.deadlineMissedAt),
  };
}

export function taskInstanceJson(t: TaskInstance) {
  return {
    dag_id: t.dagId,
    dag_run_id: t.runId,
    task_id: t.taskId,
    map_index: t.mapIndex,
    state: t.state,
    state_reason: t.stateReason,
    try_number: t.tryNumber,
    max_tries: t.maxRetries + 1,
    operator: t.operator,
    pool: t.pool,
    pool_slots: t.poolSlots,
    priority_weight: t.priorityWeight,
    queued_when: iso(t.queuedAt),
    start_date: iso(t.startDate),
    end_date: iso(t.endDate),
    duration_ms: t.durationMs,
    hostname: t.workerId,
    next_attempt_at: iso(t.nextAttemptAt),
  };
}

export function importErrorJson(e: ImportError) {
  return {
    import_error_id: e.id,
    filename: e.fileloc,
    stack_trace: e.message,
    timestamp: iso(e.updatedAt),
  };
}

export function eventJson(e: Event) {
  return {
    event_id: e.id,
    when: iso(e.at),
    entity: e.entity,
    dag_id: e.dagId,
    dag_run_id: e.runId,
    task_id: e.taskId,
    map_index: e.mapIndex,
    try_number: e.tryNumber,
    from_state: e.fromState,
    to_state: e.toState,
    actor: e.actor,
    reason: e.reason,
  };
}
