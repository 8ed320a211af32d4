-- A try that was rescheduled (sensor checks, external-job polls): the next claim continues it
-- (same try number, XComs and next_kwargs kept) instead of starting a new try. Separate from
-- resume_try, which marks an adopted try (reattach to its running work).
ALTER TABLE "task_instances" ADD COLUMN "rescheduled" boolean DEFAULT false NOT NULL;--> statement-breakpoint
-- Start of the first attempt of the first try since the task instance was last cleared: a sensor's
-- timeout counts from here across retries (Airflow's rule).
ALTER TABLE "task_instances" ADD COLUMN "first_try_started_at" timestamp with time zone;
