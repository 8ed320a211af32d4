import { pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** Teams come from environments/<env>/teams.yaml and are synced at start-up. */
export const teams = pgTable('teams', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  namespace: text('namespace').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
