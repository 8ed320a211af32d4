import { DagValidationError } from '@updraft/core/dag';
import { describe, expect, it } from 'vitest';
import { dag, isDag, param, type Task } from './index.ts';
import { dagFromYaml } from './yaml.ts';

const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (error instanceof DagValidationError)
      return { message: error.message, issues: error.issues };
    throw error;
  }
  throw new Error('expected a DagValidationError');
};

describe('dag()', () => {
  it('builds a spec with defaults, typed dependencies and effective options', () => {
    const d = dag(
      {
        id: 'etl',
        team: 'data-eng',
        schedule: '@daily',
        startDate: new Date('2026-01-01T00:00:00Z'),
        defaults: { retries: 2, retryDelay: '30s' },
      },
      (b) => {
        const a = b.shell('a', { command: 'echo a', timeout: '5m' });
        const c = b.fn('c', async () => 1, { retries: 0 });
        const h = b.http('h', { url: 'https://example.test/x', method: 'POST', body: { x: 1 } });
        a.then(c).then(h);
      },
    );
    expect(isDag(d)).toBe(true);
    const spec = d.toSpec();
    expect(spec).toMatchObject({
      dagId: 'etl',
      team: 'data-eng',
      schedule: '@daily',
      startDate: '2026-01-01T00:00:00.000Z',
      catchup: false,
    });
    expect(
      spec.tasks.map((t) => [t.taskId, t.type, t.upstream, t.retries, t.retryDelayMs, t.timeoutMs]),
    ).toEqual([
      ['a', 'shell', [], 2, 30_000, 300_000],
      ['c', 'function', ['a'], 0, 30_000, null],
      ['h', 'http', ['c'], 2, 30_000, null],
    ]);
    expect(spec.tasks[2]!.config).toEqual({
      method: 'POST',
      url: 'https://example.test/x',
      responseAs: 'json',
      body: { x: 1 },
    });
    expect(d.functionOf('c')).toBeTypeOf('function');
    expect(d.functionOf('a')).toBeUndefined();
  });

  it('accepts upstream lists and after()', () => {
    const spec = dag({ id: 'fan', team: 't' }, (b) => {
      const x = b.shell('x', { command: 'true' });
      const y = b.shell('y', { command: 'true' });
      b.shell('z', { command: 'true', upstream: [x] }).after(y);
    }).toSpec();
    expect(spec.tasks.find((t) => t.taskId === 'z')!.upstream).toEqual(['x', 'y']);
  });

  it('names the DAG and task of a duplicate task id', () => {
    const { issues } = issuesOf(() =>
      dag({ id: 'dup', team: 't' }, (b) => {
        b.shell('same', { command: 'true' });
        b.shell('same', { command: 'true' });
      }),
    );
    expect(issues).toEqual([{ dagId: 'dup', taskId: 'same', message: 'duplicate task id' }]);
  });

  it('reports a cycle built from typed references with the file, DAG and path', () => {
    const d = dag({ id: 'loop', team: 't' }, (b) => {
      const a = b.shell('a', { command: 'true' });
      const c = b.shell('c', { command: 'true' });
      a.then(c).then(a);
    });
    const { message } = issuesOf(() => d.toSpec({ fileloc: 'dags/loop.ts' }));
    expect(message).toMatch(
      /^dags\/loop\.ts: DAG "loop": task "[ac]": (field "upstream": )?cycle detected: (a → c → a|c → a → c)$/,
    );
  });

  it('refuses dependencies across DAGs', () => {
    let foreign: Task | undefined;
    dag({ id: 'other', team: 't' }, (b) => {
      foreign = b.shell('o', { command: 'true' });
    });
    const { issues } = issuesOf(() =>
      dag({ id: 'mine', team: 't' }, (b) => {
        b.shell('m', { command: 'true', upstream: [foreign!] });
      }),
    );
    expect(issues).toEqual([
      {
        dagId: 'mine',
        taskId: 'm',
        field: 'upstream',
        message: 'task "o" belongs to DAG "other"; dependencies must stay within one DAG',
      },
    ]);
  });

  it('names the field of a bad duration and a bad schedule', () => {
    const bad = dag({ id: 'bad', team: 't', schedule: '0 25 * * *' }, (b) => {
      b.shell('s', { command: 'true', retryDelay: 'soon' });
    });
    const { issues } = issuesOf(() => bad.toSpec());
    expect(issues).toEqual([
      expect.objectContaining({
        dagId: 'bad',
        taskId: 's',
        field: 'retryDelay',
        message: expect.stringContaining('"soon" is not a duration'),
      }),
    ]);
    const badSchedule = dag({ id: 'bad2', team: 't', schedule: '0 25 * * *' }, (b) => {
      b.shell('s', { command: 'true' });
    });
    expect(issuesOf(() => badSchedule.toSpec()).issues).toEqual([
      expect.objectContaining({
        dagId: 'bad2',
        field: 'schedule',
        message: expect.stringContaining('invalid cron expression "0 25 * * *"'),
      }),
    ]);
  });

  it('splits params into defaults and rules, and rejects a default that breaks its rule', () => {
    const spec = dag(
      {
        id: 'p',
        team: 't',
        params: {
          plain: 1,
          region: param({ enum: ['emea', 'us'], default: 'us' }),
          owner: param({ type: 'string', required: true }),
        },
      },
      (b) => {
        b.shell('s', { command: 'true' });
      },
    ).toSpec();
    expect(spec.params).toEqual({ plain: 1, region: 'us' });
    expect(spec.paramRules).toEqual({
      region: { enum: ['emea', 'us'] },
      owner: { type: 'string', required: true },
    });
    const bad = dag(
      { id: 'bad_param', team: 't', params: { n: param({ type: 'integer', default: 'x' }) } },
      (b) => {
        b.shell('s', { command: 'true' });
      },
    );
    expect(issuesOf(() => bad.toSpec()).issues).toEqual([
      {
        dagId: 'bad_param',
        field: 'params.n',
        message: 'default must be of type integer, got string',
      },
    ]);
    const scheduled = dag(
      { id: 'sched', team: 't', schedule: '@daily', params: { owner: param({ required: true }) } },
      (b) => {
        b.shell('s', { command: 'true' });
      },
    );
    expect(issuesOf(() => scheduled.toSpec()).issues).toEqual([
      expect.objectContaining({
        dagId: 'sched',
        field: 'params.owner',
        message: expect.stringContaining('scheduled runs use the defaults'),
      }),
    ]);
  });

  it('makes awaiting a task a clear error rather than a hang', async () => {
    let task: unknown;
    dag({ id: 'await', team: 't' }, (b) => {
      task = b.shell('s', { command: 'true' });
    });
    await expect(Promise.resolve().then(() => task)).rejects.toThrow(/task "s" is not a promise/);
  });
});

describe('dagFromYaml', () => {
  it('builds the same spec shape as TypeScript, with string upstreams', () => {
    const d = dagFromYaml(
      `id: report
team: analytics
schedule: "0 6 * * 1"
timezone: America/New_York
defaults: { retries: 1 }
tasks:
  - id: fetch
    shell: echo fetch
  - id: publish
    upstream: [fetch]
    http: { method: POST, url: "https://example.test/publish" }
    retries: 3
`,
      'report.yaml',
    );
    const spec = d.toSpec();
    expect(spec.tasks.map((t) => [t.taskId, t.type, t.upstream, t.retries])).toEqual([
      ['fetch', 'shell', [], 1],
      ['publish', 'http', ['fetch'], 3],
    ]);
    expect(spec.timezone).toBe('America/New_York');
  });

  it.each([
    ['invalid YAML', 'id: [unclosed', /report\.yaml: invalid YAML/],
    [
      'a task without a kind',
      'id: r\nteam: t\ntasks:\n  - id: x\n',
      /task "x".*exactly one of "shell", "http", "k8sPod"/,
    ],
    [
      'an unknown upstream',
      'id: r\nteam: t\ntasks:\n  - id: x\n    shell: echo\n    upstream: [nope]\n',
      /DAG "r": task "x": field "upstream": unknown upstream task "nope"/,
    ],
    [
      'an unknown key',
      'id: r\nteam: t\nschedul: "@daily"\ntasks:\n  - id: x\n    shell: echo\n',
      /schedul/,
    ],
    ['a missing team', 'id: r\ntasks:\n  - id: x\n    shell: echo\n', /DAG "r": field "team"/],
  ])('reports %s naming file, DAG and task', (_name, text, message) => {
    expect(issuesOf(() => dagFromYaml(text, 'report.yaml')).message).toMatch(message);
  });
});
