/**
 * Task-instance and DAG-run states as data, and the one transition table every state change goes
 * through. The same table is installed in the database (a trigger rejects any other change), so an
 * illegal transition is impossible rather than merely logged.
 *
 *                ┌──────────── clear (any finished state → none) ─────────────┐
 *                ▼                                                            │
 *   none ──► scheduled ──► queued ──► running ──► success ────────────────────┤
 *    │           │            │          ├──────► failed ─────────────────────┤
 *    │           │            │          ├──────► up_for_retry ──► scheduled  │
 *    │           │            │          ├──────► up_for_reschedule ─► sched. │
 *    │           │            │          └─(clear)► restarting ──► none       │
 *    ├──► skipped / upstream_failed (decided from upstream states) ───────────┘
 *    └──► removed (task no longer in the DAG version)
 */
import { DomainError } from './errors.ts';

export const TASK_STATES = [
  'none',
  'scheduled',
  'queued',
  'running',
  'success',
  'failed',
  'up_for_retry',
  'up_for_reschedule',
  'upstream_failed',
  'skipped',
  'removed',
  'deferred',
  'restarting',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** Finished: nothing more will happen to this try unless someone clears it. */
export const TERMINAL_TASK_STATES: ReadonlySet<TaskState> = new Set([
  'success',
  'failed',
  'upstream_failed',
  'skipped',
  'removed',
]);
/** Still has work ahead of it in this run. */
export const UNFINISHED_TASK_STATES: ReadonlySet<TaskState> = new Set(
  TASK_STATES.filter((s) => !TERMINAL_TASK_STATES.has(s)),
);
/** Occupies (or is about to occupy) a worker slot: counted against concurrency limits. */
export const ACTIVE_TASK_STATES: ReadonlySet<TaskState> = new Set(['queued', 'running']);
/** Leaf states that make a run fail / succeed (Airflow's failed_states / success_states). */
export const FAILED_TASK_STATES: ReadonlySet<TaskState> = new Set(['failed', 'upstream_failed']);
export const SUCCEEDED_TASK_STATES: ReadonlySet<TaskState> = new Set(['success', 'skipped']);

/**
 * from → allowed next states. Manual operations (mark success/failed, clear) are ordinary
 * transitions here, so the API cannot do anything the engine could not.
 */
export const TASK_TRANSITIONS: { readonly [S in TaskState]: readonly TaskState[] } = {
  none: ['scheduled', 'queued', 'skipped', 'upstream_failed', 'removed', 'success', 'failed'],
  scheduled: ['queued', 'none', 'skipped', 'upstream_failed', 'removed', 'success', 'failed'],
  queued: [
    'running',
    'scheduled',
    'none',
    'failed',
    'up_for_retry',
    'success',
    'skipped',
    'removed',
  ],
  // running → queued: the try's worker was lost but its work (a pod) lives on; another worker adopts it.
  running: [
    'queued',
    'success',
    'failed',
    'up_for_retry',
    'up_for_reschedule',
    'deferred',
    'skipped',
    'restarting',
  ],
  up_for_retry: ['scheduled', 'queued', 'none', 'failed', 'success', 'skipped', 'removed'],
  up_for_reschedule: ['scheduled', 'queued', 'none', 'failed', 'success', 'skipped', 'removed'],
  deferred: ['scheduled', 'queued', 'none', 'failed', 'success', 'skipped', 'up_for_retry'],
  restarting: ['none', 'up_for_retry', 'failed', 'success'],
  success: ['none', 'failed'],
  failed: ['none', 'success'],
  upstream_failed: ['none', 'success', 'failed', 'skipped'],
  skipped: ['none', 'success', 'failed'],
  removed: ['none'],
};

export const RUN_STATES = ['queued', 'running', 'success', 'failed'] as const;
export type RunState = (typeof RUN_STATES)[number];
export const TERMINAL_RUN_STATES: ReadonlySet<RunState> = new Set(['success', 'failed']);
export const ACTIVE_RUN_STATES: ReadonlySet<RunState> = new Set(['queued', 'running']);

export const RUN_TRANSITIONS: { readonly [S in RunState]: readonly RunState[] } = {
  queued: ['running', 'success', 'failed'],
  running: ['success', 'failed', 'queued'],
  success: ['queued', 'failed'],
  failed: ['queued', 'success'],
};

export class IllegalTransitionError extends DomainError {
  constructor(kind: 'task instance' | 'dag run', from: string, to: string, subject: string) {
    super('illegal_transition', `${kind} ${subject} cannot go from ${from} to ${to}`, {
      from,
      to,
    });
  }
}

export function canTransitionTask(from: TaskState, to: TaskState): boolean {
  return TASK_TRANSITIONS[from].includes(to);
}

export function canTransitionRun(from: RunState, to: RunState): boolean {
  return RUN_TRANSITIONS[from].includes(to);
}

export function assertTaskTransition(from: TaskState, to: TaskState, subject: string): void {
  if (!canTransitionTask(from, to))
    throw new IllegalTransitionError('task instance', from, to, subject);
}

export function assertRunTransition(from: RunState, to: RunState, subject: string): void {
  if (!canTransitionRun(from, to)) throw new IllegalTransitionError('dag run', from, to, subject);
}

/** States from which `to` may be entered: used as the guard of a conditional UPDATE. */
export function taskPredecessors(to: TaskState): TaskState[] {
  return TASK_STATES.filter((from) => TASK_TRANSITIONS[from].includes(to));
}

export function runPredecessors(to: RunState): RunState[] {
  return RUN_STATES.filter((from) => RUN_TRANSITIONS[from].includes(to));
}

export function isTaskState(value: string): value is TaskState {
  return (TASK_STATES as readonly string[]).includes(value);
}

export function isRunState(value: string): value is RunState {
  return (RUN_STATES as readonly string[]).includes(value);
}

export const RUN_TYPES = ['scheduled', 'manual', 'backfill'] as const;
export type RunType = (typeof RUN_TYPES)[number];
