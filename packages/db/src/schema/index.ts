export * from './dag.ts';
export * from './dag-run.ts';
export * from './event.ts';
export * from './task-instance.ts';
export * from './team.ts';
