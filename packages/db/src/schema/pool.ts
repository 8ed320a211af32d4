import { boolean, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * A pool caps how many task instances (weighted by their pool_slots) may be queued or running at
 * once across every DAG that uses it. `default_pool` always exists (seeded by the migration).
 */
export const pools = pgTable('pools', {
  name: text('name').primaryKey(),
  slots: integer('slots').notNull(),
  description: text('description'),
  /** Deferred / up_for_reschedule task instances occupy slots too (Airflow's include_deferred). */
  includeDeferred: boolean('include_deferred').notNull().default(false),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
