/**
 * W7 (not one of the issue's workloads): a large DAG of joins. 5,000 no-op tasks in layers of
 * 250, each downstream of three tasks of the layer before: the time to trigger a run (creating its
 * task instances, with the tasks' effective priorities), and task instances per second through the
 * run with one scheduler and one worker at concurrency 32. What a decision costs as the DAG grows
 * shows here, not in the chains and fan-outs of W1–W3.
 */
import { performance } from 'node:perf_hooks';
import { layeredDag } from './dags.ts';
import { createBenchEnv } from './env.ts';
import type { Reporter } from './report.ts';
import type { Sizes } from './sizes.ts';

const FAN_IN = 3;
const CONCURRENCY = 32;

export async function largeDagWorkload(report: Reporter, sizes: Sizes): Promise<void> {
  const env = await createBenchEnv('postgres');
  try {
    const tasks = sizes.largeDagTasks;
    const dagId = `joins_${tasks}`;
    await env.writeDag(`${dagId}.ts`, layeredDag(dagId, tasks, sizes.largeDagWidth, FAN_IN));
    await env.processor.sync();
    await env.scheduler().start();
    await env.worker({ concurrency: CONCURRENCY }).start();
    const params = {
      tasks,
      width: sizes.largeDagWidth,
      upstream_per_task: FAN_IN,
      concurrency: CONCURRENCY,
    };
    const triggered = performance.now();
    const { id } = await env.ops.triggerRun(dagId, { actor: 'bench' });
    const created = performance.now();
    const state = await env.waitForRun(id, 600_000);
    const seconds = (performance.now() - created) / 1000;
    if (state !== 'success') throw new Error(`run of ${dagId} ended ${state}`);
    report.add(
      'W7 large DAG',
      'trigger (run and task instances created)',
      created - triggered,
      'ms',
      params,
    );
    report.add('W7 large DAG', 'task instances per second', tasks / seconds, '1/s', params);
  } finally {
    await env.close();
  }
}
