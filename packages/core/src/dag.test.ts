import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  canonicalJson,
  type DagIssue,
  type DagSpec,
  DagValidationError,
  dagIssues,
  dagVersionHash,
  downstreamMap,
  effectivePriorities,
  findCycle,
  formatDagIssue,
  type TaskSpec,
  topologicalOrder,
  validateDagSpec,
} from './dag.ts';
import { InvalidError } from './errors.ts';

const taskSpec = (
  taskId: string,
  upstream: string[] = [],
  extra: Partial<TaskSpec> = {},
): TaskSpec => ({
  taskId,
  type: 'shell',
  upstream,
  retries: 0,
  retryDelayMs: 300_000,
  retryExponentialBackoff: false,
  maxRetryDelayMs: null,
  timeoutMs: null,
  triggerRule: 'all_success',
  priorityWeight: 1,
  weightRule: 'downstream',
  pool: 'default',
  poolSlots: 1,
  maxActiveTisPerDag: null,
  maxActiveTisPerDagrun: null,
  callbacks: {},
  expand: null,
  group: null,
  dependsOnPast: false,
  waitForDownstream: false,
  executor: null,
  doc: null,
  config: { command: `echo ${taskId}` },
  ...extra,
});

const dagSpec = (extra: Partial<DagSpec> = {}): DagSpec => ({
  dagId: 'etl',
  team: 'data',
  description: null,
  tags: [],
  schedule: '@daily',
  timetable: null,
  timezone: 'UTC',
  startDate: '2026-01-01',
  endDate: null,
  catchup: false,
  maxActiveRuns: 1,
  maxActiveTasks: 16,
  runTimeoutMs: null,
  maxActiveTasksPerRun: null,
  callbacks: {},
  deadline: null,
  paramRules: {},
  params: {},
  tasks: [taskSpec('extract'), taskSpec('load', ['extract'])],
  ...extra,
});

const issuesOf = (spec: unknown) => dagIssues(spec);

describe('dagIssues', () => {
  it('a valid spec has no issues and validateDagSpec returns it', () => {
    const spec = dagSpec();
    expect(issuesOf(spec)).toEqual([]);
    expect(validateDagSpec(spec)).toEqual(spec);
  });

  it.each<[string, DagSpec, DagIssue]>([
    [
      'cycle',
      dagSpec({ tasks: [taskSpec('a', ['b']), taskSpec('b', ['a'])] }),
      { dagId: 'etl', taskId: 'a', field: 'upstream', message: 'cycle detected: a → b → a' },
    ],
    [
      'duplicate task id',
      dagSpec({ tasks: [taskSpec('a'), taskSpec('a')] }),
      { dagId: 'etl', taskId: 'a', field: 'taskId', message: 'duplicate task id' },
    ],
    [
      'unknown upstream',
      dagSpec({ tasks: [taskSpec('a', ['ghost'])] }),
      { dagId: 'etl', taskId: 'a', field: 'upstream', message: 'unknown upstream task "ghost"' },
    ],
    [
      'self-dependency',
      dagSpec({ tasks: [taskSpec('a', ['a'])] }),
      { dagId: 'etl', taskId: 'a', field: 'upstream', message: 'a task cannot depend on itself' },
    ],
    [
      'bad schedule',
      dagSpec({ schedule: '61 * * * *' }),
      {
        dagId: 'etl',
        taskId: undefined,
        field: 'schedule',
        message: expect.stringContaining('"61 * * * *"'),
      },
    ],
    [
      'bad timezone',
      dagSpec({ timezone: 'Nowhere/City' }),
      {
        dagId: 'etl',
        taskId: undefined,
        field: 'timezone',
        message: expect.stringContaining('"Nowhere/City"'),
      },
    ],
    [
      'end before start',
      dagSpec({ startDate: '2026-02-01', endDate: '2026-01-01' }),
      {
        dagId: 'etl',
        taskId: undefined,
        field: 'endDate',
        message: 'end date is before start date',
      },
    ],
    [
      '@once without start date',
      dagSpec({ schedule: '@once', startDate: null }),
      {
        dagId: 'etl',
        taskId: undefined,
        field: 'startDate',
        message: 'an @once schedule needs a start date',
      },
    ],
    [
      'shell task with an empty command',
      dagSpec({ tasks: [taskSpec('a', [], { config: { command: '' } })] }),
      { dagId: 'etl', taskId: 'a', field: 'config.command', message: 'command must not be empty' },
    ],
    [
      'unknown key in a shell config',
      dagSpec({ tasks: [taskSpec('a', [], { config: { command: 'ls', shell: 'zsh' } })] }),
      { dagId: 'etl', taskId: 'a', field: 'config', message: expect.stringContaining('shell') },
    ],
    [
      'http task without url',
      dagSpec({ tasks: [taskSpec('a', [], { type: 'http', config: {} })] }),
      { dagId: 'etl', taskId: 'a', field: 'config.url', message: expect.any(String) },
    ],
  ])('%s', (_label, spec, expected) => {
    expect(issuesOf(spec)).toContainEqual(expected);
  });

  it('reports a longer cycle in execution order', () => {
    const spec = dagSpec({
      tasks: [taskSpec('a', ['c']), taskSpec('b', ['a']), taskSpec('c', ['b'])],
    });
    const cycle = issuesOf(spec).find((i) => i.message.startsWith('cycle'));
    expect(cycle?.message).toBe('cycle detected: a → b → c → a');
  });

  it('reports every problem, not just the first', () => {
    const spec = dagSpec({
      schedule: 'bogus expression here',
      tasks: [
        taskSpec('a', ['ghost']),
        taskSpec('a'),
        taskSpec('b', [], { config: { command: '' } }),
      ],
    });
    const fields = issuesOf(spec).map((i) => `${i.taskId ?? '-'}:${i.field}`);
    expect(fields).toEqual(
      expect.arrayContaining(['-:schedule', 'a:upstream', 'a:taskId', 'b:config.command']),
    );
  });

  it.each<[string, (spec: Record<string, unknown>) => void, Partial<DagIssue>]>([
    [
      'bad DAG id',
      (s) => Object.assign(s, { dagId: 'has space' }),
      { dagId: 'has space', field: 'dagId' },
    ],
    [
      'DAG id not a string',
      (s) => Object.assign(s, { dagId: 7 }),
      { dagId: undefined, field: 'dagId' },
    ],
    ['missing team', (s) => Object.assign(s, { team: '' }), { dagId: 'etl', field: 'team' }],
    ['no tasks', (s) => Object.assign(s, { tasks: [] }), { dagId: 'etl', field: 'tasks' }],
    ['unknown top-level key', (s) => Object.assign(s, { owner: 'me' }), { dagId: 'etl' }],
    ['bad start date', (s) => Object.assign(s, { startDate: 'yesterday' }), { field: 'startDate' }],
    // Date.parse would take it as March 2.
    ['no such day', (s) => Object.assign(s, { startDate: '2026-02-30' }), { field: 'startDate' }],
    [
      'a param JSON cannot hold',
      (s) => Object.assign(s, { params: { n: Number.NaN } }),
      { field: 'params.n', message: 'NaN is not a JSON number' },
    ],
    [
      'bad task field',
      (s) => {
        (s.tasks as TaskSpec[])[1]!.retries = -1;
      },
      { dagId: 'etl', taskId: 'load', field: 'retries' },
    ],
    [
      'bad trigger rule',
      (s) => {
        (s.tasks as Record<string, unknown>[])[0]!.triggerRule = 'sometimes';
      },
      { taskId: 'extract', field: 'triggerRule' },
    ],
    [
      'bad task id (reported by index)',
      (s) => {
        (s.tasks as Record<string, unknown>[])[1]!.taskId = 42;
      },
      { taskId: '#1', field: 'taskId' },
    ],
  ])('schema problem: %s', (_label, mutate, expected) => {
    const spec = structuredClone(dagSpec()) as unknown as Record<string, unknown>;
    mutate(spec);
    const issues = issuesOf(spec);
    expect(issues.length).toBeGreaterThan(0);
    expect(issues).toContainEqual(expect.objectContaining(expected));
  });

  it('uses extraConfig schemas for task types defined elsewhere', () => {
    const spec = dagSpec({ tasks: [taskSpec('pod', [], { type: 'k8sPod', config: {} })] });
    expect(issuesOf(spec)).toEqual([]);
    const extraConfig = { k8sPod: z.strictObject({ image: z.string().min(1) }) };
    expect(dagIssues(spec, extraConfig)).toContainEqual(
      expect.objectContaining({ taskId: 'pod', field: 'config.image' }),
    );
  });

  it('is not fooled by non-object input', () => {
    expect(issuesOf(null).length).toBeGreaterThan(0);
    expect(issuesOf('dag').length).toBeGreaterThan(0);
  });
});

describe('validateDagSpec', () => {
  it('throws DagValidationError carrying every issue and the file location', () => {
    const spec = dagSpec({ tasks: [taskSpec('a', ['b']), taskSpec('b', ['a'])] });
    let caught: unknown;
    try {
      validateDagSpec(spec, { fileloc: 'dags/etl.ts' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DagValidationError);
    expect(caught).toBeInstanceOf(InvalidError);
    const error = caught as DagValidationError;
    expect(error.code).toBe('invalid');
    expect(error.fileloc).toBe('dags/etl.ts');
    expect(error.issues).toHaveLength(1);
    expect(error.message).toBe(
      'dags/etl.ts: DAG "etl": task "a": field "upstream": cycle detected: a → b → a',
    );
  });

  it('applies schema defaults to task configs only through the config schema, leaving the spec as given', () => {
    const spec = dagSpec({
      tasks: [taskSpec('h', [], { type: 'http', config: { url: 'http://x' } })],
    });
    expect(validateDagSpec(spec).tasks[0]!.config).toEqual({ url: 'http://x' });
  });
});

describe('formatDagIssue', () => {
  it.each<[DagIssue, string | undefined, string]>([
    [
      {
        dagId: 'etl',
        taskId: 'load',
        field: 'config.command',
        message: 'command must not be empty',
      },
      'dags/etl.ts',
      'dags/etl.ts: DAG "etl": task "load": field "config.command": command must not be empty',
    ],
    [
      { dagId: 'etl', field: 'schedule', message: 'bad' },
      undefined,
      'DAG "etl": field "schedule": bad',
    ],
    [{ message: 'invalid YAML' }, 'dags/x.yaml', 'dags/x.yaml: invalid YAML'],
  ])('%j in %s', (issue, fileloc, text) => {
    expect(formatDagIssue(issue, fileloc)).toBe(text);
  });
});

describe('graph helpers', () => {
  // extract → transform → load, extract → audit, load+audit → notify
  const tasks = [
    taskSpec('notify', ['load', 'audit']),
    taskSpec('load', ['transform']),
    taskSpec('transform', ['extract']),
    taskSpec('audit', ['extract']),
    taskSpec('extract'),
  ];

  it('topologicalOrder puts every task after its upstream tasks', () => {
    const order = topologicalOrder(tasks);
    expect([...order].sort()).toEqual(tasks.map((t) => t.taskId).sort());
    for (const t of tasks) {
      for (const up of t.upstream) expect(order.indexOf(up)).toBeLessThan(order.indexOf(t.taskId));
    }
  });

  it('topologicalOrder keeps the given order for independent tasks', () => {
    expect(topologicalOrder([taskSpec('b'), taskSpec('a'), taskSpec('c')])).toEqual([
      'b',
      'a',
      'c',
    ]);
  });

  it('downstreamMap lists direct downstream tasks, with an entry for leaves', () => {
    const map = downstreamMap(tasks);
    expect(map.get('extract')?.sort()).toEqual(['audit', 'transform']);
    expect(map.get('load')).toEqual(['notify']);
    expect(map.get('notify')).toEqual([]);
  });

  it('findCycle returns null for a DAG', () => {
    expect(findCycle(tasks)).toBeNull();
  });

  it('findCycle ignores upstream ids that are not tasks', () => {
    expect(findCycle([taskSpec('a', ['ghost'])])).toBeNull();
  });

  it.each<[string, Partial<TaskSpec>, Record<string, number>]>([
    [
      'downstream',
      { weightRule: 'downstream' },
      // a diamond counts notify once for extract.
      { extract: 5, transform: 3, audit: 2, load: 2, notify: 1 },
    ],
    [
      'upstream',
      { weightRule: 'upstream' },
      { extract: 1, transform: 2, audit: 2, load: 3, notify: 5 },
    ],
    [
      'absolute',
      { weightRule: 'absolute' },
      { extract: 1, transform: 1, audit: 1, load: 1, notify: 1 },
    ],
  ])('effectivePriorities with weight rule %s', (_rule, extra, expected) => {
    const specs = tasks.map((t) => ({ ...t, ...extra }));
    expect(Object.fromEntries(effectivePriorities(specs))).toEqual(expected);
  });

  it('effectivePriorities sums the weights of related tasks, not just counts them', () => {
    const specs = [
      taskSpec('a', [], { priorityWeight: 10 }),
      taskSpec('b', ['a'], { priorityWeight: 5, weightRule: 'upstream' }),
      taskSpec('c', ['b'], { priorityWeight: 100, weightRule: 'absolute' }),
    ];
    expect(Object.fromEntries(effectivePriorities(specs))).toEqual({ a: 115, b: 15, c: 100 });
  });

  it('effectivePriorities agrees with summing over each related set, on random DAGs', () => {
    // Seeded, so a failure repeats. Upstream lists repeat ids and name tasks that do not exist.
    let seed = 7;
    const random = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    const rules = ['downstream', 'upstream', 'absolute'] as const;
    for (let round = 0; round < 40; round++) {
      const n = 1 + Math.floor(random() * 60);
      const specs = Array.from({ length: n }, (_, i) => {
        const upstream: string[] = [];
        for (let k = Math.floor(random() * 4); k > 0 && i > 0; k--)
          upstream.push(`t${Math.floor(random() * i)}`);
        if (random() < 0.1) upstream.push('ghost');
        return taskSpec(`t${i}`, upstream, {
          priorityWeight: Math.floor(random() * 10) - 2,
          weightRule: rules[Math.floor(random() * 3)]!,
        });
      });
      const byId = new Map(specs.map((t) => [t.taskId, t]));
      const related = (id: string, next: (id: string) => string[], seen = new Set<string>()) => {
        for (const r of next(id)) if (!seen.has(r)) related(r, next, seen.add(r));
        return seen;
      };
      const down = (id: string) =>
        specs.filter((t) => t.upstream.includes(id)).map((t) => t.taskId);
      const up = (id: string) => byId.get(id)?.upstream ?? [];
      const expected = Object.fromEntries(
        specs.map((t) => {
          if (t.weightRule === 'absolute') return [t.taskId, t.priorityWeight];
          const set = related(t.taskId, t.weightRule === 'downstream' ? down : up);
          let sum = t.priorityWeight;
          for (const id of set) sum += byId.get(id)?.priorityWeight ?? 0;
          return [t.taskId, sum];
        }),
      );
      expect(Object.fromEntries(effectivePriorities(specs))).toEqual(expected);
    }
  });
});

describe('canonicalJson and dagVersionHash', () => {
  it('is independent of key order, at every depth', () => {
    const a = { b: 1, a: { y: [1, { q: 1, p: 2 }], x: null } };
    const b = { a: { x: null, y: [1, { p: 2, q: 1 }] }, b: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":{"x":null,"y":[1,{"p":2,"q":1}]},"b":1}');
  });

  it('keeps array order significant and drops undefined values', () => {
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
    expect(canonicalJson({ a: 1, b: undefined })).toBe('{"a":1}');
    expect(canonicalJson(undefined)).toBe('null');
    expect(canonicalJson('x"y')).toBe('"x\\"y"');
  });

  it('dagVersionHash is stable across key order', () => {
    const spec = dagSpec();
    const reordered = Object.fromEntries(Object.entries(spec).reverse()) as DagSpec;
    expect(dagVersionHash(reordered, 'src1')).toBe(dagVersionHash(spec, 'src1'));
    expect(dagVersionHash(spec, 'src1')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('dagVersionHash changes with the spec', () => {
    const spec = dagSpec();
    expect(dagVersionHash({ ...spec, maxActiveRuns: 2 }, 'src1')).not.toBe(
      dagVersionHash(spec, 'src1'),
    );
    const tasks = [taskSpec('extract'), taskSpec('load', ['extract'], { retries: 3 })];
    expect(dagVersionHash({ ...spec, tasks }, 'src1')).not.toBe(dagVersionHash(spec, 'src1'));
  });

  it('dagVersionHash changes with the source hash', () => {
    const spec = dagSpec();
    expect(dagVersionHash(spec, 'src2')).not.toBe(dagVersionHash(spec, 'src1'));
  });
});
