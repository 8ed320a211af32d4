/** Task groups, dynamic task mapping and depends_on_past in the SDK and in YAML: the specs they make. */
import { DagValidationError, validateDagSpec } from '@updraft/core/dag';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { type Dag, dag, type Task, type TaskSpec } from './index.ts';
import { dagFromYaml } from './yaml.ts';

const messageOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    if (error instanceof DagValidationError) return error.message;
    throw error;
  }
  throw new Error('expected a DagValidationError');
};

/** The spec's tasks by id: byId(spec)('extract.a'). */
const byId =
  (spec: { tasks: TaskSpec[] }) =>
  (id: string): TaskSpec => {
    const found = spec.tasks.find((t) => t.taskId === id);
    if (!found) throw new Error(`no task "${id}" in the spec`);
    return found;
  };

describe('task groups', () => {
  const grouped = () =>
    dag({ id: 'g', team: 'data-eng', defaults: { retries: 1, pool: 'p' } }, (d) => {
      const start = d.shell('start', { command: 'echo' });
      const extract = d.group('extract', { retries: 3, priorityWeight: 5 }, (g) => {
        const a = g.shell('a', { command: 'echo' });
        const b = g.shell('b', { command: 'echo', retries: 0 });
        g.group('inner', { timeout: '1m' }, (i) => {
          i.shell('c', { command: 'echo', upstream: [a] });
        });
        a.then(b);
      });
      const load = d.group('load', (g) => {
        g.shell('x', { command: 'echo' });
        g.shell('y', { command: 'echo' });
      });
      start
        .then(extract)
        .then(load)
        .then(d.shell('end', { command: 'echo' }));
    }).toSpec();

  it('prefixes task ids with the group ids and records each task’s group', () => {
    const spec = grouped();
    expect(spec.tasks.map((t) => [t.taskId, t.group])).toEqual([
      ['start', null],
      ['extract.a', 'extract'],
      ['extract.b', 'extract'],
      ['extract.inner.c', 'extract.inner'],
      ['load.x', 'load'],
      ['load.y', 'load'],
      ['end', null],
    ]);
  });

  it('applies task options over group defaults over enclosing group defaults over DAG defaults', () => {
    const t = byId(grouped());
    expect([t('start').retries, t('start').priorityWeight, t('start').pool]).toEqual([1, 1, 'p']);
    expect([t('extract.a').retries, t('extract.a').priorityWeight]).toEqual([3, 5]);
    expect(t('extract.b').retries).toBe(0);
    expect([t('extract.inner.c').retries, t('extract.inner.c').timeoutMs]).toEqual([3, 60_000]);
    expect(t('extract.inner.c').pool).toBe('p');
  });

  it('wires groups by their roots and leaves', () => {
    const t = byId(grouped());
    // start → roots of extract (a only: b and c are downstream of a inside the group).
    expect(t('extract.a').upstream).toEqual(['start']);
    expect(t('extract.b').upstream).toEqual(['extract.a']);
    // extract's leaves (b, c) → load's roots (x, y); load's leaves → end.
    expect(t('load.x').upstream).toEqual(['extract.b', 'extract.inner.c']);
    expect(t('load.y').upstream).toEqual(['extract.b', 'extract.inner.c']);
    expect(t('end').upstream).toEqual(['load.x', 'load.y']);
  });

  it.each([
    ['a dot in a group id', (d: Dag) => d.group('a.b', () => {}), 'no "."'],
    [
      'a duplicate group id',
      (d: Dag) => {
        d.group('x', () => {});
        d.group('x', () => {});
      },
      'duplicate task group id "x"',
    ],
  ])('rejects %s', (_label, build, message) => {
    expect(messageOf(() => dag({ id: 'bad', team: 'data-eng' }, build))).toContain(message);
  });
});

describe('dynamic task mapping', () => {
  it('records a literal list, a task source (which becomes upstream) and maxLength', () => {
    let pulled: Task<number[]> | undefined;
    const spec = dag({ id: 'm', team: 'data-eng' }, (d) => {
      const list = d.fn('list', () => [1, 2]);
      const doubled = d.map('double', list, (ctx) => {
        expectTypeOf(ctx.item).toEqualTypeOf<number>();
        return ctx.item * 2;
      });
      pulled = doubled;
      d.shell('echo', { command: 'echo {{ item }}' }).expand(['a', 'b'], { maxLength: 5 });
    }).toSpec();
    expectTypeOf(pulled!).toEqualTypeOf<Task<number[]>>();
    const t = byId(spec);
    expect(t('double').expand).toEqual({ task: 'list', maxLength: 1024 });
    expect(t('double').upstream).toEqual(['list']);
    expect(t('echo').expand).toEqual({ items: ['a', 'b'], maxLength: 5 });
    expect(t('list').expand).toBeNull();
  });

  it.each([
    [
      'a literal list longer than maxLength',
      (d: Dag) => d.shell('s', { command: 'echo' }).expand([1, 2, 3], { maxLength: 2 }),
      'DAG "bad": task "s": field "expand": maps over 3 items; the limit (maxLength) is 2',
    ],
    [
      'a literal list that is not JSON',
      (d: Dag) => d.shell('s', { command: 'echo' }).expand([1, () => 2]),
      'field "expand.items.1": items of a literal list must be JSON values',
    ],
    [
      'a task mapping over itself',
      (d: Dag) => {
        const s = d.shell('s', { command: 'echo' });
        s.expand(s as never);
      },
      'a task cannot map over itself',
    ],
  ])('rejects %s', (_label, build, message) => {
    expect(messageOf(() => dag({ id: 'bad', team: 'data-eng' }, build).toSpec())).toContain(
      message,
    );
  });

  it('rejects a stored spec whose mapped task maps over a task that is not upstream', () => {
    const spec = dag({ id: 'bad', team: 'data-eng' }, (d) => {
      d.shell('a', { command: 'echo' });
      d.shell('b', { command: 'echo' });
    }).toSpec();
    spec.tasks[1]!.expand = { task: 'a', maxLength: 10 };
    expect(messageOf(() => validateDagSpec(spec))).toContain(
      'task "b": field "expand": maps over task "a", which must be one of its upstream tasks',
    );
  });

  it('parses a stored spec without the new fields (defaults)', () => {
    const spec = dag({ id: 'old', team: 'data-eng' }, (d) => {
      d.shell('a', { command: 'echo' });
    }).toSpec();
    const { expand, group, dependsOnPast, waitForDownstream, ...old } = spec.tasks[0]!;
    const parsed = validateDagSpec({ ...spec, tasks: [old] });
    expect(parsed.tasks[0]).toMatchObject({
      expand: null,
      group: null,
      dependsOnPast: false,
      waitForDownstream: false,
    });
  });
});

describe('depends_on_past / wait_for_downstream', () => {
  it('are task options and DAG defaults; wait_for_downstream implies depends_on_past', () => {
    const t = byId(
      dag({ id: 'p', team: 'data-eng', defaults: { dependsOnPast: true } }, (d) => {
        d.shell('a', { command: 'echo' });
        d.shell('b', { command: 'echo', dependsOnPast: false });
        d.shell('c', { command: 'echo', dependsOnPast: false, waitForDownstream: true });
      }).toSpec(),
    );
    expect([t('a').dependsOnPast, t('a').waitForDownstream]).toEqual([true, false]);
    expect([t('b').dependsOnPast, t('b').waitForDownstream]).toEqual([false, false]);
    expect([t('c').dependsOnPast, t('c').waitForDownstream]).toEqual([true, true]);
  });
});

describe('YAML', () => {
  const yaml = `
id: y
team: data-eng
defaults: { retries: 1 }
tasks:
  - id: list
    shell: echo '["a","b"]'
    dependsOnPast: true
groups:
  - id: extract
    upstream: [list]
    defaults: { retries: 4 }
    tasks:
      - id: fetch
        shell: echo {{ item }}
        expand: { task: list, maxLength: 10 }
      - id: load
        upstream: [fetch]
        shell: echo load
    groups:
      - id: inner
        tasks:
          - id: check
            upstream: [load]
            shell: echo check
            expand: { items: [1, 2] }
  - id: report
    upstream: [extract]
    tasks:
      - id: send
        shell: echo send
        waitForDownstream: true
`;

  it('builds groups (prefixed ids, defaults, relative upstream names), mapping and depends_on_past', () => {
    const t = byId(dagFromYaml(yaml, 'y.yaml').toSpec());
    expect(
      dagFromYaml(yaml, 'y.yaml')
        .toSpec()
        .tasks.map((x) => x.taskId),
    ).toEqual(['list', 'extract.fetch', 'extract.load', 'extract.inner.check', 'report.send']);
    expect(t('extract.fetch')).toMatchObject({
      upstream: ['list'],
      retries: 4,
      group: 'extract',
      expand: { task: 'list', maxLength: 10 },
    });
    expect(t('extract.load').upstream).toEqual(['extract.fetch']);
    expect(t('extract.inner.check')).toMatchObject({
      upstream: ['extract.load'],
      group: 'extract.inner',
      expand: { items: [1, 2], maxLength: 1024 },
    });
    // A group as upstream means its leaves.
    expect(t('report.send').upstream).toEqual(['extract.inner.check']);
    expect(t('report.send')).toMatchObject({ dependsOnPast: true, waitForDownstream: true });
    expect(t('list')).toMatchObject({ dependsOnPast: true, retries: 1 });
  });

  it('names the task of an unknown upstream inside a group', () => {
    const bad = yaml.replace('upstream: [fetch]', 'upstream: [nope]');
    expect(messageOf(() => dagFromYaml(bad, 'y.yaml'))).toContain(
      'y.yaml: DAG "y": task "extract.load": field "upstream": unknown upstream task "nope"',
    );
  });
});
