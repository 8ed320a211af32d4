import { describe, expect, it } from 'vitest';
import { DomainError } from './errors.ts';
import {
  ACTIVE_TASK_STATES,
  assertRunTransition,
  assertTaskTransition,
  canTransitionRun,
  canTransitionTask,
  FAILED_TASK_STATES,
  IllegalTransitionError,
  isRunState,
  isTaskState,
  RUN_STATES,
  RUN_TRANSITIONS,
  runPredecessors,
  SUCCEEDED_TASK_STATES,
  TASK_STATES,
  TASK_TRANSITIONS,
  type TaskState,
  TERMINAL_TASK_STATES,
  taskPredecessors,
  UNFINISHED_TASK_STATES,
} from './state.ts';

describe('task transition table', () => {
  it('has an entry for every task state and nothing else', () => {
    expect(Object.keys(TASK_TRANSITIONS).sort()).toEqual([...TASK_STATES].sort());
  });

  it.each(TASK_STATES)(
    '%s only leads to known states, without duplicates or self-loops',
    (from) => {
      const targets = TASK_TRANSITIONS[from];
      for (const to of targets) expect(TASK_STATES).toContain(to);
      expect(new Set(targets).size).toBe(targets.length);
      expect(targets).not.toContain(from);
    },
  );

  it.each([...TERMINAL_TASK_STATES])(
    'terminal %s can be cleared to none and otherwise only manually marked',
    (from) => {
      const targets = TASK_TRANSITIONS[from];
      expect(targets).toContain('none');
      for (const to of targets) expect(['none', 'success', 'failed', 'skipped']).toContain(to);
    },
  );

  it.each(TASK_STATES)('%s is reachable from none', (target) => {
    const seen = new Set<TaskState>(['none']);
    const todo: TaskState[] = ['none'];
    while (todo.length > 0) {
      for (const next of TASK_TRANSITIONS[todo.pop()!]) {
        if (!seen.has(next)) {
          seen.add(next);
          todo.push(next);
        }
      }
    }
    expect(seen.has(target)).toBe(true);
  });

  it.each<[TaskState, TaskState, boolean]>([
    ['none', 'scheduled', true],
    ['scheduled', 'queued', true],
    ['queued', 'running', true],
    ['running', 'success', true],
    ['running', 'up_for_retry', true],
    ['up_for_retry', 'scheduled', true],
    ['running', 'restarting', true],
    ['restarting', 'none', true],
    ['none', 'running', false],
    ['scheduled', 'running', false],
    ['running', 'none', false],
    // A lost worker's try is adopted by another worker.
    ['running', 'queued', true],
    ['success', 'running', false],
    ['failed', 'up_for_retry', false],
    ['removed', 'success', false],
    ['skipped', 'scheduled', false],
  ])('%s → %s allowed: %s', (from, to, allowed) => {
    expect(canTransitionTask(from, to)).toBe(allowed);
  });
});

describe('state sets', () => {
  it('terminal and unfinished partition the task states', () => {
    for (const s of TASK_STATES) {
      expect(TERMINAL_TASK_STATES.has(s)).toBe(!UNFINISHED_TASK_STATES.has(s));
    }
    expect(TERMINAL_TASK_STATES.size + UNFINISHED_TASK_STATES.size).toBe(TASK_STATES.length);
  });

  it('active states are unfinished; failed and succeeded leaf states are terminal and disjoint', () => {
    for (const s of ACTIVE_TASK_STATES) expect(UNFINISHED_TASK_STATES.has(s)).toBe(true);
    for (const s of [...FAILED_TASK_STATES, ...SUCCEEDED_TASK_STATES]) {
      expect(TERMINAL_TASK_STATES.has(s)).toBe(true);
    }
    for (const s of FAILED_TASK_STATES) expect(SUCCEEDED_TASK_STATES.has(s)).toBe(false);
  });
});

describe('assertTaskTransition', () => {
  it('accepts a legal transition', () => {
    expect(() => assertTaskTransition('queued', 'running', 'ti-1')).not.toThrow();
  });

  it('throws IllegalTransitionError naming subject, from and to', () => {
    let caught: unknown;
    try {
      assertTaskTransition('success', 'running', 'etl.load#3');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(IllegalTransitionError);
    expect(caught).toBeInstanceOf(DomainError);
    const error = caught as IllegalTransitionError;
    expect(error.code).toBe('illegal_transition');
    expect(error.name).toBe('IllegalTransitionError');
    expect(error.message).toBe('task instance etl.load#3 cannot go from success to running');
    expect(error.details).toEqual({ from: 'success', to: 'running' });
  });
});

describe('taskPredecessors', () => {
  it.each(TASK_STATES)('matches the table for %s', (to) => {
    const expected = TASK_STATES.filter((from) => TASK_TRANSITIONS[from].includes(to));
    expect(taskPredecessors(to)).toEqual(expected);
  });

  it('running is only entered from queued', () => {
    expect(taskPredecessors('running')).toEqual(['queued']);
  });

  it('none is entered from every state except none and running', () => {
    expect(taskPredecessors('none').sort()).toEqual(
      TASK_STATES.filter((s) => s !== 'none' && s !== 'running').sort(),
    );
  });

  it('queued is entered from none, scheduled, running (adoption) and the retry/deferral states', () => {
    expect(taskPredecessors('queued').sort()).toEqual(
      ['deferred', 'none', 'running', 'scheduled', 'up_for_reschedule', 'up_for_retry'].sort(),
    );
  });
});

describe('run transitions', () => {
  it('has an entry for every run state', () => {
    expect(Object.keys(RUN_TRANSITIONS).sort()).toEqual([...RUN_STATES].sort());
  });

  it.each<[(typeof RUN_STATES)[number], (typeof RUN_STATES)[number], boolean]>([
    ['queued', 'running', true],
    ['running', 'success', true],
    ['running', 'failed', true],
    ['success', 'queued', true],
    ['failed', 'queued', true],
    ['success', 'running', false],
    ['failed', 'running', false],
  ])('%s → %s allowed: %s', (from, to, allowed) => {
    expect(canTransitionRun(from, to)).toBe(allowed);
  });

  it('assertRunTransition throws with from and to in the message', () => {
    expect(() => assertRunTransition('success', 'running', 'run-7')).toThrow(
      'dag run run-7 cannot go from success to running',
    );
    expect(() => assertRunTransition('queued', 'running', 'run-7')).not.toThrow();
  });

  it('runPredecessors matches the table', () => {
    expect(runPredecessors('running')).toEqual(['queued']);
    expect(runPredecessors('queued').sort()).toEqual(['failed', 'running', 'success']);
  });
});

describe('type guards', () => {
  it.each([
    ['running', true],
    ['upstream_failed', true],
    ['RUNNING', false],
    ['', false],
    ['done', false],
  ])('isTaskState(%j) = %s', (value, expected) => {
    expect(isTaskState(value)).toBe(expected);
  });

  it.each([
    ['queued', true],
    ['success', true],
    ['skipped', false],
    ['none', false],
  ])('isRunState(%j) = %s', (value, expected) => {
    expect(isRunState(value)).toBe(expected);
  });
});
