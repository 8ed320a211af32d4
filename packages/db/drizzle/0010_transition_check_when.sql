-- The transition checks run PL/pgSQL only for an illegal transition. Every state change called
-- the check function, whose table lookup cost 40-50 us a row: the largest single part of a
-- one-row state change (about 90 us). Each trigger now has a WHEN clause with the legal edges
-- written out from the transition tables, which PostgreSQL evaluates without calling a function;
-- the function (unchanged) runs only when the clause finds an edge missing, and raises.
-- The tables stay the source: a migration that changes one recreates its trigger the same way
-- (state-machine.test.ts compares each trigger's edges with its table).
DO $$
BEGIN
  EXECUTE format(
    'CREATE OR REPLACE TRIGGER "task_instances_state_transition" BEFORE UPDATE OF "state" ON "task_instances" '
    'FOR EACH ROW WHEN (NEW.state IS DISTINCT FROM OLD.state AND NOT ((OLD.state || %L || NEW.state) = ANY (%L::text[]))) '
    'EXECUTE FUNCTION "updraft_check_task_transition"()',
    '->',
    (SELECT array_agg(from_state || '->' || to_state ORDER BY from_state, to_state) FROM task_state_transitions));
  EXECUTE format(
    'CREATE OR REPLACE TRIGGER "dag_runs_state_transition" BEFORE UPDATE OF "state" ON "dag_runs" '
    'FOR EACH ROW WHEN (NEW.state IS DISTINCT FROM OLD.state AND NOT ((OLD.state || %L || NEW.state) = ANY (%L::text[]))) '
    'EXECUTE FUNCTION "updraft_check_run_transition"()',
    '->',
    (SELECT array_agg(from_state || '->' || to_state ORDER BY from_state, to_state) FROM run_state_transitions));
END $$;
