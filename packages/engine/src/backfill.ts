/**
 * Backfills (Airflow 3): runs for the intervals a DAG's timetable has between two dates, created
 * at once as queued runs attached to the backfill (dag_runs.backfill_id) and started within the
 * backfill's own max_active_runs, independent of the DAG's. Oldest first, or newest first with
 * `backwards`.
 *
 * Reprocess behaviour for intervals that already have a run:
 *   none      skip them;
 *   failed    re-run those whose run failed;
 *   completed re-run every finished run (success or failed).
 * Intervals whose run is queued or running are always skipped. Re-run runs are cleared, queued
 * again and attached to the backfill; new runs have run_type 'backfill'.
 *
 * A paused backfill starts nothing new; cancelling one fails its queued runs (running ones
 * finish). completed_at is set once none of its runs is queued or running.
 */
import { ConflictError, InvalidError, NotFoundError } from '@updraft/core/errors';
import { paramIssues } from '@updraft/core/params';
import { runDateProblem } from '@updraft/core/schedule';
import { runInfosBetween, type Timetable, timetableOf } from '@updraft/core/timetable';
import { type Queryable, retriedTransaction, rowsOf, schema, type Tx } from '@updraft/db';
import type { ReprocessBehaviour } from '@updraft/db/schema';
import { and, desc, eq, sql } from 'drizzle-orm';
import { Operations } from './ops/index.ts';
import { CHANNELS, type EngineResources } from './resources.ts';
import { createRuns, lockDag } from './runs.ts';
import { timetablesOf } from './timetables.ts';
import { intArray, type StateChange, transitionRuns } from './transitions.ts';
import { VersionCache } from './versions.ts';

export const REPROCESS = ['none', 'failed', 'completed'] as const;

/**
 * The most task instances one backfill creates: all are written in its one transaction, about a
 * second per 100,000 on PostgreSQL. A longer range is split into several backfills.
 */
export const MAX_BACKFILL_TASK_INSTANCES = 200_000;

export interface CreateBackfill {
  dagId: string;
  from: Date;
  to: Date;
  reprocess?: ReprocessBehaviour;
  maxActiveRuns?: number;
  backwards?: boolean;
  conf?: Record<string, unknown>;
  /** Only report what would be done. */
  dryRun?: boolean;
  actor: string;
}

export type BackfillRow = typeof schema.backfills.$inferSelect;

/** What a backfill does with one interval. */
export type IntervalPlan =
  | { action: 'create'; logicalDate: Date; start: Date; end: Date }
  | { action: 'reprocess'; logicalDate: Date; runId: string; runPk: number; state: string }
  | { action: 'skip'; logicalDate: Date; runId: string; state: string; reason: string };

export interface BackfillResult {
  backfill: BackfillRow | null;
  plan: IntervalPlan[];
}

/**
 * Decides per interval (pure): create a run, reprocess the existing one, or skip it. Queued and
 * running runs are always skipped.
 */
export function planIntervals(
  intervals: readonly { logicalDate: Date; dataInterval: { start: Date; end: Date } }[],
  existing: ReadonlyMap<number, { runId: string; runPk: number; state: string }>,
  reprocess: ReprocessBehaviour,
): IntervalPlan[] {
  return intervals.map((info) => {
    const run = existing.get(info.logicalDate.getTime());
    if (!run) {
      return {
        action: 'create',
        logicalDate: info.logicalDate,
        start: info.dataInterval.start,
        end: info.dataInterval.end,
      };
    }
    const base = { logicalDate: info.logicalDate, runId: run.runId, state: run.state };
    if (run.state === 'queued' || run.state === 'running') {
      return { action: 'skip', ...base, reason: `its run is ${run.state}` };
    }
    const rerun = reprocess === 'completed' || (reprocess === 'failed' && run.state === 'failed');
    if (rerun) return { action: 'reprocess', ...base, runPk: run.runPk };
    return {
      action: 'skip',
      ...base,
      reason: `it already has a ${run.state} run (reprocess: ${reprocess})`,
    };
  });
}

export class Backfills {
  readonly #r: EngineResources;
  readonly #versions = new VersionCache();
  readonly #ops: Operations;

  constructor(resources: EngineResources) {
    this.#r = resources;
    this.#ops = new Operations(resources);
  }

  async create(input: CreateBackfill): Promise<BackfillResult> {
    const reprocess = input.reprocess ?? 'none';
    const maxActiveRuns = input.maxActiveRuns ?? 10;
    if (!REPROCESS.includes(reprocess)) {
      throw new InvalidError(`reprocess must be one of ${REPROCESS.join(', ')}`, {
        field: 'reprocess',
      });
    }
    if (!Number.isInteger(maxActiveRuns) || maxActiveRuns < 1) {
      throw new InvalidError('max_active_runs must be a positive integer', {
        field: 'max_active_runs',
      });
    }
    for (const [date, field] of [
      [input.from, 'from'],
      [input.to, 'to'],
    ] as const) {
      const problem = runDateProblem(date, `"${field}"`);
      if (problem) throw new InvalidError(problem, { field });
    }
    if (input.to.getTime() < input.from.getTime()) {
      throw new InvalidError('"to" is before "from"', { field: 'to' });
    }
    const now = this.#r.clock.now();
    if (input.from.getTime() > now.getTime()) {
      throw new InvalidError('"from" is in the future; a backfill covers past intervals only', {
        field: 'from',
      });
    }
    const { db } = this.#r.database;
    const result = await this.#transaction(async (tx) => {
      await lockDag(tx, input.dagId);
      const [dag] = await tx.select().from(schema.dags).where(eq(schema.dags.dagId, input.dagId));
      if (!dag) throw new NotFoundError(`DAG "${input.dagId}" not found`);
      if (!dag.isActive) {
        throw new ConflictError(
          `DAG "${input.dagId}" is not active: its file no longer defines it`,
        );
      }
      if (dag.latestVersionId == null) {
        throw new ConflictError(`DAG "${input.dagId}" has no version yet`);
      }
      const version = await this.#versions.get(tx, dag.latestVersionId);
      const timetable = this.#timetable(input.dagId, version.spec);
      const conf = input.conf ?? {};
      const problems = paramIssues(version.spec.paramRules ?? {}, {
        ...version.spec.params,
        ...conf,
      });
      if (problems.length > 0) {
        throw new InvalidError(
          `invalid conf for DAG "${input.dagId}": ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`,
          { field: 'conf', issues: problems },
        );
      }
      let intervals: ReturnType<typeof runInfosBetween>;
      try {
        // Only intervals that are due: a backfill never runs the future (Airflow 3). Those after
        // now are not even listed (a far-off "to" would list up to the limit first).
        const to = input.to.getTime() > now.getTime() ? now : input.to;
        intervals = runInfosBetween(timetable, input.from, to).filter(
          (i) => i.runAfter.getTime() <= now.getTime(),
        );
      } catch (error) {
        throw new InvalidError(`DAG "${input.dagId}": ${(error as Error).message}`, {
          field: 'from',
        });
      }
      if (intervals.length === 0) {
        throw new InvalidError(
          `DAG "${input.dagId}" has no intervals between ${input.from.toISOString()} and ${input.to.toISOString()} (${timetable.summary})`,
          { field: 'from' },
        );
      }
      const existingRows = rowsOf<{
        id: number;
        run_id: string;
        state: string;
        logical_date: Date | string;
      }>(
        await tx.execute(sql`select id, run_id, state, logical_date from dag_runs
          where dag_id = ${input.dagId}
            and logical_date between ${intervals[0]!.logicalDate} and ${intervals[intervals.length - 1]!.logicalDate}
          order by logical_date, (run_type = 'manual'), id`),
      );
      const existing = new Map<number, { runId: string; runPk: number; state: string }>();
      for (const r of existingRows) {
        const key = new Date(r.logical_date).getTime();
        if (!existing.has(key)) {
          existing.set(key, { runId: r.run_id, runPk: Number(r.id), state: r.state });
        }
      }
      const plan = planIntervals(intervals, existing, reprocess);
      const newRuns = plan.filter((p) => p.action === 'create').length;
      const taskInstances = newRuns * version.spec.tasks.length;
      if (taskInstances > MAX_BACKFILL_TASK_INSTANCES) {
        throw new InvalidError(
          `a backfill of DAG "${input.dagId}" from ${input.from.toISOString()} to ${input.to.toISOString()} would create ${taskInstances} task instances (${newRuns} runs of ${version.spec.tasks.length} tasks); at most ${MAX_BACKFILL_TASK_INSTANCES} at once: split the range`,
          { field: 'to' },
        );
      }
      if (input.dryRun) return { backfill: null, plan, changes: [] as StateChange[] };
      if (!plan.some((p) => p.action !== 'skip')) {
        throw new ConflictError(
          `DAG "${input.dagId}": nothing to backfill between ${input.from.toISOString()} and ${input.to.toISOString()}: every interval already has a run (reprocess: ${reprocess})`,
          {
            plan: plan.map((p) => ({ logicalDate: p.logicalDate.toISOString(), action: p.action })),
          },
        );
      }
      const [backfill] = await tx
        .insert(schema.backfills)
        .values({
          dagId: input.dagId,
          fromDate: input.from,
          toDate: input.to,
          reprocess,
          maxActiveRuns,
          backwards: input.backwards ?? false,
          // Held paused until its reprocessed runs are cleared below (nothing starts or completes it).
          isPaused: plan.some((p) => p.action === 'reprocess'),
          dagRunConf: conf,
          createdBy: input.actor,
          createdAt: now,
          updatedAt: now,
        })
        .returning();
      const created = await createRuns(
        tx,
        version,
        plan.flatMap((p) =>
          p.action === 'create'
            ? [
                {
                  dagId: input.dagId,
                  runId: `backfill__${p.logicalDate.toISOString()}`,
                  runType: 'backfill' as const,
                  logicalDate: p.logicalDate,
                  dataIntervalStart: p.start,
                  dataIntervalEnd: p.end,
                  conf,
                  triggeredBy: input.actor,
                  note: `backfill ${backfill!.id}`,
                  backfillId: backfill!.id,
                },
              ]
            : [],
        ),
        now,
      );
      const changes = created.flatMap((c) => c.changes);
      const reprocessed = plan.flatMap((p) => (p.action === 'reprocess' ? [p.runPk] : []));
      if (reprocessed.length > 0) {
        await tx.execute(sql`update dag_runs set backfill_id = ${backfill!.id}
          where id = any(${intArray(reprocessed)})`);
      }
      await tx.insert(schema.events).values({
        entity: 'backfill',
        dagId: input.dagId,
        actor: input.actor,
        reason: `backfill ${backfill!.id} created: ${plan.filter((p) => p.action === 'create').length} new runs, ${plan.filter((p) => p.action === 'reprocess').length} reprocessed, ${plan.filter((p) => p.action === 'skip').length} skipped`,
        details: { backfillId: backfill!.id, reprocess, maxActiveRuns },
      });
      await tx.execute(sql`select pg_notify(${CHANNELS.scheduler}, ${input.dagId})`);
      return { backfill: backfill!, plan, changes };
    });
    if (result.changes.length > 0) this.#r.events.emit('stateChanges', result.changes);
    // Reprocessed runs are cleared (queued again) after the backfill exists; they then start
    // within the backfill's limit like its new runs.
    const backfill = result.backfill;
    if (!backfill?.isPaused) return { backfill, plan: result.plan };
    for (const p of result.plan) {
      if (p.action !== 'reprocess') continue;
      await this.#ops.clearTaskInstances(input.dagId, p.runId, {
        actor: `${input.actor} (backfill ${backfill.id})`,
      });
    }
    const [started] = await db
      .update(schema.backfills)
      .set({ isPaused: false })
      .where(eq(schema.backfills.id, backfill.id))
      .returning();
    await db.execute(sql`select pg_notify(${CHANNELS.scheduler}, ${input.dagId})`);
    return { backfill: started ?? backfill, plan: result.plan };
  }

  /** A transaction, run again if it lost a deadlock to the engine (see Operations). */
  #transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return retriedTransaction(this.#r.database.db, work);
  }

  #timetable(dagId: string, spec: Parameters<typeof timetableOf>[0]): Timetable {
    let timetable: Timetable;
    try {
      timetable = timetableOf(spec, timetablesOf(this.#r));
    } catch (error) {
      throw new ConflictError(`DAG "${dagId}": ${(error as Error).message}`);
    }
    if (!timetable.canSchedule) {
      throw new InvalidError(
        `DAG "${dagId}" has no schedule and cannot be backfilled; trigger runs instead`,
        { field: 'dag_id' },
      );
    }
    return timetable;
  }

  async list(dagId?: string): Promise<BackfillRow[]> {
    const { db } = this.#r.database;
    return db
      .select()
      .from(schema.backfills)
      .where(dagId ? eq(schema.backfills.dagId, dagId) : undefined)
      .orderBy(desc(schema.backfills.id))
      .limit(500);
  }

  async get(id: number): Promise<BackfillRow & { runs: Record<string, number> }> {
    const { db } = this.#r.database;
    const [row] = await db.select().from(schema.backfills).where(eq(schema.backfills.id, id));
    if (!row) throw new NotFoundError(`backfill ${id} not found`);
    const counts = rowsOf<{ state: string; n: number }>(
      await db.execute(
        sql`select state, count(*)::int as n from dag_runs where backfill_id = ${id} group by state`,
      ),
    );
    return { ...row, runs: Object.fromEntries(counts.map((c) => [c.state, Number(c.n)])) };
  }

  /**
   * Locks a backfill that is not completed, in the engine's lock order: its DAG first (as the
   * scheduler does before it touches the DAG's runs and backfills), then the backfill row.
   */
  async #lockBackfill(tx: Tx, id: number): Promise<BackfillRow> {
    const [found] = await tx
      .select({ dagId: schema.backfills.dagId })
      .from(schema.backfills)
      .where(eq(schema.backfills.id, id));
    if (!found) throw new NotFoundError(`backfill ${id} not found`);
    await lockDag(tx, found.dagId);
    const [b] = await tx
      .select()
      .from(schema.backfills)
      .where(eq(schema.backfills.id, id))
      .for('update');
    if (!b) throw new NotFoundError(`backfill ${id} not found`);
    if (b.completedAt) throw new ConflictError(`backfill ${id} is already completed`);
    return b;
  }

  async setPaused(id: number, paused: boolean, actor: string): Promise<BackfillRow> {
    const row = await this.#transaction(async (tx) => {
      // Waits for a start of its runs in progress: once paused, nothing more starts.
      const b = await this.#lockBackfill(tx, id);
      const [updated] = await tx
        .update(schema.backfills)
        .set({ isPaused: paused, updatedAt: this.#r.clock.now() })
        .where(eq(schema.backfills.id, id))
        .returning();
      await tx.insert(schema.events).values({
        entity: 'backfill',
        dagId: b.dagId,
        actor,
        fromState: b.isPaused ? 'paused' : 'active',
        toState: paused ? 'paused' : 'active',
        reason: `backfill ${id} ${paused ? 'paused' : 'unpaused'}`,
        details: { backfillId: id },
      });
      await tx.execute(sql`select pg_notify(${CHANNELS.scheduler}, ${b.dagId})`);
      return updated!;
    });
    return row;
  }

  /** Stops a backfill: its queued runs fail, running ones finish; it is completed at once. */
  async cancel(id: number, actor: string): Promise<BackfillRow> {
    const now = this.#r.clock.now();
    const out = await this.#transaction(async (tx) => {
      const b = await this.#lockBackfill(tx, id);
      const queued = await tx
        .select({ id: schema.dagRuns.id })
        .from(schema.dagRuns)
        .where(and(eq(schema.dagRuns.backfillId, id), eq(schema.dagRuns.state, 'queued')));
      const changes = await transitionRuns(
        tx,
        queued.map((r) => r.id),
        'failed',
        { actor, reason: `backfill ${id} cancelled`, set: [sql`end_date = ${now}`] },
      );
      const [updated] = await tx
        .update(schema.backfills)
        .set({ isPaused: true, completedAt: now, updatedAt: now })
        .where(eq(schema.backfills.id, id))
        .returning();
      await tx.insert(schema.events).values({
        entity: 'backfill',
        dagId: b.dagId,
        actor,
        toState: 'cancelled',
        reason: `backfill ${id} cancelled; ${changes.length} queued runs failed`,
        details: { backfillId: id },
      });
      return { row: updated!, changes };
    });
    if (out.changes.length > 0) this.#r.events.emit('stateChanges', out.changes);
    return out.row;
  }
}

/**
 * Queued backfill runs of a DAG that may start now: per active backfill, up to its
 * max_active_runs minus its running runs, oldest first (newest first when backwards). Called by
 * startQueuedRuns, which holds the DAG lock.
 */
export async function backfillRunsToStart(tx: Queryable, dagId: string): Promise<{ id: number }[]> {
  // Each backfill's room is counted once (materialized: inlined, the count ran again for every
  // queued run, and a year of hourly runs took 22 s a pass), then only that many of its queued
  // runs are taken.
  return rowsOf<{ id: number }>(
    await tx.execute(sql`
      with active as materialized (
        select b.id, b.backwards,
          b.max_active_runs - (select count(*)::int from dag_runs r
            where r.backfill_id = b.id and r.state = 'running') as room
        from backfills b
        where b.dag_id = ${dagId} and b.completed_at is null and b.is_paused = false
      )
      select next.id from active a cross join lateral (
        select r.id from dag_runs r
        where r.backfill_id = a.id and r.state = 'queued'
        order by case when a.backwards then r.logical_date end desc,
          case when not a.backwards then r.logical_date end, r.id
        limit greatest(a.room, 0)
      ) next
      order by next.id`),
  ).map((r) => ({ id: Number(r.id) }));
}

/** Marks backfills complete once none of their runs is queued or running. */
export async function completeBackfills(db: Queryable, now: Date): Promise<number> {
  const done = rowsOf<{ id: number }>(
    await db.execute(sql`update backfills b set completed_at = ${now}, updated_at = ${now}
      where b.completed_at is null and b.is_paused = false and not exists (
        select 1 from dag_runs r where r.backfill_id = b.id and r.state in ('queued', 'running'))
      returning b.id`),
  );
  return done.length;
}
