import { bigserial, index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { jsonb } from './columns.ts';

/**
 * Append-only log of every state change and operator action: who did what, from which state to
 * which, and why. Rows are never updated.
 */
export const events = pgTable(
  'events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    entity: text('entity')
      .$type<
        'task_instance' | 'dag_run' | 'dag' | 'dag_version' | 'backfill' | 'pool' | 'callback'
      >()
      .notNull(),
    dagId: text('dag_id').notNull(),
    runId: text('run_id'),
    taskId: text('task_id'),
    mapIndex: integer('map_index'),
    tryNumber: integer('try_number'),
    fromState: text('from_state'),
    toState: text('to_state'),
    /** e.g. "scheduler:host-1234", "worker:host-99", "api", "user:alice". */
    actor: text('actor').notNull(),
    reason: text('reason'),
    details: jsonb('details'),
  },
  (t) => [
    index('events_dag_idx').on(t.dagId, t.id),
    index('events_run_idx').on(t.dagId, t.runId, t.id),
  ],
);

/** Live scheduler and worker processes, for health pages and zombie detection. */
export const processes = pgTable('processes', {
  id: text('id').primaryKey(),
  kind: text('kind').$type<'scheduler' | 'worker' | 'api' | 'standalone'>().notNull(),
  hostname: text('hostname').notNull(),
  pid: integer('pid').notNull(),
  environment: text('environment').notNull(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  heartbeatAt: timestamp('heartbeat_at', { withTimezone: true }).notNull().defaultNow(),
  stoppedAt: timestamp('stopped_at', { withTimezone: true }),
});
