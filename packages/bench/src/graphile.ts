/**
 * The peer: graphile-worker on the same PostgreSQL database, in the same process and run.
 */
import { performance } from 'node:perf_hooks';
import { Logger, makeWorkerUtils, type Runner, run, runMigrations } from 'graphile-worker';
import { median, percentile } from './report.ts';

const silent = new Logger(() => () => {});

export async function prepareGraphile(connectionString: string): Promise<void> {
  await runMigrations({ connectionString, logger: silent });
}

/** A chain of `hops` jobs, each adding the next: ms from "add next" in job i to the start of job i+1. */
export async function graphileChain(
  connectionString: string,
  hops: number,
): Promise<{ median: number; p95: number; hops: number[]; wallMs: number }> {
  const added: number[] = [];
  const startedAt: number[] = [];
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const runner = await run({
    connectionString,
    concurrency: 1,
    noHandleSignals: true,
    logger: silent,
    taskList: {
      hop: async (payload, helpers) => {
        const i = (payload as { i: number }).i;
        startedAt[i] = performance.now();
        if (i + 1 >= hops) {
          finish();
          return;
        }
        added[i] = performance.now();
        await helpers.addJob('hop', { i: i + 1 });
      },
    },
  });
  let firstAdded = 0;
  try {
    const deadline = setTimeout(finish, 120_000);
    firstAdded = performance.now();
    await runner.addJob('hop', { i: 0 });
    await done;
    clearTimeout(deadline);
  } finally {
    await runner.stop();
  }
  const values: number[] = [];
  for (let i = 0; i + 1 < hops; i++) {
    const a = added[i];
    const b = startedAt[i + 1];
    if (a !== undefined && b !== undefined) values.push(b - a);
  }
  if (values.length < hops - 1) throw new Error(`graphile chain finished ${values.length} hops`);
  return {
    median: median(values),
    p95: percentile(values, 95),
    hops: values,
    wallMs: (startedAt[hops - 1] ?? firstAdded) - firstAdded,
  };
}

export interface GraphileConfigName {
  name: string;
  /** Extra runner options for this configuration. */
  options: (concurrency: number) => Record<string, unknown>;
}

/** The configurations tried for throughput; the fastest is the peer figure. */
export const GRAPHILE_CONFIGS: GraphileConfigName[] = [
  { name: 'default', options: () => ({}) },
  {
    name: 'pool=c+2,localQueue=c,completeJobBatchDelay=0',
    options: (c) => ({
      maxPoolSize: c + 2,
      preset: { worker: { localQueue: { size: c }, completeJobBatchDelay: 0 } },
    }),
  },
];

/** `jobs` no-op jobs queued up front, then worked with `concurrency`: jobs/s from start to the last completion. */
export async function graphileThroughput(
  connectionString: string,
  jobs: number,
  concurrency: number,
  config: GraphileConfigName,
): Promise<{ jobsPerSecond: number; seconds: number }> {
  const utils = await makeWorkerUtils({ connectionString, logger: silent });
  let runner: Runner | undefined;
  try {
    for (let i = 0; i < jobs; i += 1000) {
      const n = Math.min(1000, jobs - i);
      await utils.addJobs(
        Array.from({ length: n }, (_, k) => ({ identifier: 'noop', payload: { i: i + k } })),
      );
    }
    let handled = 0;
    let allHandled: () => void = () => {};
    const handledPromise = new Promise<void>((resolve) => {
      allHandled = resolve;
    });
    const started = performance.now();
    runner = await run({
      connectionString,
      concurrency,
      noHandleSignals: true,
      logger: silent,
      ...config.options(concurrency),
      taskList: {
        noop: async () => {
          handled++;
          if (handled >= jobs) allHandled();
        },
      },
    });
    const deadline = Date.now() + 300_000;
    await Promise.race([
      handledPromise,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('graphile throughput timed out')), 300_000).unref(),
      ),
    ]);
    // The last completions may still be in flight (batched): wait until the queue is empty.
    while (Date.now() < deadline) {
      const left = await utils.withPgClient((c) =>
        c.query<{ n: string }>('select count(*)::text as n from graphile_worker._private_jobs'),
      );
      if (Number(left.rows[0]?.n ?? 0) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const seconds = (performance.now() - started) / 1000;
    return { jobsPerSecond: jobs / seconds, seconds };
  } finally {
    await runner?.stop();
    await utils.release();
  }
}
