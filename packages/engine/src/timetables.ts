/**
 * Where the engine meets timetables (core/timetable.ts): the registry a deployment configured,
 * the DAG's last automated interval, and the import-error check for timetables nobody registered.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatDagIssue } from '@updraft/core/dag';
import {
  builtinTimetables,
  type NextRunInfo,
  nextRunForSpec,
  type TimetableFactory,
  type TimetableRegistry,
  timetableOf,
} from '@updraft/core/timetable';
import { type Queryable, rowsOf } from '@updraft/db';
import { sql } from 'drizzle-orm';
import type { ParseMessage } from './processor/parse.ts';
import type { EngineResources } from './resources.ts';

export function timetablesOf(r: Pick<EngineResources, 'timetables'>): TimetableRegistry {
  return r.timetables ?? builtinTimetables();
}

/**
 * The data interval of the DAG's latest automated run (scheduled or backfill), which the
 * timetable continues from. Backfill runs count so the scheduler never creates a second run for
 * an interval a backfill already covers (one run per logical date).
 */
export async function lastAutomatedInterval(
  tx: Queryable,
  dagId: string,
): Promise<{ start: Date; end: Date } | null> {
  const [last] = rowsOf<{ data_interval_start: Date | string; data_interval_end: Date | string }>(
    await tx.execute(sql`select data_interval_start, data_interval_end from dag_runs
      where dag_id = ${dagId} and run_type in ('scheduled', 'backfill')
      order by logical_date desc limit 1`),
  );
  return last
    ? { start: new Date(last.data_interval_start), end: new Date(last.data_interval_end) }
    : null;
}

type ScheduleSpec = Parameters<typeof nextRunForSpec>[0] & { dagId: string };

/** The DAG's next automated run, from its timetable and its last automated run. */
export async function nextAutomatedRun(
  tx: Queryable,
  spec: ScheduleSpec,
  now: Date,
  registry: TimetableRegistry = builtinTimetables(),
): Promise<NextRunInfo | null> {
  return nextRunForSpec(spec, await lastAutomatedInterval(tx, spec.dagId), now, registry);
}

/**
 * A DAG naming a timetable the deployment did not register cannot be scheduled: its whole file
 * becomes an import error naming the DAG and the field (as Airflow does for a missing timetable
 * plugin).
 */
export function checkTimetables(
  results: ParseMessage[],
  registry: TimetableRegistry,
): ParseMessage[] {
  return results.map((result) => {
    if (result.kind !== 'ok') return result;
    const issues = [];
    for (const spec of result.specs) {
      try {
        timetableOf(spec, registry);
      } catch (error) {
        issues.push({ dagId: spec.dagId, field: 'timetable', message: (error as Error).message });
      }
    }
    if (issues.length === 0) return result;
    return {
      kind: 'error',
      fileloc: result.fileloc,
      message: issues.map((i) => formatDagIssue(i, result.fileloc)).join('\n'),
      issues,
    };
  });
}

/**
 * Loads timetable plugins (UPDRAFT_TIMETABLE_PLUGINS): modules that export
 * `timetables: Record<string, TimetableFactory>`, registered beside the built-ins. Every process
 * that reads DAG timetables (scheduler, DAG processor, worker, API) loads the same plugins.
 */
export async function loadTimetablePlugins(
  paths: readonly string[],
  registry: TimetableRegistry = builtinTimetables(),
): Promise<TimetableRegistry> {
  for (const path of paths) {
    let mod: { timetables?: unknown };
    try {
      mod = (await import(pathToFileURL(resolve(path)).href)) as { timetables?: unknown };
    } catch (error) {
      throw new Error(`cannot load timetable plugin ${path}: ${(error as Error).message}`);
    }
    const factories = mod.timetables;
    if (!factories || typeof factories !== 'object') {
      throw new Error(
        `timetable plugin ${path} must export "timetables": an object of name → factory function`,
      );
    }
    for (const [name, factory] of Object.entries(factories)) {
      if (typeof factory !== 'function') {
        throw new Error(`timetable plugin ${path}: "${name}" is not a factory function`);
      }
      registry.register(name, factory as TimetableFactory);
    }
  }
  return registry;
}
