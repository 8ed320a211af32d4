export {
  createLogger,
  loadTeamsFile,
  type OpenEngineOptions,
  onShutdown,
  openEngine,
  redactUrl,
} from './bootstrap.ts';
export { ConfigError, envFields, parseEnv, releaseVersion } from './config.ts';
export { Operations, type TriggerOptions } from './ops/index.ts';
export { DagProcessor, type DagProcessorOptions, type SyncReport } from './processor/index.ts';
export {
  CHANNELS,
  type Clock,
  EngineEvents,
  type EngineResources,
  systemClock,
} from './resources.ts';
export { type PassReport, Scheduler, type SchedulerOptions } from './scheduler/index.ts';
export { syncTeams } from './teams.ts';
export type { StateChange } from './transitions.ts';
export {
  createTaskPodExecutor,
  databaseUrlFromSecret,
  type TaskPodOptions,
  teamExecutorsFromTeams,
} from './worker/executors/task-pod.ts';
export {
  type ExecutionContext,
  type Executor,
  TaskFailure,
  Worker,
  type WorkerOptions,
} from './worker/index.ts';
export { maskSensitiveFields } from './worker/secrets.ts';
