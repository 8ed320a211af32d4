import { describe, expect, it } from 'vitest';
import { dag } from './index.ts';
import { dagFromYaml } from './yaml.ts';

const configOf = (d: ReturnType<typeof dag>, taskId: string) =>
  d.toSpec().tasks.find((t) => t.taskId === taskId)!;

describe('sensor and HTTP job builders', () => {
  const built = dag({ id: 'sensors', team: 'data-eng' }, (d) => {
    d.sensor.check('ready', () => ({ done: true, value: 1 }), {
      mode: 'reschedule',
      pokeInterval: '30s',
      timeout: '2h',
      executionTimeout: '1m',
      retries: 2,
    });
    d.sensor.externalTask('upstream', { dagId: 'other', taskId: 'load', executionDelta: '1d' });
    d.sensor.http('api', { url: 'https://x/{{ ds }}', expect: { field: 'state', equals: 'ok' } });
    d.sensor.http('api_fn', { url: 'https://x', check: (r) => r.status === 204 });
    d.sensor.sql('rows', { connEnv: 'WAREHOUSE_URL', query: 'select 1', softFail: true });
    d.sensor.file('arrived', { path: '/in/*.csv', exponentialBackoff: true, maxWait: '10m' });
    d.httpJob('job', {
      start: { url: 'https://jobs/start', body: { day: '{{ ds }}' } },
      status: { url: 'https://jobs/{{ job.id }}', resultField: 'output' },
      pollInterval: '15s',
      timeout: '3h',
    });
  });

  it.each([
    [
      'ready',
      { kind: 'check', mode: 'reschedule', pokeIntervalMs: 30_000, timeoutMs: 7_200_000 },
      { retries: 2, timeoutMs: 60_000 },
    ],
    [
      'upstream',
      {
        kind: 'externalTask',
        externalDagId: 'other',
        externalTaskId: 'load',
        executionDeltaMs: 86_400_000,
      },
      { timeoutMs: null },
    ],
    [
      'api',
      { kind: 'http', url: 'https://x/{{ ds }}', expect: { field: 'state', equals: 'ok' } },
      {},
    ],
    ['api_fn', { kind: 'http', url: 'https://x', predicate: true }, {}],
    ['rows', { kind: 'sql', connEnv: 'WAREHOUSE_URL', query: 'select 1', softFail: true }, {}],
    [
      'arrived',
      { kind: 'file', path: '/in/*.csv', exponentialBackoff: true, maxWaitMs: 600_000 },
      {},
    ],
    [
      'job',
      {
        pollIntervalMs: 15_000,
        timeoutMs: 10_800_000,
        status: { url: 'https://jobs/{{ job.id }}', resultField: 'output' },
      },
      { type: 'httpJob' },
    ],
  ])('%s', (taskId, config, task) => {
    const spec = configOf(built, taskId);
    expect(spec.config).toMatchObject(config);
    expect(spec).toMatchObject(task);
  });

  it('keeps check functions and HTTP predicates for the worker', () => {
    expect(built.functionOf('ready')).toBeTypeOf('function');
    expect(built.functionOf('api_fn')).toBeTypeOf('function');
  });

  it('names the DAG, task and field of a bad duration', () => {
    expect(() =>
      dag({ id: 'bad', team: 't' }, (d) =>
        d.sensor.file('f', { path: '/x', pokeInterval: 'soon' }),
      ),
    ).toThrow(/DAG "bad": task "f": field "pokeInterval"/);
  });
});

describe('YAML sensors and HTTP jobs', () => {
  it('builds the same specs as the SDK', () => {
    const d = dagFromYaml(
      `
id: yaml_sensors
team: data-eng
tasks:
  - id: arrived
    timeout: 1m
    sensor: { kind: file, path: /in/x.csv, mode: reschedule, pokeInterval: 30s, timeout: 2h }
  - id: upstream
    sensor: { kind: externalTask, dagId: other }
  - id: job
    upstream: [arrived, upstream]
    httpJob:
      start: { url: "https://jobs/start", headers: { Authorization: "Bearer \${TOKEN}" } }
      status: { url: "https://jobs/{{ job.id }}", done: [DONE] }
      pollInterval: 10s
`,
      'sensors.yaml',
    );
    const arrived = configOf(d, 'arrived');
    expect(arrived.timeoutMs).toBe(60_000);
    expect(arrived.config).toMatchObject({
      kind: 'file',
      mode: 'reschedule',
      pokeIntervalMs: 30_000,
      timeoutMs: 7_200_000,
    });
    expect(configOf(d, 'upstream').config).toMatchObject({
      kind: 'externalTask',
      externalDagId: 'other',
    });
    const job = configOf(d, 'job');
    expect(job.upstream).toEqual(['arrived', 'upstream']);
    expect(job.config).toMatchObject({
      pollIntervalMs: 10_000,
      status: { done: ['DONE'] },
    });
  });

  it.each([
    [
      'sensor: { kind: check }',
      /field "sensor.kind": must be one of externalTask, http, sql, file/,
    ],
    [
      'sensor: { kind: file, path: /x, url: y }',
      /field "sensor.url": unknown field for a file sensor/,
    ],
    ['sensor: { kind: sql, query: "select 1" }', /task "s": field "config.connEnv"/],
  ])('%s is rejected', (task, message) => {
    expect(() => dagFromYaml(`id: y\nteam: t\ntasks:\n  - id: s\n    ${task}\n`, 'y.yaml')).toThrow(
      message,
    );
  });
});
