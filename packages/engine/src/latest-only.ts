/**
 * The latest-only task (Airflow's LatestOnlyOperator): succeeds with `true` when its run is the
 * latest scheduled one (or manual, or the DAG has no schedule) and `false` otherwise. The worker
 * treats it as a short-circuit over its direct downstream tasks, so a `false` skips them and the
 * skip propagates through trigger rules as usual. No user code runs: it works in YAML DAGs too.
 */
import type { DagSpec } from '@updraft/core/dag';
import { builtinTimetables, latestOnlyDecision, timetableOf } from '@updraft/core/timetable';
import { schema } from '@updraft/db';
import { eq } from 'drizzle-orm';
import type { EngineResources } from './resources.ts';
import type { Executor } from './worker/executors/types.ts';

/** True for a latest-only task spec (a function task with control "latest_only"). */
export function isLatestOnly(task: { type: string; config: Record<string, unknown> }): boolean {
  return task.type === 'function' && task.config.control === 'latest_only';
}

export function latestOnlyExecutor(r: EngineResources): Executor {
  return async (ctx) => {
    const [run] = await r.database.db
      .select({
        runType: schema.dagRuns.runType,
        dataIntervalStart: schema.dagRuns.dataIntervalStart,
        dataIntervalEnd: schema.dagRuns.dataIntervalEnd,
      })
      .from(schema.dagRuns)
      .where(eq(schema.dagRuns.id, ctx.run.runPk));
    if (!run) throw new Error(`run ${ctx.run.runId} no longer exists`);
    const spec: DagSpec = ctx.version.spec;
    const timetable = timetableOf(spec, r.timetables ?? builtinTimetables());
    const decision = latestOnlyDecision(timetable, run, r.clock.now());
    ctx.log(`${decision.reason}\n`);
    return { result: decision.latest };
  };
}
