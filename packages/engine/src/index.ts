export { DagProcessor, type DagProcessorOptions, type SyncReport } from './processor/index.ts';
export { Operations, type TriggerOptions } from './ops/index.ts';
export {
  CHANNELS,
  type Clock,
  EngineEvents,
  type EngineResources,
  systemClock,
} from './resources.ts';
export { Scheduler, type SchedulerOptions, type PassReport } from './scheduler/index.ts';
export type { StateChange } from './transitions.ts';
export { Worker, type WorkerOptions, TaskFailure, type Executor, type ExecutionContext } from './worker/index.ts';
export { syncTeams } from './teams.ts';
export { createLogger, loadTeamsFile, openEngine, type OpenEngineOptions, redactUrl } from './bootstrap.ts';
export { ConfigError, envFields, parseEnv } from './config.ts';
