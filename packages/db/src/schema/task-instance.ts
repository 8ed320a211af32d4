import type { TaskState } from '@updraft/core/state';
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
import { dagRuns } from './dag-run.ts';

export const taskInstances = pgTable(
  'task_instances',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    dagRunId: bigint('dag_run_id', { mode: 'number' })
      .notNull()
      .references(() => dagRuns.id, { onDelete: 'cascade' }),
    dagId: text('dag_id').notNull(),
    runId: text('run_id').notNull(),
    taskId: text('task_id').notNull(),
    mapIndex: integer('map_index').notNull().default(-1),
    state: text('state').$type<TaskState>().notNull().default('none'),
    /** 0 before the first try; incremented when a try is claimed. */
    tryNumber: integer('try_number').notNull().default(0),
    /** Retries allowed after the first try. */
    maxRetries: integer('max_retries').notNull().default(0),
    priorityWeight: integer('priority_weight').notNull().default(1),
    operator: text('operator').notNull(),
    pool: text('pool').notNull().default('default_pool'),
    /** Slots of its pool this task instance occupies while queued or running. */
    poolSlots: integer('pool_slots').notNull().default(1),
    queuedAt: timestamp('queued_at', { withTimezone: true }),
    startDate: timestamp('start_date', { withTimezone: true }),
    endDate: timestamp('end_date', { withTimezone: true }),
    durationMs: integer('duration_ms'),
    workerId: text('worker_id'),
    heartbeatAt: timestamp('heartbeat_at', { withTimezone: true }),
    /** For up_for_retry / up_for_reschedule: earliest time of the next attempt. */
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }),
    /** Queued for adoption: the next claim continues the same try instead of starting a new one. */
    resumeTry: boolean('resume_try').notNull().default(false),
    /**
     * Start of the first attempt of the current try, kept across reschedules (a sensor's timeout
     * and an external job's deadline count from here). Reset when a new try starts.
     */
    firstStartedAt: timestamp('first_started_at', { withTimezone: true }),
    /** How many times the current try was rescheduled (sensor checks, external-job polls). */
    rescheduleCount: integer('reschedule_count').notNull().default(0),
    /**
     * State carried from one attempt of a try to the next (Airflow's next_kwargs): an external
     * job's handle, a sensor's progress. Cleared when a new try starts.
     */
    nextKwargs: jsonb('next_kwargs').$type<Record<string, unknown>>(),
    /**
     * The try was rescheduled (up_for_reschedule): the next claim continues it — same try number,
     * XComs and next_kwargs kept — as a new attempt (not an adoption, see resume_try).
     */
    rescheduled: boolean('rescheduled').notNull().default(false),
    /**
     * Start of the first attempt of the first try since the last clear: a sensor's timeout counts
     * from here across retries, as in Airflow.
     */
    firstTryStartedAt: timestamp('first_try_started_at', { withTimezone: true }),
    /** Why the task instance is in its state (failure reason, skip reason). */
    stateReason: text('state_reason'),
    /** Its run's logical date (never changes): the pool queue's order is indexed with it. */
    logicalDate: timestamp('logical_date', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('task_instances_run_task_map_uq').on(t.dagRunId, t.taskId, t.mapIndex),
    // Claim order for workers: highest priority first, then oldest.
    index('task_instances_queued_idx')
      .on(sql`${t.priorityWeight} desc`, t.queuedAt, t.id)
      .where(sql`${t.state} = 'queued'`),
    index('task_instances_running_idx')
      .on(t.heartbeatAt)
      .where(sql`${t.state} in ('running', 'restarting')`),
    index('task_instances_pool_active_idx')
      .on(t.pool)
      .where(sql`${t.state} in ('queued', 'running')`),
    index('task_instances_dag_active_idx')
      .on(t.dagId)
      .where(sql`${t.state} in ('queued', 'running')`),
    // A DAG's scheduled task instances and their pools. It has the pool queue's columns after
    // dag_id so that it never looks cheaper than the pool queue's own index for a pool's queue
    // (migration 0009).
    index('task_instances_scheduled_idx')
      .on(t.dagId, t.pool, sql`${t.priorityWeight} desc`, t.logicalDate, t.id)
      .where(sql`${t.state} = 'scheduled'`),
    // A pool's queue: scheduled task instances in the order they get slots (pools.ts).
    index('task_instances_pool_queue_idx')
      .on(t.pool, sql`${t.priorityWeight} desc`, t.logicalDate, t.id)
      .where(sql`${t.state} = 'scheduled'`),
    index('task_instances_retry_idx')
      .on(t.nextAttemptAt)
      .where(sql`${t.state} in ('up_for_retry', 'up_for_reschedule')`),
  ],
);

/** Task output, stored in chunks per try. */
export const taskLogs = pgTable(
  'task_logs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    taskInstanceId: bigint('task_instance_id', { mode: 'number' })
      .notNull()
      .references(() => taskInstances.id, { onDelete: 'cascade' }),
    tryNumber: integer('try_number').notNull(),
    content: text('content').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('task_logs_ti_try_idx').on(t.taskInstanceId, t.tryNumber, t.id)],
);

/** Small JSON results passed between tasks; the return value is key "return_value". */
export const xcoms = pgTable(
  'xcoms',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    taskInstanceId: bigint('task_instance_id', { mode: 'number' })
      .notNull()
      .references(() => taskInstances.id, { onDelete: 'cascade' }),
    dagRunId: bigint('dag_run_id', { mode: 'number' }).notNull(),
    taskId: text('task_id').notNull(),
    mapIndex: integer('map_index').notNull().default(-1),
    key: text('key').notNull(),
    value: jsonb('value').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('xcoms_ti_key_uq').on(t.taskInstanceId, t.key),
    index('xcoms_run_task_idx').on(t.dagRunId, t.taskId),
  ],
);
