import type { RunState, RunType } from '@updraft/core/state';
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  index,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
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
  ],
);
