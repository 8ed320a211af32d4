/**
 * Function tasks: the TypeScript function from the DAG file, run in the worker process. The file is
 * loaded once per content version and cached.
 */

import { readFile } from 'node:fs/promises';
import type { Dag, TaskContext } from '@updraft/sdk';
import { hashSource, loadDagFile } from '../../processor/load.ts';
import { parseDagFiles } from '../../processor/parse.ts';
import { type Executor, TaskFailure } from './types.ts';

/** How long the parse thread may take to load a DAG file before a worker imports it. */
export const DAG_FILE_CHECK_TIMEOUT_MS = 30_000;

/**
 * A DAG file is imported into the worker's own process (its functions run there) only after the
 * parse thread has loaded the same content: a file that loops forever, calls process.exit or
 * throws at import then fails the task with the parser's message, instead of hanging or ending a
 * worker that every team's tasks share.
 */
async function loadChecked(fileloc: string, timeoutMs: number) {
  const [checked] = await parseDagFiles([fileloc], timeoutMs);
  if (!checked || checked.kind === 'error')
    throw new TaskFailure(
      `the DAG file does not load now, so its function tasks cannot run (fix it, then clear the task): ${checked?.message ?? fileloc}`,
    );
  return loadDagFile(fileloc, checked.sourceHash);
}

export class DagFileCache {
  readonly #files = new Map<string, Promise<{ sourceHash: string; dags: Dag[] }>>();
  readonly #checkTimeoutMs: number;

  constructor(opts: { checkTimeoutMs?: number } = {}) {
    this.#checkTimeoutMs = opts.checkTimeoutMs ?? DAG_FILE_CHECK_TIMEOUT_MS;
  }

  /**
   * The DAG as its file defines it. With `versionHash` (the content a run's DAG version was
   * recorded from), a cached load of other content is replaced when the file on disk has changed
   * since: a run of a new version gets the new code. A run of an older version, when the file is
   * unchanged, costs a read of the file, not a reload, and gets the current code (the returned
   * `sourceHash` says which).
   */
  async dag(
    fileloc: string,
    dagId: string,
    versionHash?: string,
  ): Promise<{ dag: Dag; sourceHash: string }> {
    let entry = this.#entry(fileloc);
    let loaded = await entry;
    if (versionHash !== undefined && loaded.sourceHash !== versionHash) {
      let onDisk: string | undefined;
      try {
        onDisk = hashSource(await readFile(fileloc));
      } catch {
        // Gone or unreadable: the reload below says why.
      }
      if (onDisk !== loaded.sourceHash) {
        // Other tasks may have replaced it already: reload only what was found stale.
        if (this.#files.get(fileloc) === entry) this.#files.delete(fileloc);
        entry = this.#entry(fileloc);
        loaded = await entry;
      }
    }
    const dag = loaded.dags.find((d) => d.id === dagId);
    if (!dag)
      throw new TaskFailure(`DAG "${dagId}" is no longer defined in ${fileloc}`, {
        retryable: false,
      });
    return { dag, sourceHash: loaded.sourceHash };
  }

  #entry(fileloc: string): Promise<{ sourceHash: string; dags: Dag[] }> {
    const cached = this.#files.get(fileloc);
    if (cached) return cached;
    const loading = loadChecked(fileloc, this.#checkTimeoutMs);
    this.#files.set(fileloc, loading);
    // A failed load is not kept: the next task tries again.
    loading.catch(() => {
      if (this.#files.get(fileloc) === loading) this.#files.delete(fileloc);
    });
    return loading;
  }
}

export function createFunctionExecutor(files: DagFileCache): Executor {
  return async (ctx) => {
    // The worker has loaded the file for this version before the timeout started (see dag()).
    const { dag, sourceHash } = await files.dag(
      ctx.version.fileloc,
      ctx.run.dagId,
      ctx.version.sourceHash,
    );
    if (sourceHash !== ctx.version.sourceHash)
      ctx.log(
        `warning: ${ctx.version.fileloc} changed since this run's DAG version was recorded; running the current code\n`,
      );
    const fn = dag.functionOf(ctx.taskId);
    if (!fn)
      throw new TaskFailure(`task "${ctx.taskId}" is not a function task in the current file`, {
        retryable: false,
      });
    const params = (ctx.template.params ?? {}) as Record<string, unknown>;
    const taskContext: TaskContext = {
      dagId: ctx.run.dagId,
      runId: ctx.run.runId,
      taskId: ctx.taskId,
      mapIndex: ctx.mapIndex,
      // A mapped instance's element of the list it maps over (undefined when not mapped).
      item: ctx.template.item,
      tryNumber: ctx.tryNumber,
      logicalDate: ctx.run.logicalDate,
      dataIntervalStart: ctx.run.dataIntervalStart,
      dataIntervalEnd: ctx.run.dataIntervalEnd,
      ds: ctx.run.logicalDate.toISOString().slice(0, 10),
      params,
      conf: ctx.run.conf,
      signal: ctx.signal,
      log: (...args) =>
        ctx.log(`${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}\n`),
      pull: async (task) => (await ctx.pullXcom(task.id, 'return_value')) as never,
      pullKey: async (taskId, key) => (await ctx.pullXcom(taskId, key)) as never,
      push: (key, value) => ctx.pushXcom(key, value),
    };
    // The function runs in this process and cannot be killed: the try ends when it is aborted
    // (timeout, cleared, marked), and its signal tells the code to stop; code that does not
    // watch it runs on, and the log says so.
    const running = Promise.resolve().then(() => fn(taskContext));
    const abort = new Promise<never>((_, reject) => {
      const stop = () => {
        void running.then(
          () => ctx.log('note: the function returned after its try had ended\n'),
          () => {},
        );
        ctx.log(
          `stopping: ${(ctx.signal.reason as Error)?.message ?? 'aborted'}; a function task cannot be killed, only signalled (ctx.signal): code that does not watch it goes on running in the worker\n`,
        );
        reject(ctx.signal.reason);
      };
      if (ctx.signal.aborted) stop();
      else ctx.signal.addEventListener('abort', stop, { once: true });
    });
    const started = performance.now();
    const result = await Promise.race([running, abort]);
    // Past its timeout, yet the timer did not fire: the worker's event loop was blocked (by this
    // function, most likely, if it never yields), and that blocks every task of the worker.
    const took = performance.now() - started;
    if (ctx.task.timeoutMs != null && took >= ctx.task.timeoutMs)
      throw new TaskFailure(
        `timed out after ${ctx.task.timeoutMs} ms: the function ran for ${Math.round(took)} ms while the worker's event loop was blocked (a function that never yields blocks every task of its worker; run CPU-bound work as a shell or k8sPod task)`,
      );
    return { result };
  };
}
