/**
 * Deadline alerts (Airflow 3.1's DeadlineAlert): a run gets deadline_at when it is created (its
 * reference time — the data interval end by default — plus the DAG's `deadline.after`). A
 * scheduler pass finds active runs past it, marks them missed, writes an event and requests the
 * deadline callback, all in one transaction. The guarded UPDATE with SKIP LOCKED makes that happen
 * exactly once, however many schedulers run. A missed deadline changes no state: the run goes on.
 */
import { rowsOf, schema } from '@updraft/db';
import { sql } from 'drizzle-orm';
import { callbackContext, insertCallbackRequests } from './callbacks.ts';
import type { EngineResources } from './resources.ts';
import type { StateChange } from './transitions.ts';
import { VersionCache } from './versions.ts';

interface MissedRow {
  id: number;
  dag_id: string;
  run_id: string;
  state: string;
  dag_version_id: number;
  logical_date: Date | string;
  data_interval_start: Date | string;
  data_interval_end: Date | string;
  conf: Record<string, unknown>;
  deadline_at: Date | string;
}

/** Marks runs whose deadline passed; returns nothing to emit (no state changes). */
export async function checkDeadlines(
  r: EngineResources,
  actor: string,
  opts: { batchSize?: number; versions?: VersionCache } = {},
): Promise<StateChange[]> {
  const versions = opts.versions ?? new VersionCache(100);
  const now = r.clock.now();
  const missed = await r.database.db.transaction(async (tx) => {
    const rows = rowsOf<MissedRow>(
      await tx.execute(sql`
        update dag_runs d set deadline_missed_at = ${now}
        where d.id in (
          select id from dag_runs
          where state in ('queued', 'running') and deadline_missed_at is null
            and deadline_at is not null and deadline_at <= ${now}
          order by deadline_at limit ${opts.batchSize ?? 100}
          for update skip locked)
          and d.deadline_missed_at is null
        returning d.id, d.dag_id, d.run_id, d.state, d.dag_version_id, d.logical_date,
          d.data_interval_start, d.data_interval_end, d.conf, d.deadline_at`),
    );
    if (rows.length === 0) return rows;
    await tx.insert(schema.events).values(
      rows.map((row) => ({
        entity: 'dag_run' as const,
        dagId: row.dag_id,
        runId: row.run_id,
        fromState: row.state,
        toState: row.state,
        actor,
        reason: 'deadline missed',
        details: { deadlineAt: new Date(row.deadline_at).toISOString() } as never,
      })),
    );
    const requests = [];
    for (const row of rows) {
      const version = await versions.get(tx, Number(row.dag_version_id));
      const callbacks = version.spec.deadline?.callbacks ?? [];
      const deadlineAt = new Date(row.deadline_at).toISOString();
      requests.push({
        scope: 'dag' as const,
        event: 'deadline_missed' as const,
        run: row,
        taskInstanceId: null,
        taskId: null,
        mapIndex: null,
        tryNumber: null,
        context: callbackContext(
          'deadline_missed',
          row,
          version,
          {
            taskId: null,
            mapIndex: null,
            tryNumber: null,
            state: row.state,
            reason: `deadline missed: the run had not finished by ${deadlineAt}`,
          },
          { deadlineAt },
        ),
        callbacks,
      });
    }
    await insertCallbackRequests(tx, requests);
    return rows;
  });
  for (const row of missed) {
    r.logger.warn(
      { dagId: row.dag_id, runId: row.run_id, deadlineAt: row.deadline_at },
      'deadline missed',
    );
  }
  return [];
}
