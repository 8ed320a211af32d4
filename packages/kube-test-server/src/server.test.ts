import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchesLabels, parseLabelSelector } from './selectors.ts';
import { type KubeTestServer, startKubeTestServer } from './server.ts';

let server: KubeTestServer;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
const NS = 'team-t';

beforeAll(async () => {
  server = await startKubeTestServer({
    namespaces: ['default', NS],
    stepMs: 5,
    bookmarkMs: 50,
    historyLimit: 200,
  });
  kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  core = kc.makeApiClient(k8s.CoreV1Api);
});
afterAll(async () => {
  await server?.close();
});

async function until<T>(check: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const podBody = (
  name: string,
  script: string,
  extra: Partial<k8s.V1Container> = {},
): k8s.V1Pod => ({
  metadata: { name, labels: { app: 'x', name } },
  spec: {
    restartPolicy: 'Never',
    containers: [{ name: 'base', image: 'node:24', command: ['node', '-e', script], ...extra }],
  },
});

async function finished(name: string): Promise<k8s.V1Pod> {
  return until(async () => {
    const p = await core.readNamespacedPod({ namespace: NS, name });
    return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p : undefined;
  });
}

async function error(
  p: Promise<unknown>,
): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code: number; body: string };
    return { code: e.code, body: JSON.parse(e.body) as Record<string, unknown> };
  }
  throw new Error('expected an ApiException');
}

describe('selectors', () => {
  it.each([
    ['a=1', { a: '1' }, true],
    ['a==1', { a: '2' }, false],
    ['a!=1', {}, true],
    ['a in (1, 2),b', { a: '2', b: '' }, true],
    ['a notin (1,2)', { a: '1' }, false],
    ['!a', { b: '1' }, true],
    ['a', { b: '1' }, false],
  ])('%s on %j → %s', (sel, labels, expected) => {
    expect(matchesLabels(parseLabelSelector(sel), labels)).toBe(expected);
  });
});

describe('kube-test-server through client-node', () => {
  it('runs an allowed image as a process: phases, termination message, env, logs, events', async () => {
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: 's1' }, stringData: { k: 'v1' } },
    });
    const secret = await core.readNamespacedSecret({ namespace: NS, name: 's1' });
    expect(secret.data).toEqual({ k: Buffer.from('v1').toString('base64') });
    const script = `console.log('S=' + process.env.S + ' X=' + process.env.X); require('fs').writeFileSync(process.env.OUT, '{"a":1}')`;
    const created = await core.createNamespacedPod({
      namespace: NS,
      body: podBody('ok', script, {
        env: [
          { name: 'S', valueFrom: { secretKeyRef: { name: 's1', key: 'k' } } },
          { name: 'X', value: '$(S)-x' },
          { name: 'OUT', value: '/dev/termination-log' },
        ],
      }),
    });
    expect(created.status?.phase).toBe('Pending');
    expect(created.spec?.containers[0]?.terminationMessagePath).toBe('/dev/termination-log');
    const pod = await finished('ok');
    expect(pod.status?.phase).toBe('Succeeded');
    const t = pod.status?.containerStatuses?.[0]?.state?.terminated;
    expect(t).toMatchObject({ exitCode: 0, reason: 'Completed', message: '{"a":1}' });
    expect(pod.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status).toBe('True');
    expect(await core.readNamespacedPodLog({ namespace: NS, name: 'ok', container: 'base' })).toBe(
      'S=v1 X=v1-x\n',
    );
    const events = await core.listNamespacedEvent({
      namespace: NS,
      fieldSelector: 'involvedObject.name=ok',
    });
    expect(events.items.map((e) => e.reason)).toEqual([
      'Scheduled',
      'Pulled',
      'Created',
      'Started',
    ]);
  });

  it('serves log options: tailLines, timestamps, sinceTime, a wrong container', async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: podBody('logs', `for (let i = 0; i < 5; i++) console.log('l' + i)`),
    });
    await finished('logs');
    expect(await core.readNamespacedPodLog({ namespace: NS, name: 'logs', tailLines: 2 })).toBe(
      'l3\nl4\n',
    );
    const stamped = await core.readNamespacedPodLog({
      namespace: NS,
      name: 'logs',
      timestamps: true,
    });
    const lines = stamped.trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z l0$/);
    const future = `${new Date(Date.now() + 60_000).toISOString().slice(0, 19)}Z`;
    const logUrl = `${server.url}/api/v1/namespaces/${NS}/pods/logs/log`;
    expect(await (await fetch(`${logUrl}?sinceTime=${future}`)).text()).toBe('');
    const third = lines[2]?.split(' ')[0] ?? '';
    expect(await (await fetch(`${logUrl}?sinceTime=${third}`)).text()).toBe('l2\nl3\nl4\n');
    expect(
      (await error(core.readNamespacedPodLog({ namespace: NS, name: 'logs', container: 'nope' })))
        .code,
    ).toBe(400);
  });

  it('a non-allowed image stays Pending in ErrImagePull then ImagePullBackOff', async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'pull' },
        spec: { containers: [{ name: 'base', image: 'acme/private:1' }] },
      },
    });
    const pod = await until(async () => {
      const p = await core.readNamespacedPod({ namespace: NS, name: 'pull' });
      return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff'
        ? p
        : undefined;
    });
    expect(pod.status?.phase).toBe('Pending');
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.message).toBe(
      'Back-off pulling image "acme/private:1"',
    );
    expect((await error(core.readNamespacedPodLog({ namespace: NS, name: 'pull' }))).code).toBe(
      400,
    );
  });

  it('a failing container falls back to its last log lines (FallbackToLogsOnError)', async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: podBody('fail', `console.log('context'); console.error('boom'); process.exit(4)`, {
        terminationMessagePolicy: 'FallbackToLogsOnError',
      }),
    });
    const t = (await finished('fail')).status?.containerStatuses?.[0]?.state?.terminated;
    expect(t).toMatchObject({ exitCode: 4, reason: 'Error', message: 'context\nboom\n' });
  });

  it('activeDeadlineSeconds fails a pending pod too', async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'deadline' },
        spec: { activeDeadlineSeconds: 1, containers: [{ name: 'base', image: 'nope/nope' }] },
      },
    });
    const p = await finished('deadline');
    expect(p.status).toMatchObject({ phase: 'Failed', reason: 'DeadlineExceeded' });
  });

  it('watches resume from a resourceVersion, send bookmarks, and answer 410 when too old', async () => {
    const list = await core.listNamespacedPod({ namespace: NS, labelSelector: 'name=w1' });
    const rv = list.metadata?.resourceVersion;
    await core.createNamespacedPod({ namespace: NS, body: podBody('w1', '0') });
    await finished('w1');
    const events: Array<{ type: string; phase?: string; rv?: string }> = [];
    const watch = new k8s.Watch(kc);
    const controller = await watch.watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: 'name=w1', resourceVersion: rv, allowWatchBookmarks: true },
      (type, obj: k8s.V1Pod) =>
        events.push({ type, phase: obj.status?.phase, rv: obj.metadata?.resourceVersion }),
      () => {},
    );
    await until(async () => (events.some((e) => e.type === 'BOOKMARK') ? true : undefined));
    controller.abort();
    const changes = events.filter((e) => e.type !== 'BOOKMARK');
    expect(changes[0]).toMatchObject({ type: 'ADDED', phase: 'Pending' });
    expect(changes.at(-1)).toMatchObject({ type: 'MODIFIED', phase: 'Succeeded' });
    const rvs = changes.map((e) => Number(e.rv));
    expect([...rvs].sort((a, b) => a - b)).toEqual(rvs);
    // A server that keeps 5 events: resuming from rv 1 is too old after a few changes.
    const small = await startKubeTestServer({ namespaces: [NS], historyLimit: 5 });
    const smallKc = new k8s.KubeConfig();
    smallKc.loadFromFile(small.kubeconfigPath);
    const smallCore = smallKc.makeApiClient(k8s.CoreV1Api);
    for (let i = 0; i < 10; i++) {
      await smallCore.createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name: `cm${i}` }, data: {} },
      });
    }
    const gone: unknown[] = [];
    await new Promise<void>((resolve) => {
      void new k8s.Watch(smallKc).watch(
        `/api/v1/namespaces/${NS}/configmaps`,
        { resourceVersion: '1' },
        (type, obj) => gone.push({ type, obj }),
        () => resolve(),
      );
    });
    await small.close();
    expect(gone).toEqual([
      {
        type: 'ERROR',
        obj: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired' }),
      },
    ]);
  });

  it('answers 404 for a missing namespace, 409 and 422 with Status bodies', async () => {
    const missing = await error(
      core.createNamespacedPod({ namespace: 'nope', body: podBody('x', '0') }),
    );
    expect(missing).toMatchObject({
      code: 404,
      body: { reason: 'NotFound', message: 'namespaces "nope" not found' },
    });
    await core.createNamespacedPod({ namespace: NS, body: podBody('dup', '0') });
    expect(
      await error(core.createNamespacedPod({ namespace: NS, body: podBody('dup', '0') })),
    ).toMatchObject({
      code: 409,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'AlreadyExists',
        code: 409,
        details: { name: 'dup', kind: 'pods' },
      },
    });
    const invalid = await error(
      core.createNamespacedPod({
        namespace: NS,
        body: { metadata: { name: 'inv' }, spec: { containers: [] } },
      }),
    );
    expect(invalid).toMatchObject({
      code: 422,
      body: {
        reason: 'Invalid',
        details: { causes: [{ field: 'spec.containers', reason: 'FieldValueRequired' }] },
      },
    });
    expect(server.stats.podsCreated(NS, 'name=dup')).toBe(1);
    expect(server.stats.podsCreated('default')).toBe(0);
  });

  it('deleting a running pod stops its process and removes the pod', async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: podBody(
        'del',
        `console.log(process.pid); process.on('SIGTERM', () => { console.log('term'); process.exit(0) }); setInterval(() => {}, 1000)`,
      ),
    });
    const log = await until(async () => {
      const p = await core.readNamespacedPod({ namespace: NS, name: 'del' });
      if (p.status?.phase !== 'Running') return undefined;
      const text = await core.readNamespacedPodLog({ namespace: NS, name: 'del' });
      return text.length > 0 ? text : undefined;
    });
    const pid = Number(log.trim());
    const deleted = await core.deleteNamespacedPod({ namespace: NS, name: 'del' });
    expect(deleted.metadata?.deletionTimestamp).toBeDefined();
    await until(async () => {
      const pods = await core.listNamespacedPod({
        namespace: NS,
        fieldSelector: 'metadata.name=del',
      });
      return pods.items.length === 0 ? true : undefined;
    });
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
