/**
 * Parses DAG files in a worker thread with a per-file time limit. A file that hangs is reported
 * as an import error, the thread is replaced, and the remaining files are still parsed.
 */
import { getCompileCacheDir } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { DagIssue, DagSpec } from '@updraft/core/dag';

export type ParseMessage =
  | { kind: 'ok'; fileloc: string; sourceHash: string; specs: DagSpec[] }
  | { kind: 'error'; fileloc: string; message: string; issues: DagIssue[] };

const WORKER_URL = new URL('./parse-worker-entry.js', import.meta.url);

export async function parseDagFiles(
  files: readonly string[],
  timeoutMs: number,
  /** The thread uses this compile cache (default: the main thread's, if it has one). */
  compileCacheDir: string | undefined = getCompileCacheDir?.(),
): Promise<ParseMessage[]> {
  const results: ParseMessage[] = [];
  let remaining = [...files];
  while (remaining.length > 0) {
    const batch = remaining;
    const done = await parseBatch(batch, timeoutMs, compileCacheDir);
    results.push(...done.results);
    remaining = batch.slice(done.results.length + (done.timedOut ? 1 : 0));
    if (done.timedOut) {
      const fileloc = batch[done.results.length]!;
      results.push({
        kind: 'error',
        fileloc,
        message: `${fileloc}: loading took longer than ${timeoutMs} ms and was stopped (an endless loop or slow work at import time?)`,
        issues: [],
      });
    } else if (done.crashed) {
      const fileloc = batch[done.results.length];
      if (fileloc) {
        results.push({
          kind: 'error',
          fileloc,
          message: `${fileloc}: ${done.crashed}`,
          issues: [],
        });
        remaining = batch.slice(done.results.length + 1);
      }
    }
  }
  return results;
}

function parseBatch(
  files: string[],
  timeoutMs: number,
  compileCacheDir: string | undefined,
): Promise<{ results: ParseMessage[]; timedOut: boolean; crashed: string | null }> {
  return new Promise((resolve) => {
    const results: ParseMessage[] = [];
    const worker = new Worker(WORKER_URL, {
      workerData: { files, compileCacheDir },
      stdout: true,
      stderr: true,
    });
    // Output printed by DAG files at import time is dropped, not mixed into the scheduler's log.
    worker.stdout.resume();
    worker.stderr.resume();
    let settled = false;
    let timer: NodeJS.Timeout;
    const finish = (timedOut: boolean, crashed: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      resolve({ results, timedOut, crashed });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(true, null), timeoutMs);
    };
    arm();
    worker.on('message', (message: ParseMessage) => {
      results.push(message);
      if (results.length === files.length) finish(false, null);
      else arm();
    });
    worker.on('error', (error) => finish(false, `the file crashed its parser: ${error.message}`));
    worker.on('exit', (code) => {
      if (results.length < files.length)
        finish(false, `the file stopped its parser (exit code ${code})`);
    });
  });
}
