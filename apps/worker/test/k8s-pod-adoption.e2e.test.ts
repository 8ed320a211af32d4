/**
 * A worker process SIGKILLed while its k8sPod task runs: the pod lives on, the scheduler re-queues
 * the same try for adoption, a replacement worker reattaches to that pod (it does not create
 * another one) and the task instance succeeds on try 1.
 *
 * The child is the real worker app with KUBECONFIG pointing at @updraft/kube-test-server; the
 * team's namespace comes from the teams table (no UPDRAFT_TEAMS_FILE).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { schema } from '@updraft/db';
import { createPodExecutor, namespacesFromDatabase } from '@updraft/engine/k8s-pod';
import { createEngineHarness, type EngineHarness, waitFor } from '@updraft/engine/testing';
import { createKubeClients, createKubernetesPodRunner, type KubeClients } from '@updraft/kube';
import { podLabelSelector } from '@updraft/kube/spec';
import { type KubeTestServer, startKubeTestServer } from '@updraft/kube-test-server';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const WORKER_MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const NS = 'team-data-eng';

/** Prints a line, waits until the file $GO exists, then writes its result. */
const WAIT_FOR_GO = `console.log('pod started on try ' + process.env.UPDRAFT_TRY_NUMBER);
const fs = require('node:fs');
const t = setInterval(() => {
  if (!fs.existsSync(process.env.GO)) return;
  clearInterval(t);
  console.log('pod finishing');
  fs.writeFileSync(process.env.UPDRAFT_RESULT_PATH, JSON.stringify({ finished: true }));
}, 20);`;

describe('a worker killed while its pod runs', () => {
  let h: EngineHarness;
  let server: KubeTestServer;
  let clients: KubeClients;
  let dir: string;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    server = await startKubeTestServer({ namespaces: [NS], stepMs: 5 });
    clients = await createKubeClients({ kubeconfigPath: server.kubeconfigPath });
    dir = await mkdtemp(join(tmpdir(), 'updraft-k8s-adopt-'));
    h = await createEngineHarness('postgres');
    await h.writeDag(
      'long_pod.ts',
      `import { dag } from '@updraft/sdk';
export default dag({ id: 'long_pod', team: 'data-eng' }, (d) => {
  d.k8sPod('job', ${JSON.stringify({
    image: 'node:24-alpine',
    command: ['node', '-e', WAIT_FOR_GO],
    env: { GO: '{{ params.go }}' },
    securityContext: { runAsUser: 65534 },
    retries: 2,
    retryDelay: 0,
  })});
});`,
    );
    await h.processor.sync();
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await h?.close();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is adopted by another worker that reattaches to the same pod', async () => {
    child = spawn(process.execPath, [WORKER_MAIN], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: h.db.url,
        UPDRAFT_ENV: 'dev',
        UPDRAFT_HEALTH_PORT: '0',
        UPDRAFT_WORKER_POLL_MS: '100',
        KUBECONFIG: server.kubeconfigPath,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const go = join(dir, 'go');
    const { runId } = await h.ops.triggerRun('long_pod', { actor: 'test', conf: { go } });
    const { db } = h.resources.database;
    const ti = async () =>
      (
        await db
          .select()
          .from(schema.taskInstances)
          .where(and(eq(schema.taskInstances.runId, runId), eq(schema.taskInstances.taskId, 'job')))
      )[0]!;
    const selector = podLabelSelector({
      dagId: 'long_pod',
      runId,
      taskId: 'job',
      mapIndex: -1,
      tryNumber: 1,
      team: 'data-eng',
    });
    const podOfTry1 = async () =>
      (await clients.core.listNamespacedPod({ namespace: NS, labelSelector: selector })).items[0];

    const running = await waitFor(
      async () => {
        const t = await ti();
        return t.state === 'running' ? t : null;
      },
      { timeoutMs: 30_000, what: 'the child worker to start the task' },
    );
    expect(running.workerId).toMatch(new RegExp(`^worker:.*:${child.pid}$`));
    // The child's log flush proves it was following the running pod.
    await waitFor(
      async () =>
        (
          await db
            .select()
            .from(schema.taskLogs)
            .where(eq(schema.taskLogs.taskInstanceId, running.id))
        )
          .map((l) => l.content)
          .join('')
          .includes('pod started on try 1'),
      { timeoutMs: 30_000, what: 'the pod’s first log line from the child worker' },
    );
    const pod = await podOfTry1();
    expect(pod?.status?.phase).toBe('Running');

    child.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));

    const runner = createKubernetesPodRunner({ clients, resyncMs: 1000, retryMs: 50 });
    const executor = createPodExecutor({
      runner,
      namespaceOf: namespacesFromDatabase(h.resources),
    });
    await h.scheduler({ zombieThresholdMs: 1500 }).start();
    await h.worker({ id: 'replacement-worker', executors: { k8sPod: executor } }).start();

    // The replacement follows the same pod (still the one the dead worker started).
    await waitFor(
      async () => {
        const t = await ti();
        return t.state === 'running' && t.workerId === 'replacement-worker';
      },
      { timeoutMs: 30_000, what: 'the replacement worker to adopt the try' },
    );
    expect((await podOfTry1())?.metadata?.uid).toBe(pod?.metadata?.uid);
    await writeFile(go, '');

    const done = await waitFor(
      async () => {
        const t = await ti();
        return t.state === 'success' || t.state === 'failed' ? t : null;
      },
      { timeoutMs: 60_000, what: 'the adopted try to finish' },
    );
    expect(done.state).toBe('success');
    expect(done.tryNumber).toBe(1);
    expect(done.workerId).toBe('replacement-worker');
    expect(server.stats.podsCreated(NS, selector)).toBe(1);
    expect(server.stats.podsCreated()).toBe(1);

    const [result] = await db
      .select()
      .from(schema.xcoms)
      .where(and(eq(schema.xcoms.taskInstanceId, done.id), eq(schema.xcoms.key, 'return_value')));
    expect(result?.value).toEqual({ finished: true });
    const log = (
      await db
        .select()
        .from(schema.taskLogs)
        .where(eq(schema.taskLogs.taskInstanceId, done.id))
        .orderBy(asc(schema.taskLogs.id))
    )
      .map((l) => l.content)
      .join('');
    expect(log).toMatch(/resuming: following pod team-data-eng\/long-pod-job-t1-/);
    expect(log).toMatch(/pod finishing\n[\s\S]*succeeded, exit code 0 \(reattached\)/);

    const events = await db
      .select()
      .from(schema.events)
      .where(and(eq(schema.events.runId, runId), eq(schema.events.taskId, 'job')))
      .orderBy(asc(schema.events.id));
    expect(events.map((e) => `${e.fromState}->${e.toState}`)).toEqual([
      'none->scheduled',
      'scheduled->queued',
      'queued->running',
      'running->queued',
      'queued->running',
      'running->success',
    ]);
    expect(events[3]!.reason).toMatch(/^adoption: zombie: no heartbeat from worker:/);
  });
});
