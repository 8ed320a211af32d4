// The parse thread's entry, in JavaScript so that nothing is type-stripped before the thread
// uses the compile cache the main thread uses (if it does): the thread then loads the engine's
// modules and unchanged DAG files already stripped and compiled, without loading the TypeScript
// stripper (bench W6: the first parse at start-up set the standalone's peak memory).
import { enableCompileCache } from 'node:module';
import { workerData } from 'node:worker_threads';

if (workerData?.compileCacheDir) enableCompileCache?.(workerData.compileCacheDir);
await import('./parse-worker.ts');
