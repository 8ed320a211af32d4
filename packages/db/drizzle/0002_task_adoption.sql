ALTER TABLE "task_instances" ADD COLUMN "resume_try" boolean DEFAULT false NOT NULL;--> statement-breakpoint
-- running → queued: a try whose worker was lost is adopted by another worker (see state.ts).
INSERT INTO "task_state_transitions" ("from_state", "to_state") VALUES ('running', 'queued');
