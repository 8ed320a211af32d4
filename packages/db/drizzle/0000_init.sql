CREATE TABLE "dag_versions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"dag_id" text NOT NULL,
	"version_number" integer NOT NULL,
	"content_hash" text NOT NULL,
	"source_hash" text NOT NULL,
	"fileloc" text NOT NULL,
	"spec" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "dags" (
	"dag_id" text PRIMARY KEY NOT NULL,
	"team_id" text NOT NULL,
	"is_paused" boolean DEFAULT false NOT NULL,
	"is_active" boolean DEFAULT true NOT NULL,
	"fileloc" text NOT NULL,
	"description" text,
	"tags" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"schedule" text,
	"timezone" text DEFAULT 'UTC' NOT NULL,
	"max_active_runs" integer NOT NULL,
	"max_active_tasks" integer NOT NULL,
	"latest_version_id" bigint,
	"next_dagrun" timestamp with time zone,
	"next_dagrun_data_interval_start" timestamp with time zone,
	"next_dagrun_data_interval_end" timestamp with time zone,
	"next_dagrun_create_after" timestamp with time zone,
	"last_parsed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "import_errors" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"fileloc" text NOT NULL,
	"message" text NOT NULL,
	"details" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "import_errors_fileloc_unique" UNIQUE("fileloc")
);
--> statement-breakpoint
CREATE TABLE "dag_runs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"dag_id" text NOT NULL,
	"run_id" text NOT NULL,
	"dag_version_id" bigint NOT NULL,
	"run_type" text NOT NULL,
	"state" text NOT NULL,
	"logical_date" timestamp with time zone NOT NULL,
	"data_interval_start" timestamp with time zone NOT NULL,
	"data_interval_end" timestamp with time zone NOT NULL,
	"conf" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"triggered_by" text NOT NULL,
	"note" text,
	"queued_at" timestamp with time zone,
	"start_date" timestamp with time zone,
	"end_date" timestamp with time zone,
	"last_scheduling_decision" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"entity" text NOT NULL,
	"dag_id" text NOT NULL,
	"run_id" text,
	"task_id" text,
	"map_index" integer,
	"try_number" integer,
	"from_state" text,
	"to_state" text,
	"actor" text NOT NULL,
	"reason" text,
	"details" jsonb
);
--> statement-breakpoint
CREATE TABLE "processes" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"hostname" text NOT NULL,
	"pid" integer NOT NULL,
	"environment" text NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL,
	"stopped_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "task_instances" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"dag_run_id" bigint NOT NULL,
	"dag_id" text NOT NULL,
	"run_id" text NOT NULL,
	"task_id" text NOT NULL,
	"map_index" integer DEFAULT -1 NOT NULL,
	"state" text DEFAULT 'none' NOT NULL,
	"try_number" integer DEFAULT 0 NOT NULL,
	"max_retries" integer DEFAULT 0 NOT NULL,
	"priority_weight" integer DEFAULT 1 NOT NULL,
	"operator" text NOT NULL,
	"pool" text DEFAULT 'default_pool' NOT NULL,
	"queued_at" timestamp with time zone,
	"start_date" timestamp with time zone,
	"end_date" timestamp with time zone,
	"duration_ms" integer,
	"worker_id" text,
	"heartbeat_at" timestamp with time zone,
	"next_attempt_at" timestamp with time zone,
	"state_reason" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "task_logs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"task_instance_id" bigint NOT NULL,
	"try_number" integer NOT NULL,
	"content" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "xcoms" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"task_instance_id" bigint NOT NULL,
	"dag_run_id" bigint NOT NULL,
	"task_id" text NOT NULL,
	"map_index" integer DEFAULT -1 NOT NULL,
	"key" text NOT NULL,
	"value" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "teams" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"namespace" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "dag_versions" ADD CONSTRAINT "dag_versions_dag_id_dags_dag_id_fk" FOREIGN KEY ("dag_id") REFERENCES "public"."dags"("dag_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dags" ADD CONSTRAINT "dags_team_id_teams_id_fk" FOREIGN KEY ("team_id") REFERENCES "public"."teams"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dag_runs" ADD CONSTRAINT "dag_runs_dag_id_dags_dag_id_fk" FOREIGN KEY ("dag_id") REFERENCES "public"."dags"("dag_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dag_runs" ADD CONSTRAINT "dag_runs_dag_version_id_dag_versions_id_fk" FOREIGN KEY ("dag_version_id") REFERENCES "public"."dag_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "task_instances" ADD CONSTRAINT "task_instances_dag_run_id_dag_runs_id_fk" FOREIGN KEY ("dag_run_id") REFERENCES "public"."dag_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "task_logs" ADD CONSTRAINT "task_logs_task_instance_id_task_instances_id_fk" FOREIGN KEY ("task_instance_id") REFERENCES "public"."task_instances"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "xcoms" ADD CONSTRAINT "xcoms_task_instance_id_task_instances_id_fk" FOREIGN KEY ("task_instance_id") REFERENCES "public"."task_instances"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "dag_versions_dag_number_uq" ON "dag_versions" USING btree ("dag_id","version_number");--> statement-breakpoint
CREATE UNIQUE INDEX "dag_versions_dag_hash_uq" ON "dag_versions" USING btree ("dag_id","content_hash");--> statement-breakpoint
CREATE INDEX "dags_team_idx" ON "dags" USING btree ("team_id");--> statement-breakpoint
CREATE INDEX "dags_next_dagrun_create_after_idx" ON "dags" USING btree ("next_dagrun_create_after") WHERE "dags"."is_paused" = false and "dags"."is_active" = true;--> statement-breakpoint
CREATE UNIQUE INDEX "dag_runs_dag_run_id_uq" ON "dag_runs" USING btree ("dag_id","run_id");--> statement-breakpoint
CREATE UNIQUE INDEX "dag_runs_dag_logical_date_uq" ON "dag_runs" USING btree ("dag_id","logical_date") WHERE "dag_runs"."run_type" in ('scheduled', 'backfill');--> statement-breakpoint
CREATE INDEX "dag_runs_active_idx" ON "dag_runs" USING btree ("last_scheduling_decision") WHERE "dag_runs"."state" in ('queued', 'running');--> statement-breakpoint
CREATE INDEX "dag_runs_dag_logical_date_idx" ON "dag_runs" USING btree ("dag_id","logical_date");--> statement-breakpoint
CREATE INDEX "events_dag_idx" ON "events" USING btree ("dag_id","id");--> statement-breakpoint
CREATE INDEX "events_run_idx" ON "events" USING btree ("dag_id","run_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "task_instances_run_task_map_uq" ON "task_instances" USING btree ("dag_run_id","task_id","map_index");--> statement-breakpoint
CREATE INDEX "task_instances_queued_idx" ON "task_instances" USING btree ("priority_weight" desc,"queued_at","id") WHERE "task_instances"."state" = 'queued';--> statement-breakpoint
CREATE INDEX "task_instances_running_idx" ON "task_instances" USING btree ("heartbeat_at") WHERE "task_instances"."state" in ('running', 'restarting');--> statement-breakpoint
CREATE INDEX "task_instances_dag_active_idx" ON "task_instances" USING btree ("dag_id") WHERE "task_instances"."state" in ('queued', 'running');--> statement-breakpoint
CREATE INDEX "task_instances_retry_idx" ON "task_instances" USING btree ("next_attempt_at") WHERE "task_instances"."state" in ('up_for_retry', 'up_for_reschedule');--> statement-breakpoint
CREATE INDEX "task_logs_ti_try_idx" ON "task_logs" USING btree ("task_instance_id","try_number","id");--> statement-breakpoint
CREATE UNIQUE INDEX "xcoms_ti_key_uq" ON "xcoms" USING btree ("task_instance_id","key");--> statement-breakpoint
CREATE INDEX "xcoms_run_task_idx" ON "xcoms" USING btree ("dag_run_id","task_id");