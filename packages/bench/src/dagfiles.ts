/**
 * W4 (second half) on its own: time to load 1,000 DAG files (`DagProcessor.sync`) cold, then a
 * forced re-parse of the same unchanged files. Cheap enough to run at full size with
 * `pnpm bench --only dagfiles`; the scheduler workload measures the same at its own size.
 */
import { performance } from 'node:perf_hooks';
import { scheduledDag } from './dags.ts';
import { createBenchEnv } from './env.ts';
import type { Reporter } from './report.ts';
import type { Sizes } from './sizes.ts';

export async function dagFilesWorkload(report: Reporter, sizes: Sizes): Promise<void> {
  const env = await createBenchEnv('postgres');
  try {
    const files = sizes.dagFiles;
    for (let i = 0; i < files; i++) {
      const id = `file_${String(i).padStart(4, '0')}`;
      await env.writeDag(`${id}.ts`, scheduledDag(id));
    }
    const t0 = performance.now();
    const cold = await env.processor.sync();
    const coldMs = performance.now() - t0;
    if (cold.parsed !== files || cold.dags !== files)
      throw new Error(`loaded ${cold.dags} DAGs from ${cold.parsed} of ${files} DAG files`);
    const t1 = performance.now();
    await env.processor.sync({ force: true });
    const againMs = performance.now() - t1;
    report.add('W4 DAG files', 'load DAG files (cold)', coldMs, 'ms', { files });
    report.add('W4 DAG files', 'load DAG files (forced re-parse, unchanged)', againMs, 'ms', {
      files,
    });
  } finally {
    await env.close();
  }
}
