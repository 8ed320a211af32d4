import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DagValidationError } from '@updraft/core/dag';
import { describe, expect, it } from 'vitest';
import { dag } from './index.ts';
import { dagFromYaml } from './yaml.ts';

const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (error instanceof DagValidationError) return error;
    throw error;
  }
  throw new Error('expected a DagValidationError');
};

describe('k8sPod tasks in the SDK', () => {
  it('takes startupTimeout as a duration, like every other duration, and names a bad one', () => {
    const spec = dag({ id: 'pods', team: 'data-eng' }, (d) => {
      d.k8sPod('a', { image: 'busybox', startupTimeout: '2m' });
      d.k8sPod('b', { image: 'busybox', startupTimeout: 90_000 });
    }).toSpec();
    expect(spec.tasks.map((t) => t.config.startupTimeout)).toEqual([120_000, 90_000]);
    const yaml = dagFromYaml(
      'id: y\nteam: data-eng\ntasks:\n  - id: a\n    k8sPod: { image: busybox, startupTimeout: 5m }\n',
      'pods.yaml',
    ).toSpec();
    expect(yaml.tasks[0]!.config.startupTimeout).toBe(300_000);
    const bad = issuesOf(() =>
      dag({ id: 'pods', team: 'data-eng' }, (d) => {
        d.k8sPod('a', { image: 'busybox', startupTimeout: 'soon' });
      }).toSpec(),
    );
    expect(bad.message).toMatch(
      /task "a": field "config\.startupTimeout": "soon" is not a duration/,
    );
  });

  it('splits task options from the pod config', () => {
    const spec = dag({ id: 'pods', team: 'data-eng' }, (d) => {
      const a = d.shell('a', { command: 'true' });
      d.k8sPod('train', {
        image: 'ghcr.io/acme/train:1',
        args: ['--day', '{{ ds }}'],
        resources: { limits: { memory: '1Gi' } },
        retries: 2,
        timeout: '1h',
        upstream: [a],
      });
    }).toSpec();
    const train = spec.tasks.find((t) => t.taskId === 'train')!;
    expect(train).toMatchObject({
      type: 'k8sPod',
      upstream: ['a'],
      retries: 2,
      timeoutMs: 3_600_000,
      config: {
        image: 'ghcr.io/acme/train:1',
        args: ['--day', '{{ ds }}'],
        resources: { limits: { memory: '1Gi' } },
      },
    });
    expect(Object.keys(train.config).sort()).toEqual(['args', 'image', 'resources']);
  });

  it('rejects a bad pod config at load time, naming the DAG, task and field', () => {
    const error = issuesOf(() =>
      dag({ id: 'bad_pods', team: 'data-eng' }, (d) => {
        d.k8sPod('p', { image: 'busybox', resources: { limits: { memory: 'lots' } } });
      }).toSpec({ fileloc: 'bad.ts' }),
    );
    expect(error.message).toBe(
      `bad.ts: DAG "bad_pods": task "p": field "config.resources.limits.memory": must be a Kubernetes quantity such as '500m', '2', '256Mi', '1Gi'`,
    );
  });

  it('rejects a bad pod config in a YAML DAG too', () => {
    const error = issuesOf(() =>
      dagFromYaml(
        'id: y\nteam: data-eng\ntasks:\n  - id: p\n    k8sPod: { image: busybox, onFinish: never, colour: red }\n',
        'y.yaml',
      ),
    );
    expect(error.issues.map((i) => [i.dagId, i.taskId, i.field]).sort()).toEqual([
      ['y', 'p', 'config'],
      ['y', 'p', 'config.onFinish'],
    ]);
    expect(error.message).toContain('y.yaml: DAG "y": task "p": field "config.onFinish"');
  });

  it('does not load @kubernetes/client-node', () => {
    const script = `
import { registerHooks } from 'node:module';
const seen = [];
registerHooks({ resolve(specifier, context, next) { if (specifier.includes('client-node')) seen.push(specifier); return next(specifier, context); } });
const sdk = await import('@updraft/sdk');
sdk.dag({ id: 'x', team: 't' }, (d) => { d.k8sPod('p', { image: 'busybox' }); }).toSpec();
console.log(JSON.stringify(seen));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toEqual([]);
  });
});
