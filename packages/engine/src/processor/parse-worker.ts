/**
 * Parse thread: loads DAG files and posts back their validated specs. Running user code here keeps
 * a DAG file that loops forever, throws at import or calls process.exit away from the scheduler.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DagValidationError } from '@updraft/core/dag';
import { loadDagFile } from './load.ts';
import type { ParseMessage } from './parse.ts';

const { files } = workerData as { files: string[] };

for (const fileloc of files) {
  let message: ParseMessage;
  try {
    const loaded = await loadDagFile(fileloc);
    const specs = [];
    for (const dag of loaded.dags) specs.push(dag.toSpec({ fileloc }));
    message = { kind: 'ok', fileloc, sourceHash: loaded.sourceHash, specs };
  } catch (error) {
    message = {
      kind: 'error',
      fileloc,
      // Errors the SDK throws while the file builds its DAG (a duplicate task id) name no file.
      message:
        error instanceof DagValidationError
          ? error.message.startsWith(fileloc)
            ? error.message
            : `${fileloc}: ${error.message}`
          : `${fileloc}: failed to load: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      issues: error instanceof DagValidationError ? error.issues : [],
    };
  }
  try {
    parentPort!.postMessage(message);
  } catch (error) {
    // Something in the specs cannot be copied to the processor (validation should have said).
    parentPort!.postMessage({
      kind: 'error',
      fileloc,
      message: `${fileloc}: the DAG cannot be passed on: ${(error as Error).message}`,
      issues: [],
    } satisfies ParseMessage);
  }
}
