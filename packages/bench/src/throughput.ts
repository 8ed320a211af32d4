/**
 * W3: 20 runs of a DAG fanning out to 500 no-op tasks, one scheduler and one worker at a given
 * concurrency: task instances per second from the first trigger to the last run's success. Peer:
 * graphile-worker working the same number of no-op jobs queued up front, same concurrency. The
 * tables are analyzed after a warm-up run, as autovacuum would have on a live system.
 */
import { performance } from 'node:perf_hooks';
import { sql } from 'drizzle-orm';
import { fanOutDag } from './dags.ts';
import { commitsSince, createBenchEnv } from './env.ts';
import { GRAPHILE_CONFIGS, graphileThroughput, prepareGraphile } from './graphile.ts';
import type { Reporter } from './report.ts';
import type { Sizes } from './sizes.ts';

export async function updraftThroughput(
  sizes: Sizes,
  concurrency: number,
): Promise<{
  tisPerSecond: number;
  seconds: number;
  commitsPerTi: number;
  url: string;
  close(): Promise<void>;
}> {
  const env = await createBenchEnv('postgres');
  try {
    const dagId = `fanout_${sizes.fanOutWidth}`;
    await env.writeDag(`${dagId}.ts`, fanOutDag(dagId, sizes.fanOutWidth, sizes.fanOutRuns));
    await env.processor.sync();
    await env.scheduler().start();
    await env.worker({ concurrency }).start();
    const warm = await env.ops.triggerRun(dagId, { actor: 'bench' });
    await env.waitForRun(warm.id, 120_000);
    // Statistics as a live system has them: taken (by autovacuum) while the task instances were
    // finished. Plans that trust them to say how many are scheduled fall over in the burst below.
    await env.resources.database.db.execute(sql`analyze`);
    const before = await env.commits();
    const started = performance.now();
    const ids: number[] = [];
    for (let r = 0; r < sizes.fanOutRuns; r++)
      ids.push((await env.ops.triggerRun(dagId, { actor: 'bench' })).id);
    const states = await Promise.all(ids.map((id) => env.waitForRun(id, 600_000)));
    const seconds = (performance.now() - started) / 1000;
    if (states.some((s) => s !== 'success'))
      throw new Error(`fan-out runs ended ${states.join(',')}`);
    const commits = await commitsSince(env, before);
    const tis = sizes.fanOutRuns * sizes.fanOutWidth;
    const url = env.db.url ?? '';
    return {
      tisPerSecond: tis / seconds,
      seconds,
      commitsPerTi: commits / tis,
      url,
      close: () => env.close(),
    };
  } catch (error) {
    await env.close();
    throw error;
  }
}

export async function throughputWorkload(report: Reporter, sizes: Sizes): Promise<void> {
  const tis = sizes.fanOutRuns * sizes.fanOutWidth;
  for (const concurrency of sizes.concurrencies) {
    const ours = await updraftThroughput(sizes, concurrency);
    try {
      // The peer on the same database, after our run: graphile's fastest configuration counts.
      await prepareGraphile(ours.url);
      await graphileThroughput(ours.url, Math.min(500, tis), concurrency, GRAPHILE_CONFIGS[0]!); // warm-up
      let best = 0;
      for (const config of GRAPHILE_CONFIGS) {
        const peer = await graphileThroughput(ours.url, tis, concurrency, config);
        report.add(
          'W3 throughput',
          'graphile jobs/s by configuration',
          peer.jobsPerSecond,
          'jobs/s',
          {
            concurrency,
            jobs: tis,
            config: config.name,
          },
        );
        best = Math.max(best, peer.jobsPerSecond);
      }
      const params = {
        concurrency,
        task_instances: tis,
        runs: sizes.fanOutRuns,
        width: sizes.fanOutWidth,
        peer: "graphile-worker's fastest configuration",
        statistics: 'analyzed after a warm-up run',
      };
      report.compare(
        'W3 throughput',
        'task instances (jobs) per second',
        ours.tisPerSecond,
        best,
        '1/s',
        params,
      );
      report.add('W3 throughput', 'commits per task instance', ours.commitsPerTi, 'commits', {
        concurrency,
        system: 'updraft',
      });
    } finally {
      await ours.close();
    }
  }
}
