import { sql } from 'drizzle-orm';
import { bigserial, boolean, index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { jsonb } from './columns.ts';
import { dags } from './dag.ts';

export const REPROCESS_BEHAVIOURS = ['none', 'failed', 'completed'] as const;
export type ReprocessBehaviour = (typeof REPROCESS_BEHAVIOURS)[number];

/**
 * A backfill: runs for the intervals between from_date and to_date, started within the backfill's
 * own max_active_runs (independent of the DAG's). Its runs point back here via dag_runs.backfill_id.
 */
export const backfills = pgTable(
  'backfills',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    dagId: text('dag_id')
      .notNull()
      .references(() => dags.dagId, { onDelete: 'cascade' }),
    fromDate: timestamp('from_date', { withTimezone: true }).notNull(),
    toDate: timestamp('to_date', { withTimezone: true }).notNull(),
    reprocess: text('reprocess').$type<ReprocessBehaviour>().notNull().default('none'),
    maxActiveRuns: integer('max_active_runs').notNull().default(10),
    backwards: boolean('backwards').notNull().default(false),
    isPaused: boolean('is_paused').notNull().default(false),
    dagRunConf: jsonb('dag_run_conf').$type<Record<string, unknown>>().notNull().default({}),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
  },
  (t) => [
    index('backfills_dag_idx').on(t.dagId, t.id),
    index('backfills_active_idx').on(t.dagId).where(sql`${t.completedAt} is null`),
  ],
);
