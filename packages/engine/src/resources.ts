/**
 * What every engine system receives instead of reaching for globals: the database, a clock, a
 * logger, an in-process event bus and the environment name. Tests pass a fake clock.
 */
import { EventEmitter } from 'node:events';
import type { TimetableRegistry } from '@updraft/core/timetable';
import type { DatabaseHandle } from '@updraft/db';
import type { Logger } from 'pino';
import type { StateChange } from './transitions.ts';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Typed in-process notifications that side effects (metrics, alerts, callbacks) subscribe to. */
export interface EngineEventMap {
  stateChanges: [changes: StateChange[]];
}

export class EngineEvents extends EventEmitter<EngineEventMap> {}

export interface EngineResources {
  database: DatabaseHandle;
  clock: Clock;
  logger: Logger;
  events: EngineEvents;
  /** local | dev | qa | prod */
  environment: string;
  /** Timetables DAGs may name (built-ins plus the deployment's own); default the built-ins. */
  timetables?: TimetableRegistry;
}

/** NOTIFY channels. */
export const CHANNELS = {
  /** Task instances were queued: workers should claim. */
  taskQueued: 'updraft_task_queued',
  /** Runs were created, finished or cleared: schedulers should look now. */
  scheduler: 'updraft_scheduler',
} as const;
