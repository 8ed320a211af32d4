/**
 * Failure scenarios a real cluster cannot produce on demand (eviction, node loss, crash loops,
 * dropped connections): always against @updraft/kube-test-server, through the real client-node.
 */
import { type KubeTestServer, startKubeTestServer } from '@updraft/kube-test-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeClients, type KubeClients } from './client.ts';
import { eventually } from './e2e-target.ts';
import { createKubernetesPodRunner, type RunPodRequest } from './runner.ts';
import {
  type PodTaskConfigInput,
  type PodTaskIdentity,
  podName,
  podTaskConfigSchema,
} from './spec.ts';

const NS = 'team-a';
let server: KubeTestServer;
let clients: KubeClients;
beforeAll(async () => {
  server = await startKubeTestServer({ namespaces: [NS], stepMs: 5 });
  clients = await createKubeClients({
    kubeconfigPath: server.kubeconfigPath,
    context: 'updraft-test',
  });
});
afterAll(async () => {
  await server?.close();
});

let seq = 0;
const identity = (taskId: string): PodTaskIdentity => ({
  dagId: 'scenarios',
  runId: `run-${++seq}`,
  taskId,
  mapIndex: 2,
  tryNumber: 1,
  team: 'a',
});

function run(
  id: PodTaskIdentity,
  config: PodTaskConfigInput,
  onLog: (c: string) => void = () => {},
) {
  const runner = createKubernetesPodRunner({ clients, resyncMs: 1_000, retryMs: 50 });
  const req: RunPodRequest = {
    identity: id,
    namespace: NS,
    config: podTaskConfigSchema.parse(config),
    signal: new AbortController().signal,
    onLog,
  };
  return runner.run(req);
}

const forever = (extra: Partial<PodTaskConfigInput> = {}): PodTaskConfigInput => ({
  image: 'node',
  command: ['node', '-e', `console.log('up'); setInterval(() => {}, 1000)`],
  ...extra,
});

async function whenRunning(id: PodTaskIdentity): Promise<void> {
  await eventually(async () => {
    const pods = await clients.core.listNamespacedPod({
      namespace: NS,
      fieldSelector: `metadata.name=${podName(id)}`,
    });
    return pods.items[0]?.status?.phase === 'Running' ? true : undefined;
  });
}

describe('runner scenarios (test server)', () => {
  it('an evicted pod fails with Evicted and the kubelet message', async () => {
    const id = identity('evict');
    const outcome = run(id, forever());
    await whenRunning(id);
    expect(
      server.scenario.evict(NS, podName(id), 'The node was low on resource: ephemeral-storage.'),
    ).toBe(true);
    expect((await outcome).failure).toEqual({
      code: 'Evicted',
      retryable: true,
      reason:
        'Evicted: the pod was evicted from its node: The node was low on resource: ephemeral-storage.',
    });
  });

  it('a lost node fails the pod with NodeLost, also when the pod is then deleted', async () => {
    const kept = identity('nodelost');
    const a = run(kept, forever());
    await whenRunning(kept);
    server.scenario.nodeLost(NS, podName(kept));
    expect((await a).failure).toMatchObject({ code: 'NodeLost', retryable: true });

    const removed = identity('nodelost-deleted');
    const b = run(removed, forever());
    await whenRunning(removed);
    server.scenario.nodeLost(NS, podName(removed), { deletePod: true });
    const outcome = await b;
    expect(outcome.failure?.code).toBe('NodeLost');
    expect(outcome.failure?.reason).toContain('is unresponsive');
  });

  it('an OOM kill from the scenario annotation fails with OOMKilled', async () => {
    const id = identity('oom-annotation');
    const outcome = await run(
      id,
      forever({ annotations: { 'test.updraft.dev/scenario': 'oom-kill' } }),
    );
    expect(outcome.exitCode).toBe(137);
    expect(outcome.failure).toMatchObject({ code: 'OOMKilled', retryable: true });
  });

  it('a crash-looping container fails at the startup timeout with CrashLoopBackOff', async () => {
    const id = identity('crashloop');
    const outcome = await run(
      id,
      forever({ startupTimeout: 300, annotations: { 'test.updraft.dev/scenario': 'crash-loop' } }),
    );
    expect(outcome.failure).toMatchObject({ code: 'CrashLoopBackOff', retryable: true });
    expect(outcome.failure?.reason).toMatch(
      /keeps crashing \(3 restarts; last exit code 1 \(Error\)\).*did not start within/,
    );
  });

  it('an unschedulable rule keeps the pod Pending with a FailedScheduling event', async () => {
    const remove = server.scenario.add({
      kind: 'unschedulable',
      namespace: NS,
      labelSelector: 'updraft.dev/task-id=pending',
      message: '0/12 nodes are available: 12 Insufficient nvidia.com/gpu.',
    });
    const id = identity('pending');
    const outcome = await run(id, forever({ startupTimeout: 300, onFinish: 'keep' }));
    remove();
    expect(outcome.failure?.reason).toBe(
      'Unschedulable: the pod could not be scheduled: 0/12 nodes are available: 12 Insufficient nvidia.com/gpu. (the pod did not start within 0s)',
    );
    const events = await clients.core.listNamespacedEvent({
      namespace: NS,
      fieldSelector: `involvedObject.name=${podName(id)}`,
    });
    expect(events.items.map((e) => e.reason)).toEqual(['FailedScheduling']);
  });

  it('a missing Secret fails fast at the startup timeout with CreateContainerConfigError', async () => {
    const id = identity('nosecret');
    const outcome = await run(
      id,
      forever({ startupTimeout: 300, env: { T: { secretKeyRef: { name: 'absent', key: 'k' } } } }),
    );
    expect(outcome.failure).toMatchObject({ code: 'CreateContainerConfigError', retryable: false });
    expect(outcome.failure?.reason).toContain('secret "absent" not found');
  });

  it('keeps the log complete and without duplicates when watch and log connections drop', async () => {
    const id = identity('drops');
    const script = `let i = 0; const t = setInterval(() => { console.log('line ' + i); if (++i === 200) { clearInterval(t); require('fs').writeFileSync(process.env.UPDRAFT_RESULT_PATH, '{"n":200}'); } }, 5);`;
    const chunks: string[] = [];
    let lines = 0;
    let drops = 0;
    const outcome = await run(id, { image: 'node', command: ['node', '-e', script] }, (c) => {
      chunks.push(c);
      lines += c.split('\n').length - 1;
      if (
        (lines > 20 && drops === 0) ||
        (lines > 80 && drops === 1) ||
        (lines > 150 && drops === 2)
      ) {
        drops += server.scenario.dropConnections() > 0 ? 1 : 0;
      }
    });
    expect(drops).toBeGreaterThanOrEqual(2);
    expect(outcome).toMatchObject({ state: 'success', result: { n: 200 } });
    expect(chunks.join('')).toBe(Array.from({ length: 200 }, (_, i) => `line ${i}\n`).join(''));
  });
});
