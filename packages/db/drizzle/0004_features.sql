CREATE TABLE "backfills" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"dag_id" text NOT NULL,
	"from_date" timestamp with time zone NOT NULL,
	"to_date" timestamp with time zone NOT NULL,
	"reprocess" text DEFAULT 'none' NOT NULL,
	"max_active_runs" integer DEFAULT 10 NOT NULL,
	"backwards" boolean DEFAULT false NOT NULL,
	"is_paused" boolean DEFAULT false NOT NULL,
	"dag_run_conf" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "callback_requests" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"scope" text NOT NULL,
	"event" text NOT NULL,
	"dag_id" text NOT NULL,
	"dag_run_id" bigint NOT NULL,
	"dag_version_id" bigint NOT NULL,
	"task_instance_id" bigint,
	"task_id" text,
	"map_index" integer,
	"try_number" integer,
	"payload" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"worker_id" text,
	"claimed_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pools" (
	"name" text PRIMARY KEY NOT NULL,
	"slots" integer NOT NULL,
	"description" text,
	"include_deferred" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "dag_runs" ADD COLUMN "backfill_id" bigint;--> statement-breakpoint
ALTER TABLE "dag_runs" ADD COLUMN "deadline_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "dag_runs" ADD COLUMN "deadline_missed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "task_instances" ADD COLUMN "pool_slots" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "task_instances" ADD COLUMN "first_started_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "task_instances" ADD COLUMN "reschedule_count" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "task_instances" ADD COLUMN "next_kwargs" jsonb;--> statement-breakpoint
ALTER TABLE "backfills" ADD CONSTRAINT "backfills_dag_id_dags_dag_id_fk" FOREIGN KEY ("dag_id") REFERENCES "public"."dags"("dag_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "callback_requests" ADD CONSTRAINT "callback_requests_dag_run_id_dag_runs_id_fk" FOREIGN KEY ("dag_run_id") REFERENCES "public"."dag_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "backfills_dag_idx" ON "backfills" USING btree ("dag_id","id");--> statement-breakpoint
CREATE INDEX "backfills_active_idx" ON "backfills" USING btree ("dag_id") WHERE "backfills"."completed_at" is null;--> statement-breakpoint
CREATE INDEX "callback_requests_pending_idx" ON "callback_requests" USING btree ("id") WHERE "callback_requests"."state" = 'pending';--> statement-breakpoint
CREATE INDEX "callback_requests_run_idx" ON "callback_requests" USING btree ("dag_run_id");--> statement-breakpoint
ALTER TABLE "dag_runs" ADD CONSTRAINT "dag_runs_backfill_id_backfills_id_fk" FOREIGN KEY ("backfill_id") REFERENCES "public"."backfills"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "dag_runs_backfill_idx" ON "dag_runs" USING btree ("backfill_id") WHERE "dag_runs"."backfill_id" is not null;--> statement-breakpoint
CREATE INDEX "dag_runs_deadline_idx" ON "dag_runs" USING btree ("deadline_at") WHERE "dag_runs"."deadline_missed_at" is null and "dag_runs"."deadline_at" is not null and "dag_runs"."state" in ('queued', 'running');--> statement-breakpoint
CREATE INDEX "task_instances_pool_active_idx" ON "task_instances" USING btree ("pool") WHERE "task_instances"."state" in ('queued', 'running');--> statement-breakpoint
INSERT INTO "pools" ("name", "slots", "description") VALUES ('default_pool', 128, 'Default pool: tasks without a pool use it') ON CONFLICT DO NOTHING;
