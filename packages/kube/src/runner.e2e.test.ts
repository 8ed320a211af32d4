/**
 * The pod runner end to end, through the real @kubernetes/client-node: against
 * @updraft/kube-test-server by default, against a real cluster with UPDRAFT_KUBE_E2E=1 and
 * KUBECONFIG (see e2e-target.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type E2eTarget, eventually, openE2eTarget } from './e2e-target.ts';
import { apiErrorCode, apiErrorStatus } from './errors.ts';
import { createKubernetesPodRunner, type RunPodRequest } from './runner.ts';
import {
  type PodTaskConfigInput,
  type PodTaskIdentity,
  podLabelSelector,
  podName,
  podTaskConfigSchema,
} from './spec.ts';

let target: E2eTarget;
beforeAll(async () => {
  target = await openE2eTarget();
});
afterAll(async () => {
  await target?.close();
});

const runTag = `r${Date.now().toString(36)}`;
let seq = 0;
function identity(taskId: string): PodTaskIdentity {
  seq++;
  return {
    dagId: 'e2e',
    runId: `${runTag}-${seq}`,
    taskId,
    mapIndex: -1,
    tryNumber: 1,
    team: 'e2e',
  };
}

const NODE = 'node:24-alpine';
function nodeTask(script: string, extra: Partial<PodTaskConfigInput> = {}): PodTaskConfigInput {
  return {
    image: NODE,
    command: ['node', '-e', script],
    securityContext: { runAsUser: 1000 },
    ...extra,
  };
}

function runner() {
  return createKubernetesPodRunner({
    clients: target.clients,
    resyncMs: 2_000,
    retryMs: 100,
    deleteGracePeriodSeconds: target.real ? 5 : 1,
  });
}

function request(
  id: PodTaskIdentity,
  config: PodTaskConfigInput,
  over: Partial<RunPodRequest> = {},
) {
  const logs: string[] = [];
  const req: RunPodRequest = {
    identity: id,
    namespace: target.namespace,
    config: podTaskConfigSchema.parse(config),
    signal: new AbortController().signal,
    onLog: (chunk) => logs.push(chunk),
    ...over,
  };
  return { req, logs };
}

async function podGone(id: PodTaskIdentity): Promise<boolean> {
  try {
    await target.clients.core.readNamespacedPod({ name: podName(id), namespace: target.namespace });
    return false;
  } catch (err) {
    return apiErrorCode(err) === 404;
  }
}

describe('runner e2e', () => {
  it('runs a pod to success, streams its logs while it runs and returns its JSON result', async () => {
    const id = identity('success');
    const script = `
      console.log('first line');
      setTimeout(() => {
        for (let i = 0; i < 50; i++) console.log('line ' + i);
        require('fs').writeFileSync(process.env.UPDRAFT_RESULT_PATH, JSON.stringify({ rows: 42, run: process.env.UPDRAFT_RUN_ID }));
      }, 1500);`;
    let firstLogSeen: () => void = () => {};
    const firstLog = new Promise<void>((r) => {
      firstLogSeen = r;
    });
    const { req, logs } = request(id, nodeTask(script));
    req.onLog = (chunk) => {
      if (logs.length === 0) firstLogSeen();
      logs.push(chunk);
    };
    const running = runner().run(req);
    await firstLog;
    const pod = await target.clients.core.readNamespacedPod({
      name: podName(id),
      namespace: target.namespace,
    });
    const phaseAtFirstLog = pod.status?.phase;
    const outcome = await running;
    expect(phaseAtFirstLog).toBe('Running');
    expect(outcome).toMatchObject({
      state: 'success',
      podName: podName(id),
      reattached: false,
      exitCode: 0,
      result: { rows: 42, run: id.runId },
    });
    const text = logs.join('');
    expect(text).toBe(
      ['first line', ...Array.from({ length: 50 }, (_, i) => `line ${i}`), ''].join('\n'),
    );
    // delete_on_success (the default) removed the pod.
    expect(await eventually(async () => ((await podGone(id)) ? true : undefined))).toBe(true);
  });

  it('passes env from Secrets and ConfigMaps into the container', async () => {
    const id = identity('env');
    const suffix = `${runTag}-${seq}`;
    await target.clients.core.createNamespacedSecret({
      namespace: target.namespace,
      body: { metadata: { name: `e2e-secret-${suffix}` }, stringData: { token: 's3cret' } },
    });
    await target.clients.core.createNamespacedConfigMap({
      namespace: target.namespace,
      body: { metadata: { name: `e2e-config-${suffix}` }, data: { region: 'eu' } },
    });
    const script = `require('fs').writeFileSync(process.env.UPDRAFT_RESULT_PATH, JSON.stringify({ t: process.env.TOKEN, r: process.env.REGION, p: process.env.PLAIN }))`;
    const { req } = request(
      id,
      nodeTask(script, {
        env: {
          PLAIN: 'x',
          TOKEN: { secretKeyRef: { name: `e2e-secret-${suffix}`, key: 'token' } },
          REGION: { configMapKeyRef: { name: `e2e-config-${suffix}`, key: 'region' } },
        },
      }),
    );
    const outcome = await runner().run(req);
    expect(outcome.result).toEqual({ t: 's3cret', r: 'eu', p: 'x' });
  });

  it('fails with the exit code and the last output of a failing container', async () => {
    const id = identity('fails');
    const { req } = request(id, nodeTask(`console.error('bad input: 17'); process.exit(3)`));
    const outcome = await runner().run(req);
    expect(outcome.state).toBe('failed');
    expect(outcome.exitCode).toBe(3);
    expect(outcome.failure).toMatchObject({ code: 'Error', retryable: true });
    expect(outcome.failure?.reason).toMatch(/exited with code 3: bad input: 17/);
    // delete_on_success keeps a failed pod for inspection.
    expect(await podGone(id)).toBe(false);
  });

  it('fails a non-JSON result clearly', async () => {
    const id = identity('badresult');
    const script = `require('fs').writeFileSync(process.env.UPDRAFT_RESULT_PATH, 'not json')`;
    const outcome = await runner().run(request(id, nodeTask(script, { onFinish: 'delete' })).req);
    expect(outcome.failure).toMatchObject({ code: 'InvalidResult', retryable: false });
    expect(outcome.failure?.reason).toContain('not JSON: "not json"');
  });

  it('fails a pod that never schedules after the startup timeout, with the scheduler reason', async () => {
    const id = identity('unschedulable');
    const { req } = request(
      id,
      nodeTask('0', {
        nodeSelector: { 'updraft.dev/no-such-pool': 'true' },
        startupTimeout: 1500 * target.slow,
      }),
    );
    const t0 = Date.now();
    const outcome = await runner().run(req);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500 * target.slow - 50);
    expect(outcome.failure).toMatchObject({ code: 'Unschedulable', retryable: true });
    expect(outcome.failure?.reason).toMatch(
      /^Unschedulable: the pod could not be scheduled: 0\/\d+ nodes are available/,
    );
    expect(outcome.failure?.reason).toContain('did not start within');
    expect(await eventually(async () => ((await podGone(id)) ? true : undefined))).toBe(true);
  });

  it('fails an image that cannot be pulled with ImagePullBackOff', async () => {
    const id = identity('imagepull');
    const { req } = request(id, {
      image: 'updraft/this-image-does-not-exist:0.0.0',
      startupTimeout: 1000 * target.slow,
    });
    const outcome = await runner().run(req);
    expect(outcome.failure).toMatchObject({ code: 'ImagePullBackOff', retryable: true });
    expect(outcome.failure?.reason).toContain(
      "cannot pull image 'updraft/this-image-does-not-exist:0.0.0'",
    );
    expect(await eventually(async () => ((await podGone(id)) ? true : undefined))).toBe(true);
  });

  it('reports OOMKilled (retryable) when the container exceeds its memory limit', async () => {
    const id = identity('oom');
    const script = `const a = []; setInterval(() => { for (let i = 0; i < 20; i++) a.push(Buffer.alloc(1 << 20, 1)); }, 10);`;
    const { req } = request(id, nodeTask(script, { resources: { limits: { memory: '96Mi' } } }));
    const outcome = await runner().run(req);
    expect(outcome.exitCode).toBe(137);
    expect(outcome.failure).toEqual({
      code: 'OOMKilled',
      retryable: true,
      reason: "OOMKilled: container 'base' exceeded its memory limit of 96Mi (exit 137)",
    });
  });

  it('fails with DeadlineExceeded after activeDeadlineSeconds', async () => {
    const id = identity('deadline');
    const { req } = request(
      id,
      nodeTask('setInterval(() => {}, 1000)', { activeDeadlineSeconds: 1 }),
    );
    const outcome = await runner().run(req);
    expect(outcome.failure).toMatchObject({ code: 'DeadlineExceeded', retryable: true });
    expect(outcome.failure?.reason).toContain('activeDeadlineSeconds (1s)');
  });

  it('reattaches instead of creating a second pod (a worker died and another adopts the task)', async () => {
    const id = identity('reattach');
    const script = `console.log('working'); setTimeout(() => require('fs').writeFileSync(process.env.UPDRAFT_RESULT_PATH, '{"ok":true}'), 1000);`;
    const config = nodeTask(script, { onFinish: 'keep' });
    // Worker 1 creates the pod and follows it; it "dies" (we never look at it again until the end).
    const first = request(id, config);
    let seen: () => void = () => {};
    const started = new Promise<void>((r) => {
      seen = r;
    });
    first.req.onLog = (c) => {
      first.logs.push(c);
      seen();
    };
    const worker1 = runner().run(first.req);
    await started;
    // Worker 2 (a new runner, as after a restart) runs the same identity.
    const second = request(id, config);
    const outcome = await runner().run(second.req);
    expect(outcome).toMatchObject({ state: 'success', reattached: true, result: { ok: true } });
    // On reattach the log is read from the beginning.
    expect(second.logs.join('')).toBe('working\n');
    expect(await worker1).toMatchObject({ state: 'success', reattached: false });
    expect(await target.podsCreated(podLabelSelector(id))).toBe(1);
    // A third run after the pod finished picks up its result, still without creating a pod.
    const third = await runner().run(request(id, { ...config, onFinish: 'delete' }).req);
    expect(third).toMatchObject({ state: 'success', reattached: true, result: { ok: true } });
    expect(await target.podsCreated(podLabelSelector(id))).toBe(target.real ? 0 : 1);
  });

  it('deletePod kills the running pod and the run reports PodDeleted', async () => {
    const id = identity('delete');
    const { req, logs } = request(
      id,
      nodeTask(`console.log('pid ' + process.pid); setInterval(() => {}, 1000)`),
    );
    const r = runner();
    const running = r.run(req);
    await eventually(() => (logs.join('').includes('pid ') ? true : undefined));
    const pid = Number(/pid (\d+)/.exec(logs.join(''))?.[1]);
    await r.deletePod(id, target.namespace);
    const outcome = await running;
    expect(outcome.failure?.code).toBe('PodDeleted');
    expect(await podGone(id)).toBe(true);
    if (!target.real) {
      // The test server ran the container as a local process: it is gone.
      expect(() => process.kill(pid, 0)).toThrow();
    }
    // Deleting again is fine.
    await r.deletePod(id, target.namespace);
  });

  it('on abort deletes the pod and fails with the abort reason', async () => {
    const id = identity('abort');
    const controller = new AbortController();
    const { req, logs } = request(id, nodeTask(`console.log('up'); setInterval(() => {}, 1000)`), {
      signal: controller.signal,
    });
    const running = runner().run(req);
    await eventually(() => (logs.length > 0 ? true : undefined));
    controller.abort(new Error('run timed out after 30s'));
    const outcome = await running;
    expect(outcome.state).toBe('failed');
    expect(outcome.failure).toMatchObject({
      code: 'Aborted',
      reason: 'aborted: run timed out after 30s',
    });
    expect(await eventually(async () => ((await podGone(id)) ? true : undefined))).toBe(true);
  });

  it('surfaces 409, 404 and 422 as ApiException with Status bodies', async () => {
    const core = target.clients.core;
    const ns = target.namespace;
    const name = `e2e-status-${runTag}`;
    const body = {
      metadata: { name },
      spec: {
        restartPolicy: 'Never',
        containers: [{ name: 'base', image: NODE, command: ['node', '-e', '0'] }],
      },
    };
    await core.createNamespacedPod({ namespace: ns, body });
    const errorOf = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        return err;
      }
      throw new Error('expected an error');
    };
    const dup = await errorOf(core.createNamespacedPod({ namespace: ns, body }));
    expect((dup as Error).constructor.name).toBe('ApiException');
    expect(apiErrorCode(dup)).toBe(409);
    expect(apiErrorStatus(dup)).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'AlreadyExists',
      code: 409,
      details: { name, kind: 'pods' },
    });
    const missing = await errorOf(core.readNamespacedPod({ namespace: ns, name: `${name}-nope` }));
    expect(apiErrorCode(missing)).toBe(404);
    expect(apiErrorStatus(missing)).toMatchObject({
      reason: 'NotFound',
      code: 404,
      message: `pods "${name}-nope" not found`,
    });
    const bad = await errorOf(
      core.createNamespacedPod({
        namespace: ns,
        body: { metadata: { name: 'Bad_Name' }, spec: { containers: [{ name: 'base' }] } } as never,
      }),
    );
    expect(apiErrorCode(bad)).toBe(422);
    const status = apiErrorStatus(bad);
    expect(status).toMatchObject({
      reason: 'Invalid',
      code: 422,
      details: { kind: 'Pod', name: 'Bad_Name' },
    });
    expect(status?.details?.causes?.map((c) => c.field)).toEqual(
      expect.arrayContaining(['metadata.name', 'spec.containers[0].image']),
    );
    await core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0 });
  });

  it('maps a pod the API server rejects to InvalidPodSpec (not retryable)', async () => {
    const id = identity('invalid');
    const config = podTaskConfigSchema.parse(nodeTask('0'));
    // Bypass the schema the way a bad pass-through volume would.
    const outcome = await runner().run({
      ...request(id, nodeTask('0')).req,
      config: { ...config, volumeMounts: [{ name: 'Not_A_Label', mountPath: '/x' }] },
    });
    if (target.real) {
      expect(outcome.failure?.code).toBe('InvalidPodSpec');
    } else {
      // The test server validates only names, images, restartPolicy and deadlines: the pod runs.
      expect(outcome.state).toBe('success');
    }
  });
});
