/**
 * Pools, limits, callbacks and deadlines in the SDK and YAML: what lands in the spec, DAG defaults
 * for task callbacks, function callbacks found again by their key, and errors naming the field.
 */
import { DagValidationError } from '@updraft/core/dag';
import { describe, expect, it } from 'vitest';
import { callbackFunction, dag, webhook } from './index.ts';
import { dagFromYaml } from './yaml.ts';

// biome-ignore lint/suspicious/noTemplateCurlyInString: the placeholder as users write it
const TOKEN = '${TOKEN}';

describe('pool slots, limits, callbacks and deadlines in the spec', () => {
  const alert = () => {};
  const page = () => {};
  const d = dag(
    {
      id: 'cb',
      team: 'data-eng',
      maxActiveTasksPerRun: 3,
      onFailure: [alert, webhook({ url: `https://hooks.example/${TOKEN}`, timeout: '5s' })],
      deadline: { after: '30m', callback: page },
      defaults: { onFailure: alert, onRetry: alert, pool: 'etl', poolSlots: 2 },
    },
    (d) => {
      d.shell('a', { command: 'true' });
      d.shell('b', {
        command: 'true',
        poolSlots: 1,
        maxActiveTisPerDag: 1,
        maxActiveTisPerDagrun: 1,
        onFailure: webhook({ url: 'http://x/', method: 'PUT', headers: { a: 'b' } }),
        onSuccess: page,
      });
    },
  );
  const spec = d.toSpec();

  it('stores pool slots and limits, with defaults', () => {
    expect(spec.maxActiveTasksPerRun).toBe(3);
    expect(
      spec.tasks.map((t) => [
        t.taskId,
        t.pool,
        t.poolSlots,
        t.maxActiveTisPerDag,
        t.maxActiveTisPerDagrun,
      ]),
    ).toEqual([
      ['a', 'etl', 2, null, null],
      ['b', 'etl', 1, 1, 1],
    ]);
    const plain = dag({ id: 'p', team: 't' }, (d) => d.shell('x', { command: 'true' })).toSpec();
    expect(plain.maxActiveTasksPerRun).toBeNull();
    expect(plain.tasks[0]).toMatchObject({ pool: 'default_pool', poolSlots: 1, callbacks: {} });
    expect(plain.deadline).toBeNull();
  });

  it('stores callbacks as keys and webhooks; a task option overrides the default', () => {
    expect(spec.callbacks).toEqual({
      onFailure: [
        { kind: 'function', ref: 'dag:onFailure:0' },
        { kind: 'http', method: 'POST', url: `https://hooks.example/${TOKEN}`, timeoutMs: 5000 },
      ],
    });
    expect(spec.tasks[0]!.callbacks).toEqual({
      onFailure: [{ kind: 'function', ref: 'task:a:onFailure:0' }],
      onRetry: [{ kind: 'function', ref: 'task:a:onRetry:0' }],
    });
    expect(spec.tasks[1]!.callbacks).toEqual({
      onSuccess: [{ kind: 'function', ref: 'task:b:onSuccess:0' }],
      onFailure: [{ kind: 'http', method: 'PUT', url: 'http://x/', headers: { a: 'b' } }],
      onRetry: [{ kind: 'function', ref: 'task:b:onRetry:0' }],
    });
    expect(spec.deadline).toEqual({
      reference: 'data_interval_end',
      afterMs: 1_800_000,
      callbacks: [{ kind: 'function', ref: 'dag:deadline:0' }],
    });
  });

  it('finds a function callback again by its key', () => {
    expect(callbackFunction(d, 'task:b:onSuccess:0')).toBe(page);
    expect(callbackFunction(d, 'dag:deadline:0')).toBe(page);
    expect(callbackFunction(d, 'dag:onFailure:0')).toBe(alert);
    expect(callbackFunction(d, 'nope')).toBeUndefined();
  });

  const cases: [string, () => unknown, RegExp][] = [
    [
      'a bad deadline',
      () =>
        dag({ id: 'x', team: 't', deadline: { after: 'soon', callback: alert } }, (d) =>
          d.shell('a', { command: 'true' }),
        ).toSpec(),
      /DAG "x": field "deadline.after": "soon" is not a duration/,
    ],
    [
      'a callback that is neither function nor webhook',
      () =>
        dag({ id: 'x', team: 't' }, (d) =>
          d.shell('a', { command: 'true', onFailure: 'oops' as never }),
        ).toSpec(),
      /DAG "x": task "a": field "onFailure": a callback must be a function or webhook/,
    ],
    [
      'zero pool slots',
      () =>
        dag({ id: 'x', team: 't' }, (d) =>
          d.shell('a', { command: 'true', poolSlots: 0 }),
        ).toSpec(),
      /DAG "x": task "a": field "poolSlots"/,
    ],
  ];
  it.each(cases)('rejects %s, naming the field', (_, build, message) => {
    expect(build).toThrow(DagValidationError);
    expect(build).toThrow(message);
  });
});

describe('YAML', () => {
  it('reads pool slots, limits, webhook callbacks and deadlines', () => {
    const spec = dagFromYaml(
      `id: y
team: data-eng
maxActiveTasksPerRun: 2
onFailure: { http: { url: "https://hooks.example/fail", headers: { authorization: "Bearer \${TOKEN}" } } }
deadline: { after: 1h, reference: logical_date, callback: [{ http: { url: "https://hooks.example/late" } }] }
defaults: { onRetry: { http: { url: "https://hooks.example/retry", method: PUT } } }
tasks:
  - id: a
    shell: "true"
    pool: etl
    poolSlots: 3
    maxActiveTisPerDagrun: 1
`,
      'y.yaml',
    ).toSpec();
    expect(spec.maxActiveTasksPerRun).toBe(2);
    expect(spec.tasks[0]).toMatchObject({
      pool: 'etl',
      poolSlots: 3,
      maxActiveTisPerDagrun: 1,
      callbacks: { onRetry: [{ kind: 'http', method: 'PUT', url: 'https://hooks.example/retry' }] },
    });
    expect(spec.callbacks.onFailure).toEqual([
      {
        kind: 'http',
        method: 'POST',
        url: 'https://hooks.example/fail',
        headers: { authorization: `Bearer ${TOKEN}` },
      },
    ]);
    expect(spec.deadline).toEqual({
      reference: 'logical_date',
      afterMs: 3_600_000,
      callbacks: [{ kind: 'http', method: 'POST', url: 'https://hooks.example/late' }],
    });
  });

  it('names the task and field of a bad callback', () => {
    expect(() =>
      dagFromYaml(
        'id: y\nteam: t\ntasks:\n  - id: a\n    shell: "true"\n    onFailure: { email: x }\n',
        'y.yaml',
      ),
    ).toThrow(/y\.yaml: DAG "y": task "a": field "onFailure/);
  });
});
