import { describe, expect, it } from 'vitest';
import { validateDagSpec } from './dag.ts';
import {
  externalFailedStates,
  httpJobConfigSchema,
  jsonPath,
  pokeDelay,
  sensorConfigSchema,
} from './sensors.ts';

describe('pokeDelay', () => {
  const plain = { pokeIntervalMs: 1000, exponentialBackoff: false, maxWaitMs: null };
  const backoff = { ...plain, exponentialBackoff: true };
  it.each([
    ['plain, 1st check', plain, 1, 1000],
    ['plain, 5th check', plain, 5, 1000],
    ['backoff, 1st check', backoff, 1, 1000],
    ['backoff, 2nd check', backoff, 2, 2000],
    ['backoff, 4th check', backoff, 4, 8000],
    ['backoff capped by maxWait', { ...backoff, maxWaitMs: 5000 }, 10, 5000],
    ['backoff from a zero interval', { ...backoff, pokeIntervalMs: 0 }, 3, 4],
  ])('%s', (_name, config, checks, delay) => {
    expect(pokeDelay(config, checks)).toBe(delay);
  });
});

describe('sensor configs', () => {
  it('fills Airflow defaults: poke mode, 60 s interval, 7 days timeout', () => {
    expect(sensorConfigSchema.parse({ kind: 'file', path: '/x' })).toEqual({
      kind: 'file',
      path: '/x',
      mode: 'poke',
      pokeIntervalMs: 60_000,
      timeoutMs: 7 * 24 * 3600 * 1000,
      exponentialBackoff: false,
      maxWaitMs: null,
      softFail: false,
    });
  });

  it.each([
    [{ externalTaskId: 'load', failedStates: null }, ['failed', 'upstream_failed']],
    [{ externalTaskId: null, failedStates: null }, ['failed']],
    [{ externalTaskId: 'load', failedStates: [] }, []],
  ])('external failed states of %j → %j', (config, states) => {
    expect(externalFailedStates(config)).toEqual(states);
  });

  it('HTTP jobs wait in reschedule mode by default', () => {
    const config = httpJobConfigSchema.parse({ start: { url: 'u' }, status: { url: 's' } });
    expect([config.mode, config.start.method, config.status.field]).toEqual([
      'reschedule',
      'POST',
      'status',
    ]);
  });

  it('bad sensor configs are reported with DAG, task and field', () => {
    const task = {
      taskId: 'wait',
      type: 'sensor',
      upstream: [],
      retries: 0,
      retryDelayMs: 0,
      retryExponentialBackoff: false,
      maxRetryDelayMs: null,
      timeoutMs: null,
      triggerRule: 'all_success',
      priorityWeight: 1,
      weightRule: 'downstream',
      pool: 'default_pool',
      doc: null,
    };
    const spec = (config: Record<string, unknown>) => ({
      dagId: 'd',
      team: 't',
      description: null,
      tags: [],
      schedule: null,
      timezone: 'UTC',
      startDate: null,
      endDate: null,
      catchup: false,
      maxActiveRuns: 1,
      maxActiveTasks: 1,
      params: {},
      tasks: [{ ...task, config }],
    });
    expect(() =>
      validateDagSpec(spec({ kind: 'sql', connEnv: 'postgres://x', query: 'select 1' })),
    ).toThrow(/DAG "d": task "wait": field "config.connEnv": must be an environment variable name/);
    expect(() => validateDagSpec(spec({ kind: 'file', path: '/x', mode: 'soon' }))).toThrow(
      /task "wait": field "config.mode"/,
    );
  });
});

describe('jsonPath', () => {
  it.each([
    [{ a: { b: 1 } }, 'a.b', 1],
    [{ a: [{ b: 2 }] }, 'a.0.b', 2],
    [{ a: 1 }, 'a.b', undefined],
    ['text', 'a', undefined],
  ])('%j at %s → %j', (value, path, expected) => {
    expect(jsonPath(value, path)).toEqual(expected);
  });
});
