import { sql } from 'drizzle-orm';
import { bigint, bigserial, index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { jsonb } from './columns.ts';
import { dagRuns } from './dag-run.ts';

export const CALLBACK_EVENTS = [
  'success',
  'failure',
  'retry',
  'skipped',
  'deadline_missed',
] as const;
export type CallbackEvent = (typeof CALLBACK_EVENTS)[number];

export const CALLBACK_STATES = ['pending', 'running', 'success', 'failed'] as const;
export type CallbackState = (typeof CALLBACK_STATES)[number];

/**
 * Outbox of callbacks to run (on_success, on_failure, on_retry, on_skipped, deadline alerts).
 * Written in the same transaction as the state change that causes it, so none is lost; run by a
 * worker that claims it with SKIP LOCKED; kept afterwards as the record of what was called.
 */
export const callbackRequests = pgTable(
  'callback_requests',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /** 'task' (a task instance's callback) or 'dag' (a run's callback or deadline alert). */
    scope: text('scope').$type<'task' | 'dag'>().notNull(),
    event: text('event').$type<CallbackEvent>().notNull(),
    dagId: text('dag_id').notNull(),
    dagRunId: bigint('dag_run_id', { mode: 'number' })
      .notNull()
      .references(() => dagRuns.id, { onDelete: 'cascade' }),
    dagVersionId: bigint('dag_version_id', { mode: 'number' }).notNull(),
    taskInstanceId: bigint('task_instance_id', { mode: 'number' }),
    taskId: text('task_id'),
    mapIndex: integer('map_index'),
    tryNumber: integer('try_number'),
    /** The context handed to the callback (states, reason, dates); never secrets. */
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull().default({}),
    state: text('state').$type<CallbackState>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    workerId: text('worker_id'),
    claimedAt: timestamp('claimed_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('callback_requests_pending_idx').on(t.id).where(sql`${t.state} = 'pending'`),
    index('callback_requests_run_idx').on(t.dagRunId),
  ],
);
