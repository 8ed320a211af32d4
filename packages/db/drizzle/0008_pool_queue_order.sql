-- Scheduled task instances wait in their pool in one global order: priority, then their run's
-- logical date, then id. The run's logical date never changes, so it is copied onto its task
-- instances: an index then serves that order, and queueing reads only the rows it takes however
-- long the backlog is (it used to sort every waiting task instance of the pool).
ALTER TABLE "task_instances" ADD COLUMN "logical_date" timestamp with time zone;--> statement-breakpoint
UPDATE "task_instances" t SET "logical_date" = r."logical_date" FROM "dag_runs" r WHERE r."id" = t."dag_run_id";--> statement-breakpoint
CREATE INDEX "task_instances_pool_queue_idx" ON "task_instances" USING btree ("pool","priority_weight" DESC,"logical_date","id") WHERE "task_instances"."state" = 'scheduled';
