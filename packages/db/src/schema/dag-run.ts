import type { RunState, RunType } from '@updraft/core/state';
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  index,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { backfills } from './backfill.ts';
import { jsonb } from './columns.ts';
import { dags, dagVersions } from './dag.ts';

export const dagRuns = pgTable(
  'dag_runs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    dagId: text('dag_id')
      .notNull()
      .references(() => dags.dagId, { onDelete: 'cascade' }),
    runId: text('run_id').notNull(),
    dagVersionId: bigint('dag_version_id', { mode: 'number' })
      .notNull()
      .references(() => dagVersions.id),
    runType: text('run_type').$type<RunType>().notNull(),
    state: text('state').$type<RunState>().notNull(),
    logicalDate: timestamp('logical_date', { withTimezone: true }).notNull(),
    dataIntervalStart: timestamp('data_interval_start', { withTimezone: true }).notNull(),
    dataIntervalEnd: timestamp('data_interval_end', { withTimezone: true }).notNull(),
    conf: jsonb('conf').$type<Record<string, unknown>>().notNull().default({}),
    triggeredBy: text('triggered_by').notNull(),
    note: text('note'),
    /** The backfill that created or reprocesses this run; its runs count against its own limit. */
    backfillId: bigint('backfill_id', { mode: 'number' }).references(() => backfills.id, {
      onDelete: 'set null',
    }),
    /** Deadline alert: the run should have finished by then (data interval end + the DAG's deadline). */
    deadlineAt: timestamp('deadline_at', { withTimezone: true }),
    /** When the deadline was found missed and its callback requested; null while not missed. */
    deadlineMissedAt: timestamp('deadline_missed_at', { withTimezone: true }),
    queuedAt: timestamp('queued_at', { withTimezone: true }),
    startDate: timestamp('start_date', { withTimezone: true }),
    endDate: timestamp('end_date', { withTimezone: true }),
    lastSchedulingDecision: timestamp('last_scheduling_decision', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('dag_runs_dag_run_id_uq').on(t.dagId, t.runId),
    // Two schedulers can never create the same scheduled interval twice.
    uniqueIndex('dag_runs_dag_logical_date_uq')
      .on(t.dagId, t.logicalDate)
      .where(sql`${t.runType} in ('scheduled', 'backfill')`),
    index('dag_runs_active_idx')
      .on(t.lastSchedulingDecision)
      .where(sql`${t.state} in ('queued', 'running')`),
    index('dag_runs_dag_logical_date_idx').on(t.dagId, t.logicalDate),
    index('dag_runs_backfill_idx').on(t.backfillId).where(sql`${t.backfillId} is not null`),
    index('dag_runs_deadline_idx')
      .on(t.deadlineAt)
      .where(
        sql`${t.deadlineMissedAt} is null and ${t.deadlineAt} is not null and ${t.state} in ('queued', 'running')`,
      ),
  ],
);
