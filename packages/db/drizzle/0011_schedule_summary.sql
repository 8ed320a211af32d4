-- How a DAG is scheduled, in words, when a timetable decides (its summary, from the processor).
ALTER TABLE "dags" ADD COLUMN "schedule_summary" text;
