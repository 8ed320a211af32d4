import type { DagSpec } from '@updraft/core/dag';
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  index,
  integer,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { jsonb } from './columns.ts';
import { teams } from './team.ts';

/** A DAG as the scheduler sees it now: ownership, pause flag and the next scheduled interval. */
export const dags = pgTable(
  'dags',
  {
    dagId: text('dag_id').primaryKey(),
    teamId: text('team_id')
      .notNull()
      .references(() => teams.id),
    isPaused: boolean('is_paused').notNull().default(false),
    /** False once the DAG's file is gone or no longer defines it. */
    isActive: boolean('is_active').notNull().default(true),
    fileloc: text('fileloc').notNull(),
    description: text('description'),
    tags: jsonb('tags').$type<string[]>().notNull().default([]),
    schedule: text('schedule'),
    /**
     * In words, when a timetable decides rather than `schedule`: its summary, written by the DAG
     * processor, which has the timetable plugins (the API may not).
     */
    scheduleSummary: text('schedule_summary'),
    timezone: text('timezone').notNull().default('UTC'),
    maxActiveRuns: integer('max_active_runs').notNull(),
    maxActiveTasks: integer('max_active_tasks').notNull(),
    latestVersionId: bigint('latest_version_id', { mode: 'number' }),
    /** Next scheduled run: its logical date, data interval and the instant it may be created. */
    nextDagrun: timestamp('next_dagrun', { withTimezone: true }),
    nextDagrunDataIntervalStart: timestamp('next_dagrun_data_interval_start', {
      withTimezone: true,
    }),
    nextDagrunDataIntervalEnd: timestamp('next_dagrun_data_interval_end', { withTimezone: true }),
    nextDagrunCreateAfter: timestamp('next_dagrun_create_after', { withTimezone: true }),
    lastParsedAt: timestamp('last_parsed_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('dags_team_idx').on(t.teamId),
    index('dags_next_dagrun_create_after_idx')
      .on(t.nextDagrunCreateAfter)
      .where(sql`${t.isPaused} = false and ${t.isActive} = true`),
  ],
);

/** Immutable snapshot of a DAG's definition; every run records the version it runs. */
export const dagVersions = pgTable(
  'dag_versions',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    dagId: text('dag_id')
      .notNull()
      .references(() => dags.dagId, { onDelete: 'cascade' }),
    versionNumber: integer('version_number').notNull(),
    contentHash: text('content_hash').notNull(),
    sourceHash: text('source_hash').notNull(),
    fileloc: text('fileloc').notNull(),
    spec: jsonb('spec').$type<DagSpec>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('dag_versions_dag_number_uq').on(t.dagId, t.versionNumber),
    uniqueIndex('dag_versions_dag_hash_uq').on(t.dagId, t.contentHash),
  ],
);

/** A DAG file that failed to load; listed by the API until the file loads again. */
export const importErrors = pgTable('import_errors', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  fileloc: text('fileloc').notNull().unique(),
  message: text('message').notNull(),
  details: jsonb('details'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
