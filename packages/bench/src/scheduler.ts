/**
 * W4: scheduler cost does not grow with history. 1,000 DAGs on a one-minute schedule; the time of
 * a scheduling pass with an empty history, and with 1,000,000 finished task instances (with their
 * runs and one event each) in the tables. Also: time to load 1,000 DAG files.
 */
import { performance } from 'node:perf_hooks';
import { rowsOf } from '@updraft/db';
import { sql } from 'drizzle-orm';
import { scheduledDag } from './dags.ts';
import { type BenchEnv, createBenchEnv } from './env.ts';
import { median, percentile, type Reporter } from './report.ts';
import type { Sizes } from './sizes.ts';

const TIS_PER_HISTORIC_RUN = 100;

/** Finished runs (10 per DAG, in 2025) with 100 finished task instances and one event each. */
export async function insertHistory(env: BenchEnv, taskInstances: number): Promise<void> {
  const { db } = env.db.handle;
  const [row] = rowsOf<{ n: number }>(await db.execute(sql`select count(*)::int as n from dags`));
  const dags = Math.max(1, Number(row?.n ?? 1));
  const runsPerDag = Math.max(1, Math.ceil(taskInstances / TIS_PER_HISTORIC_RUN / dags));
  const perRun = Math.max(1, Math.floor(taskInstances / (runsPerDag * dags)));
  await db.execute(sql`insert into dag_runs (dag_id, run_id, dag_version_id, run_type, state, logical_date,
      data_interval_start, data_interval_end, triggered_by, queued_at, start_date, end_date, last_scheduling_decision)
    select d.dag_id, 'scheduled__history_' || g, d.latest_version_id, 'scheduled', 'success', x.ts, x.ts,
      x.ts + interval '1 minute', 'bench-history', x.ts, x.ts, x.ts + interval '5 seconds', x.ts
    from dags d, generate_series(1, ${runsPerDag}) g,
      lateral (select timestamptz '2025-01-01' + g * interval '1 minute' as ts) x`);
  // In chunks of runs so that no single statement holds millions of rows in memory.
  const runIds = rowsOf<{ id: number }>(
    await db.execute(
      sql`select id::int as id from dag_runs where triggered_by = 'bench-history' order by id`,
    ),
  );
  const chunk = 2000;
  for (let i = 0; i < runIds.length; i += chunk) {
    const lo = runIds[i]?.id ?? 0;
    const hi = runIds[Math.min(runIds.length, i + chunk) - 1]?.id ?? 0;
    await db.execute(sql`insert into task_instances (dag_run_id, dag_id, run_id, task_id, state, try_number, operator,
        queued_at, start_date, end_date, duration_ms, worker_id, heartbeat_at, updated_at)
      select r.id, r.dag_id, r.run_id, 'task_' || g, 'success', 1, 'function', r.start_date, r.start_date,
        r.end_date, 5000, 'worker:history', r.end_date, r.end_date
      from dag_runs r, generate_series(1, ${perRun}) g
      where r.triggered_by = 'bench-history' and r.id between ${lo} and ${hi}`);
    await db.execute(sql`insert into events (at, entity, dag_id, run_id, task_id, map_index, try_number, from_state, to_state, actor)
      select t.end_date, 'task_instance', t.dag_id, t.run_id, t.task_id, -1, 1, 'running', 'success', 'worker:history'
      from task_instances t where t.dag_run_id between ${lo} and ${hi} and t.worker_id = 'worker:history'`);
  }
  await db.execute(sql`vacuum analyze dag_runs`);
  await db.execute(sql`vacuum analyze task_instances`);
  await db.execute(sql`vacuum analyze events`);
  // Measure a steady state, not the checkpoint the bulk load left pending (hundreds of MB of WAL
  // flushed while the passes run). Needs a superuser; without one the figure includes it.
  await db.execute(sql`checkpoint`).catch(() => {});
}

async function schedulerPasses(
  sizes: Sizes,
  history: number,
): Promise<{ loadMs: number; passes: number[]; history: number }> {
  const env = await createBenchEnv('postgres');
  try {
    for (let i = 0; i < sizes.scheduledDags; i++) {
      const id = `sched_${String(i).padStart(4, '0')}`;
      await env.writeDag(`${id}.ts`, scheduledDag(id));
    }
    const t0 = performance.now();
    const sync = await env.processor.sync();
    const loadMs = performance.now() - t0;
    if (sync.parsed !== sizes.scheduledDags)
      throw new Error(`parsed ${sync.parsed} of ${sizes.scheduledDags} DAG files`);
    if (history > 0) await insertHistory(env, history);
    const scheduler = env.scheduler();
    const passes: number[] = [];
    for (let i = 0; i < sizes.schedulerPasses; i++) {
      const t = performance.now();
      const rep = await scheduler.runOnce();
      passes.push(performance.now() - t);
      if (rep.errors > 0) throw new Error(`scheduler pass had ${rep.errors} errors`);
    }
    return { loadMs, passes, history };
  } finally {
    await env.close();
  }
}

export async function schedulerWorkload(report: Reporter, sizes: Sizes): Promise<void> {
  const empty = await schedulerPasses(sizes, 0);
  const full = await schedulerPasses(sizes, sizes.historyTaskInstances);
  const params = {
    dags: sizes.scheduledDags,
    passes: sizes.schedulerPasses,
    schedule: 'every minute',
  };
  const m0 = median(empty.passes);
  const m1 = median(full.passes);
  report.add('W4 scheduler', 'pass time, empty history (median)', m0, 'ms', params);
  report.add(
    'W4 scheduler',
    'pass time, empty history (p95)',
    percentile(empty.passes, 95),
    'ms',
    params,
  );
  report.add('W4 scheduler', 'pass time, with history (median)', m1, 'ms', {
    ...params,
    finished_task_instances: sizes.historyTaskInstances,
  });
  report.add('W4 scheduler', 'pass time, with history (p95)', percentile(full.passes, 95), 'ms', {
    ...params,
    finished_task_instances: sizes.historyTaskInstances,
  });
  report.add('W4 scheduler', 'pass time ratio history/empty', m1 / m0, 'x', params);
  report.add(
    'W4 scheduler',
    'first pass (creates runs), empty history',
    empty.passes[0] ?? 0,
    'ms',
    params,
  );
  report.add('W4 scheduler', 'load DAG files (cold)', empty.loadMs, 'ms', {
    files: sizes.scheduledDags,
  });
  report.add('W4 scheduler', 'load DAG files (second time)', full.loadMs, 'ms', {
    files: sizes.scheduledDags,
  });
}
