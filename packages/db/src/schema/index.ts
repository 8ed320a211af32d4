export * from './backfill.ts';
export * from './callback.ts';
export * from './dag.ts';
export * from './dag-run.ts';
export * from './event.ts';
export * from './pool.ts';
export * from './task-instance.ts';
export * from './team.ts';
