/**
 * k8sPod tasks end to end: the engine (real PostgreSQL) runs pods through the real client-node
 * against @updraft/kube-test-server, whose kubelet really runs the containers' commands.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rowsOf, schema } from '@updraft/db';
import { createKubeClients, createKubernetesPodRunner, type KubeClients } from '@updraft/kube';
import { type PodTaskIdentity, podLabelSelector } from '@updraft/kube/spec';
import { type KubeTestServer, startKubeTestServer } from '@updraft/kube-test-server';
import { and, asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, TEST_TEAMS, waitFor } from './testing.ts';
import {
  createPodExecutor,
  NO_KUBERNETES_REASON,
  namespacesFromTeams,
  noKubernetesExecutor,
} from './worker/executors/k8s-pod.ts';
import { type ExecutionContext, TaskFailure } from './worker/index.ts';

const NS = 'team-data-eng';

/** Prints $MESSAGE, waits until the file $GO exists, then writes $RESULT as its result. */
const WAIT_FOR_GO = `console.log(process.env.MESSAGE);
const fs = require('node:fs');
const t = setInterval(() => {
  if (!fs.existsSync(process.env.GO)) return;
  clearInterval(t);
  console.log('go');
  fs.writeFileSync(process.env.UPDRAFT_RESULT_PATH, process.env.RESULT);
}, 20);`;

/** Try 1 grows its memory until the kubelet kills it; later tries succeed at once. */
const OOM_ON_FIRST_TRY = `console.log('try ' + process.env.UPDRAFT_TRY_NUMBER);
if (process.env.UPDRAFT_TRY_NUMBER === '1') {
  const hog = [];
  setInterval(() => hog.push(Buffer.alloc(16 * 1024 * 1024, 1)), 10);
} else {
  require('node:fs').writeFileSync(process.env.UPDRAFT_RESULT_PATH, '{"ok":true}');
}`;

const waitingPod = (message: string, result: unknown) => ({
  image: 'node:24-alpine',
  command: ['node', '-e', WAIT_FOR_GO],
  env: { GO: '{{ params.go }}', MESSAGE: message, RESULT: JSON.stringify(result) },
  securityContext: { runAsUser: 65534 },
});

const DOUBLE = {
  image: 'busybox',
  command: ['sh', '-c'],
  args: [
    'echo "doubling {{ xcom.extract.rows }}"; echo "{\\"total\\": $(( {{ xcom.extract.rows }} * 2 ))}" > "$UPDRAFT_RESULT_PATH"',
  ],
  securityContext: { runAsUser: 65534 },
};
const REPORT = {
  image: 'busybox',
  command: [
    'sh',
    '-c',
    'echo "total {{ xcom.double.total }}"; echo "{\\"report\\": \\"{{ xcom.double.total }} rows on {{ ds }}\\"}" > "$UPDRAFT_RESULT_PATH"',
  ],
  securityContext: { runAsUser: 65534 },
};

/** Writes a secret-named variable's value in two pieces, a pause between them. */
const SECRET_IN_PIECES = {
  image: 'busybox',
  command: [
    'sh',
    '-c',
    'printf "%.6s" "$DB_PASSWORD"; sleep 0.3; printf "%s" "$DB_PASSWORD" | cut -c7-; echo done; printf \'{"password": "%s"}\' "$DB_PASSWORD" > "$UPDRAFT_RESULT_PATH"',
  ],
  env: { DB_PASSWORD: 'pod-s3cret-value' },
  securityContext: { runAsUser: 65534 },
};

const dagSource = (id: string, body: string) => `import { dag } from '@updraft/sdk';
export default dag({ id: '${id}', team: 'data-eng', schedule: null }, (d) => {
${body}
});
`;

describe('k8sPod tasks (PostgreSQL, kube test server)', () => {
  let h: EngineHarness;
  let server: KubeTestServer;
  let clients: KubeClients;
  let dir: string;

  beforeAll(async () => {
    server = await startKubeTestServer({
      namespaces: TEST_TEAMS.map((t) => t.namespace),
      stepMs: 5,
    });
    clients = await createKubeClients({ kubeconfigPath: server.kubeconfigPath });
    dir = await mkdtemp(join(tmpdir(), 'updraft-k8s-e2e-'));
    h = await createEngineHarness('postgres');
    await h.writeDag(
      'pods.ts',
      dagSource(
        'pods',
        `  const extract = d.k8sPod('extract', ${JSON.stringify(waitingPod('extracting {{ ds }}', { rows: 21 }))});
  const double = d.k8sPod('double', ${JSON.stringify(DOUBLE)});
  const report = d.k8sPod('report', ${JSON.stringify(REPORT)});
  extract.then(double).then(report);`,
      ),
    );
    await h.writeDag(
      'stuck.ts',
      dagSource(
        'stuck',
        `  d.k8sPod('never_scheduled', { image: 'busybox', command: ['true'], nodeSelector: { disktype: 'ssd' }, startupTimeout: 1000, securityContext: { runAsUser: 65534 } });`,
      ),
    );
    await h.writeDag(
      'oom.ts',
      dagSource(
        'oom',
        `  d.k8sPod('hungry', { image: 'node', command: ['node', '-e', ${JSON.stringify(OOM_ON_FIRST_TRY)}], resources: { limits: { memory: '200Mi' } }, retries: 1, retryDelay: 0, securityContext: { runAsUser: 65534 } });`,
      ),
    );
    await h.writeDag(
      'clearme.ts',
      dagSource(
        'clearme',
        `  d.k8sPod('waits', ${JSON.stringify(waitingPod('waiting on try {{ try_number }}', { cleared: 'then done' }))});`,
      ),
    );
    await h.writeDag(
      'trespass.ts',
      dagSource(
        'trespass',
        `  d.k8sPod('elsewhere', { image: 'busybox', command: ['true'], namespace: 'team-analytics' });`,
      ),
    );
    await h.writeDag(
      'secretive.ts',
      dagSource('secretive', `  d.k8sPod('prints_password', ${JSON.stringify(SECRET_IN_PIECES)});`),
    );
    const report = await h.processor.sync();
    expect(report.dags).toBe(6);
    const runner = createKubernetesPodRunner({ clients, resyncMs: 1000, retryMs: 50 });
    const executor = createPodExecutor({ runner, namespaceOf: namespacesFromTeams(TEST_TEAMS) });
    await h.worker({ concurrency: 8, executors: { k8sPod: executor } }).start();
    await h.scheduler().start();
  });

  afterAll(async () => {
    await h?.close();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const ti = async (runId: string, taskId: string) =>
    (
      await h.resources.database.db
        .select()
        .from(schema.taskInstances)
        .where(and(eq(schema.taskInstances.runId, runId), eq(schema.taskInstances.taskId, taskId)))
    )[0]!;

  const logsOf = async (tiId: number, tryNumber?: number) =>
    (
      await h.resources.database.db
        .select()
        .from(schema.taskLogs)
        .where(eq(schema.taskLogs.taskInstanceId, tiId))
        .orderBy(asc(schema.taskLogs.id))
    )
      .filter((l) => tryNumber === undefined || l.tryNumber === tryNumber)
      .map((l) => l.content)
      .join('');

  const finished = (runId: string, taskId: string, timeoutMs = 30_000) =>
    waitFor(
      async () => {
        const t = await ti(runId, taskId);
        return t.state === 'success' || t.state === 'failed' ? t : null;
      },
      { timeoutMs, what: `${taskId} to finish` },
    );

  const identity = (
    dagId: string,
    runId: string,
    taskId: string,
    tryNumber: number,
  ): PodTaskIdentity => ({
    dagId,
    runId,
    taskId,
    mapIndex: -1,
    tryNumber,
    team: 'data-eng',
  });

  const podsOf = async (id: PodTaskIdentity) =>
    (await clients.core.listNamespacedPod({ namespace: NS, labelSelector: podLabelSelector(id) }))
      .items;

  it('masks a literal secret-named env value in the container log, even written in pieces', async () => {
    const { runId } = await h.ops.triggerRun('secretive', { actor: 'test' });
    const t = await finished(runId, 'prints_password');
    expect(t.state).toBe('success');
    const log = await logsOf(t.id);
    expect(log).toMatch(/\*\*\*\ndone\n/);
    expect(log).not.toContain('pod-s3cret-value');
    expect(log).not.toContain('s3cret-value');
    // The result the pod wrote, too.
    const [xcom] = rowsOf<{ value: string }>(
      await h.resources.database.db.execute(
        sql`select value::text as value from xcoms where task_instance_id = ${t.id}`,
      ),
    );
    expect(JSON.parse(xcom!.value)).toEqual({ password: '***' });
  });

  it('runs three pods that pass their results downstream, with logs while they run', async () => {
    const go = join(dir, 'pods.go');
    const { runId } = await h.ops.triggerRun('pods', { actor: 'test', conf: { go } });
    const extract = await waitFor(
      async () => {
        const t = await ti(runId, 'extract');
        return t.state === 'running' ? t : null;
      },
      { what: 'extract to run' },
    );
    // The container's output reaches task_logs while the pod still runs.
    const ds = new Date().toISOString().slice(0, 10);
    await waitFor(async () => (await logsOf(extract.id)).includes(`extracting ${ds}`), {
      what: 'the running pod’s log line in task_logs',
    });
    expect((await ti(runId, 'extract')).state).toBe('running');
    await writeFile(go, '');

    const report = await finished(runId, 'report');
    expect(report.state).toBe('success');
    const values = await h.resources.database.db
      .select()
      .from(schema.xcoms)
      .where(eq(schema.xcoms.key, 'return_value'));
    const byTask = Object.fromEntries(
      values
        .filter((x) => ['extract', 'double', 'report'].includes(x.taskId))
        .map((x) => [x.taskId, x.value]),
    );
    expect(byTask).toEqual({
      extract: { rows: 21 },
      double: { total: 42 },
      report: { report: `42 rows on ${ds}` },
    });
    expect(await logsOf((await ti(runId, 'double')).id)).toContain('doubling 21');
    expect(await logsOf(report.id)).toMatch(/total 42\n[\s\S]*succeeded, exit code 0/);
    expect(server.stats.podsCreated(NS, 'updraft.dev/dag-id=pods')).toBe(3);
    // delete_on_success: no pods are left behind.
    const pods = await clients.core.listNamespacedPod({
      namespace: NS,
      labelSelector: 'updraft.dev/dag-id=pods',
    });
    expect(pods.items.filter((p) => !p.metadata?.deletionTimestamp)).toEqual([]);
  });

  it('fails a pod that never schedules after its startup timeout, saying why', async () => {
    const { runId } = await h.ops.triggerRun('stuck', { actor: 'test' });
    const t = await finished(runId, 'never_scheduled');
    expect(t.state).toBe('failed');
    expect(t.stateReason).toMatch(
      /^Unschedulable: the pod could not be scheduled: .*didn't match Pod's node affinity\/selector.*\(the pod did not start within 1s\)$/,
    );
    expect(await logsOf(t.id)).toContain(`error: ${t.stateReason}`);
    // The stuck pod was deleted.
    await waitFor(
      async () => (await podsOf(identity('stuck', runId, 'never_scheduled', 1))).length === 0,
      {
        what: 'the stuck pod to be deleted',
      },
    );
  });

  it('fails an OOM-killed pod with OOMKilled and retries it', async () => {
    const { runId } = await h.ops.triggerRun('oom', { actor: 'test' });
    const t = await finished(runId, 'hungry', 60_000);
    expect(t.state).toBe('success');
    expect(t.tryNumber).toBe(2);
    const events = await h.resources.database.db
      .select()
      .from(schema.events)
      .where(and(eq(schema.events.runId, runId), eq(schema.events.taskId, 'hungry')))
      .orderBy(asc(schema.events.id));
    const retry = events.find((e) => e.toState === 'up_for_retry');
    expect(retry?.reason).toBe(
      "OOMKilled: container 'base' exceeded its memory limit of 200Mi (exit 137)",
    );
    expect(await logsOf(t.id, 1)).toContain('error: OOMKilled');
    expect(server.stats.podsCreated(NS, 'updraft.dev/dag-id=oom')).toBe(2);
  });

  it('deletes the pod of a running task instance that is cleared', async () => {
    const go = join(dir, 'clearme.go');
    const { runId } = await h.ops.triggerRun('clearme', { actor: 'test', conf: { go } });
    const first = identity('clearme', runId, 'waits', 1);
    await waitFor(async () => (await podsOf(first))[0]?.status?.phase === 'Running', {
      what: 'the pod of try 1 to run',
    });
    await h.ops.clearTaskInstances('clearme', runId, { taskIds: ['waits'], actor: 'test' });
    await waitFor(async () => (await podsOf(first)).length === 0, {
      what: 'the pod of try 1 to be deleted',
    });
    // The cleared task instance runs again, in a new pod.
    await waitFor(async () => (await podsOf(identity('clearme', runId, 'waits', 2))).length === 1, {
      what: 'the pod of try 2',
    });
    await writeFile(go, '');
    const t = await finished(runId, 'waits');
    expect(t).toMatchObject({ state: 'success', tryNumber: 2 });
    const events = await h.resources.database.db
      .select()
      .from(schema.events)
      .where(and(eq(schema.events.runId, runId), eq(schema.events.taskId, 'waits')))
      .orderBy(asc(schema.events.id));
    expect(events.map((e) => `${e.fromState}->${e.toState}`)).toContain('restarting->none');
    expect(server.stats.podsCreated(NS, 'updraft.dev/dag-id=clearme')).toBe(2);
  });

  it("fails, without retrying, a pod aimed at another team's namespace", async () => {
    const { runId } = await h.ops.triggerRun('trespass', { actor: 'test' });
    const t = await finished(runId, 'elsewhere');
    expect(t.state).toBe('failed');
    expect(t.tryNumber).toBe(1);
    expect(t.stateReason).toBe(
      "team 'data-eng' may only run pods in its own namespace 'team-data-eng', not in namespace 'team-analytics'",
    );
    expect(server.stats.podsCreated('team-analytics')).toBe(0);
  });

  it('fails k8sPod tasks without retrying on a worker without Kubernetes', async () => {
    const attempt = noKubernetesExecutor({} as ExecutionContext);
    await expect(attempt).rejects.toBeInstanceOf(TaskFailure);
    await expect(attempt).rejects.toMatchObject({
      message: NO_KUBERNETES_REASON,
      retryable: false,
    });
    expect(NO_KUBERNETES_REASON).toMatch(
      /^this worker has no Kubernetes configured: set KUBECONFIG/,
    );
  });
});

describe('k8sPod tasks when the worker stops (PostgreSQL, kube test server)', () => {
  let h: EngineHarness;
  let server: KubeTestServer;
  let clients: KubeClients;

  beforeAll(async () => {
    server = await startKubeTestServer({ namespaces: [NS], stepMs: 5 });
    clients = await createKubeClients({ kubeconfigPath: server.kubeconfigPath });
    h = await createEngineHarness('postgres');
    await h.writeDag(
      'endless.ts',
      dagSource(
        'endless',
        `  d.k8sPod('job', { ...${JSON.stringify(waitingPod('started', {}))}, retries: 1, retryDelay: '1h' });`,
      ),
    );
    await h.processor.sync();
  });

  afterAll(async () => {
    await h?.close();
    await server?.close();
  });

  it('hands a still-running pod over at shutdown: another worker continues the same try and pod', async () => {
    const go = join(await mkdtemp(join(tmpdir(), 'updraft-go-')), 'go');
    const executor = () =>
      createPodExecutor({
        runner: createKubernetesPodRunner({ clients, resyncMs: 1000, retryMs: 50 }),
        namespaceOf: namespacesFromTeams(TEST_TEAMS),
      });
    const first = h.worker({
      id: 'leaving',
      shutdownGraceMs: 300,
      executors: { k8sPod: executor() },
    });
    await first.start();
    const { runId } = await h.ops.triggerRun('endless', { actor: 'test', conf: { go } });
    const identity = {
      dagId: 'endless',
      runId,
      taskId: 'job',
      mapIndex: -1,
      tryNumber: 1,
      team: 'data-eng',
    };
    const pods = async () =>
      (
        await clients.core.listNamespacedPod({
          namespace: NS,
          labelSelector: podLabelSelector(identity),
        })
      ).items;
    await waitFor(async () => (await pods())[0]?.status?.phase === 'Running', {
      what: 'the pod to run',
    });
    await first.stop();
    const ti = async () =>
      (
        await h.resources.database.db
          .select()
          .from(schema.taskInstances)
          .where(and(eq(schema.taskInstances.runId, runId), eq(schema.taskInstances.taskId, 'job')))
      )[0]!;
    // Handed over, not failed: the try is queued for adoption and its pod keeps running.
    expect(await ti()).toMatchObject({
      state: 'queued',
      tryNumber: 1,
      resumeTry: true,
      workerId: null,
    });
    expect((await pods())[0]?.status?.phase).toBe('Running');

    await h.worker({ id: 'adopter', executors: { k8sPod: executor() } }).start();
    await waitFor(
      async () => (await ti()).state === 'running' && (await ti()).workerId === 'adopter',
      {
        what: 'another worker to adopt the try',
      },
    );
    await writeFile(go, '');
    const done = await waitFor(
      async () => {
        const t = await ti();
        return t.state === 'success' ? t : null;
      },
      { what: 'the adopted pod to finish' },
    );
    expect(done.tryNumber).toBe(1);
    expect(server.stats.podsCreated(NS, podLabelSelector(identity))).toBe(1);
    const events = await h.resources.database.db
      .select()
      .from(schema.events)
      .where(and(eq(schema.events.runId, runId), eq(schema.events.taskId, 'job')))
      .orderBy(asc(schema.events.id));
    expect(events.map((e) => `${e.fromState}->${e.toState}:${e.actor}`).slice(2)).toEqual([
      'queued->running:leaving',
      'running->queued:leaving',
      'queued->running:adopter',
      'running->success:adopter',
    ]);
  });
});
