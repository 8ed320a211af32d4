/**
 * W1 (chains of light tasks, function vs shell tasks) and W2 (hand-off latency over a 500-task
 * chain, against graphile-worker's chain of jobs that each add the next).
 */
import { performance } from 'node:perf_hooks';
import { BODY_MARKS, chainDag, noopChainDag } from './dags.ts';
import { type BenchEnv, commitsSince, createBenchEnv, taskTimings } from './env.ts';
import { graphileChain, prepareGraphile } from './graphile.ts';
import { median, percentile, type Reporter, sum } from './report.ts';
import type { Sizes } from './sizes.ts';

interface ChainRun {
  wallMs: number;
  firstStartMs: number;
  assignment: number[];
  execution: number[];
  transition: number[];
  tailMs: number;
}

async function runChain(env: BenchEnv, dagId: string, timeoutMs: number): Promise<ChainRun> {
  const t0 = Date.now();
  const started = performance.now();
  const { id } = await env.ops.triggerRun(dagId, { actor: 'bench' });
  const state = await env.waitForRun(id, timeoutMs);
  const wallMs = performance.now() - started;
  const t1 = t0 + wallMs;
  if (state !== 'success') throw new Error(`run of ${dagId} ended ${state}`);
  const tis = await taskTimings(env, id);
  const transition: number[] = [];
  for (let i = 1; i < tis.length; i++) {
    transition.push((tis[i]?.startDate ?? 0) - (tis[i - 1]?.endDate ?? 0));
  }
  return {
    wallMs,
    firstStartMs: (tis[0]?.startDate ?? t0) - t0,
    assignment: tis.map((t) => t.startDate - t.queuedAt),
    execution: tis.map((t) => t.endDate - t.startDate),
    transition,
    tailMs: t1 - (tis[tis.length - 1]?.endDate ?? t1),
  };
}

export async function chainWorkload(report: Reporter, sizes: Sizes): Promise<void> {
  const env = await createBenchEnv('postgres');
  try {
    const dags: { dagId: string; length: number; fiboN: number; mode: 'function' | 'shell' }[] = [];
    for (const [length, fiboN] of sizes.chains) {
      for (const mode of ['function', 'shell'] as const) {
        const dagId = `chain_${mode === 'function' ? 'fn' : 'proc'}_${length}_fibo${fiboN}`;
        await env.writeDag(`${dagId}.ts`, chainDag(dagId, length, fiboN, mode));
        dags.push({ dagId, length, fiboN, mode });
      }
    }
    await env.processor.sync();
    await env.scheduler().start();
    await env.worker().start();
    for (const d of dags) {
      const params = {
        tasks: d.length,
        fibo: d.fiboN,
        tasks_run_as:
          d.mode === 'function' ? 'function in the worker' : 'shell: node process per task',
        reps: sizes.chainReps,
      };
      // Warm-up: loads the DAG file and version caches (skipped for process-per-task below full size,
      // where start-up of node dominates anyway and the quick run must stay under 2 minutes).
      if (d.mode === 'function' || sizes.name === 'full') await runChain(env, d.dagId, 120_000);
      const before = await env.commits();
      const runs: ChainRun[] = [];
      for (let r = 0; r < sizes.chainReps; r++) runs.push(await runChain(env, d.dagId, 120_000));
      const commits = await commitsSince(env, before);
      const w = `W1 chain ${d.length}×fibo(${d.fiboN}) ${d.mode}`;
      const med = (f: (r: ChainRun) => number) => median(runs.map(f));
      report.add(
        w,
        'wall time trigger → run success',
        med((r) => r.wallMs),
        'ms',
        params,
      );
      report.add(
        w,
        'assignment total (queued → started)',
        med((r) => sum(r.assignment)),
        'ms',
        params,
      );
      report.add(
        w,
        'execution total',
        med((r) => sum(r.execution)),
        'ms',
        params,
      );
      report.add(
        w,
        'transition total (upstream end → downstream start)',
        med((r) => sum(r.transition)),
        'ms',
        params,
      );
      report.add(
        w,
        'assignment per task',
        med((r) => sum(r.assignment) / r.assignment.length),
        'ms',
        params,
      );
      report.add(
        w,
        'execution per task',
        med((r) => sum(r.execution) / r.execution.length),
        'ms',
        params,
      );
      report.add(
        w,
        'transition per hop',
        med((r) => sum(r.transition) / Math.max(1, r.transition.length)),
        'ms',
        params,
      );
      report.add(
        w,
        'trigger → first task started',
        med((r) => r.firstStartMs),
        'ms',
        params,
      );
      report.add(
        w,
        'last task end → run success seen',
        med((r) => r.tailMs),
        'ms',
        params,
      );
      report.add(
        w,
        'commits per task instance',
        commits / (d.length * sizes.chainReps),
        'commits',
        params,
      );
    }
  } finally {
    await env.close();
  }
}

export async function handoffWorkload(report: Reporter, sizes: Sizes): Promise<void> {
  const env = await createBenchEnv('postgres');
  try {
    const dagId = `handoff_${sizes.hops}`;
    await env.writeDag(`${dagId}.ts`, noopChainDag(dagId, sizes.hops));
    await env.processor.sync();
    await env.scheduler().start();
    await env.worker().start();
    // Warm-up on the same DAG (a short run would need a second DAG; the full chain is cheap).
    await runChain(env, dagId, 300_000);
    const before = await env.commits();
    // The tasks note when their bodies run (the worker runs them in this process): a hop from one
    // body to the next, at the resolution of performance.now(), the way the peer's is measured.
    const marks: number[] = [];
    const global = globalThis as { [BODY_MARKS]?: number[] };
    global[BODY_MARKS] = marks;
    let run: ChainRun;
    try {
      run = await runChain(env, dagId, 300_000);
    } finally {
      delete global[BODY_MARKS];
    }
    const commits = await commitsSince(env, before);
    if (marks.length !== sizes.hops)
      throw new Error(`${marks.length} of the chain's ${sizes.hops} task bodies noted their start`);
    const hops = marks.slice(1).map((at, i) => at - marks[i]!);
    const params = { hops: hops.length, measured: 'task body to next task body (performance.now)' };
    const url = env.db.url;
    if (!url) throw new Error('PostgreSQL URL missing');
    await prepareGraphile(url);
    await graphileChain(url, Math.min(20, sizes.hops)); // warm-up
    const peer = await graphileChain(url, sizes.hops);
    report.compare('W2 hand-off', 'median per hop', median(hops), peer.median, 'ms', params);
    report.compare('W2 hand-off', 'p95 per hop', percentile(hops, 95), peer.p95, 'ms', params);
    // What Airflow shows: the recorded end_date → start_date. Both are taken inside the finishing
    // transaction (before its commit and the claim's answer), at millisecond resolution.
    const recorded = {
      hops: run.transition.length,
      measured: 'recorded end_date → start_date (1 ms resolution)',
      system: 'updraft',
    };
    report.add('W2 hand-off', 'median per hop', median(run.transition), 'ms', recorded);
    report.add('W2 hand-off', 'p95 per hop', percentile(run.transition, 95), 'ms', recorded);
    report.compare('W2 hand-off', 'chain wall time', run.wallMs, peer.wallMs, 'ms', {
      hops: hops.length,
      measured: 'trigger → run success; peer: first job added → last job started',
    });
    report.add('W2 hand-off', 'commits per task instance', commits / sizes.hops, 'commits', {
      system: 'updraft',
    });
  } finally {
    await env.close();
  }
}
