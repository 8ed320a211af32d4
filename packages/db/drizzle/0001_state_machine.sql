-- The state machine of packages/core/src/state.ts, enforced by the database itself:
-- any UPDATE that changes a state along an edge not in these tables is rejected.
-- A test (state-machine.test.ts) checks these rows against the TypeScript tables.
CREATE TABLE "task_state_transitions" ("from_state" text NOT NULL, "to_state" text NOT NULL, PRIMARY KEY ("from_state", "to_state"));
--> statement-breakpoint
INSERT INTO "task_state_transitions" ("from_state", "to_state") VALUES ('none', 'scheduled'), ('none', 'queued'), ('none', 'skipped'), ('none', 'upstream_failed'), ('none', 'removed'), ('none', 'success'), ('none', 'failed'), ('scheduled', 'queued'), ('scheduled', 'none'), ('scheduled', 'skipped'), ('scheduled', 'upstream_failed'), ('scheduled', 'removed'), ('scheduled', 'success'), ('scheduled', 'failed'), ('queued', 'running'), ('queued', 'scheduled'), ('queued', 'none'), ('queued', 'failed'), ('queued', 'up_for_retry'), ('queued', 'success'), ('queued', 'skipped'), ('queued', 'removed'), ('running', 'success'), ('running', 'failed'), ('running', 'up_for_retry'), ('running', 'up_for_reschedule'), ('running', 'deferred'), ('running', 'skipped'), ('running', 'restarting'), ('up_for_retry', 'scheduled'), ('up_for_retry', 'queued'), ('up_for_retry', 'none'), ('up_for_retry', 'failed'), ('up_for_retry', 'success'), ('up_for_retry', 'skipped'), ('up_for_retry', 'removed'), ('up_for_reschedule', 'scheduled'), ('up_for_reschedule', 'queued'), ('up_for_reschedule', 'none'), ('up_for_reschedule', 'failed'), ('up_for_reschedule', 'success'), ('up_for_reschedule', 'skipped'), ('up_for_reschedule', 'removed'), ('deferred', 'scheduled'), ('deferred', 'queued'), ('deferred', 'none'), ('deferred', 'failed'), ('deferred', 'success'), ('deferred', 'skipped'), ('deferred', 'up_for_retry'), ('restarting', 'none'), ('restarting', 'up_for_retry'), ('restarting', 'failed'), ('restarting', 'success'), ('success', 'none'), ('success', 'failed'), ('failed', 'none'), ('failed', 'success'), ('upstream_failed', 'none'), ('upstream_failed', 'success'), ('upstream_failed', 'failed'), ('upstream_failed', 'skipped'), ('skipped', 'none'), ('skipped', 'success'), ('skipped', 'failed'), ('removed', 'none');
--> statement-breakpoint
CREATE TABLE "run_state_transitions" ("from_state" text NOT NULL, "to_state" text NOT NULL, PRIMARY KEY ("from_state", "to_state"));
--> statement-breakpoint
INSERT INTO "run_state_transitions" ("from_state", "to_state") VALUES ('queued', 'running'), ('queued', 'success'), ('queued', 'failed'), ('running', 'success'), ('running', 'failed'), ('running', 'queued'), ('success', 'queued'), ('success', 'failed'), ('failed', 'queued'), ('failed', 'success');
--> statement-breakpoint
ALTER TABLE "task_instances" ADD CONSTRAINT "task_instances_state_check" CHECK ("state" IN ('none', 'scheduled', 'queued', 'running', 'success', 'failed', 'up_for_retry', 'up_for_reschedule', 'upstream_failed', 'skipped', 'removed', 'deferred', 'restarting'));
--> statement-breakpoint
ALTER TABLE "dag_runs" ADD CONSTRAINT "dag_runs_state_check" CHECK ("state" IN ('queued', 'running', 'success', 'failed'));
--> statement-breakpoint
ALTER TABLE "dag_runs" ADD CONSTRAINT "dag_runs_run_type_check" CHECK ("run_type" IN ('scheduled', 'manual', 'backfill'));
--> statement-breakpoint
CREATE FUNCTION "updraft_check_task_transition"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.state IS DISTINCT FROM OLD.state AND NOT EXISTS (
    SELECT 1 FROM task_state_transitions WHERE from_state = OLD.state AND to_state = NEW.state
  ) THEN
    RAISE EXCEPTION 'illegal task instance transition % -> % (dag %, run %, task %)',
      OLD.state, NEW.state, OLD.dag_id, OLD.run_id, OLD.task_id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
--> statement-breakpoint
CREATE TRIGGER "task_instances_state_transition" BEFORE UPDATE OF "state" ON "task_instances"
  FOR EACH ROW EXECUTE FUNCTION "updraft_check_task_transition"();
--> statement-breakpoint
CREATE FUNCTION "updraft_check_run_transition"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.state IS DISTINCT FROM OLD.state AND NOT EXISTS (
    SELECT 1 FROM run_state_transitions WHERE from_state = OLD.state AND to_state = NEW.state
  ) THEN
    RAISE EXCEPTION 'illegal dag run transition % -> % (dag %, run %)',
      OLD.state, NEW.state, OLD.dag_id, OLD.run_id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
--> statement-breakpoint
CREATE TRIGGER "dag_runs_state_transition" BEFORE UPDATE OF "state" ON "dag_runs"
  FOR EACH ROW EXECUTE FUNCTION "updraft_check_run_transition"();
