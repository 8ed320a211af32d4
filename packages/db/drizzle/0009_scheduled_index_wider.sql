-- A DAG's scheduled task instances are indexed with the pool queue's columns after the DAG's own,
-- so this index is never the cheaper way to read a pool's queue: on statistics taken while few
-- task instances were scheduled (most are finished, most of the time), the planner read a pool's
-- queue through the narrower (dag_id) index and sorted the whole backlog on every queueing,
-- 15-30 ms each in a burst of 10,000 (bench W3 after ANALYZE).
DROP INDEX IF EXISTS "task_instances_scheduled_idx";--> statement-breakpoint
CREATE INDEX "task_instances_scheduled_idx" ON "task_instances" USING btree ("dag_id","pool","priority_weight" DESC,"logical_date","id") WHERE "task_instances"."state" = 'scheduled';
