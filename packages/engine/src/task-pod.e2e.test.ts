/**
 * The pod executor: shell and function tasks run in their own task-runner pods (chosen per task or
 * by the team's default) through the real client-node and the kube test server, whose kubelet runs
 * the image's command as a local process — here the real `updraft tasks run` CLI.
 */
import { fileURLToPath } from 'node:url';
import { schema } from '@updraft/db';
import { createKubeClients, createKubernetesPodRunner, type KubeClients } from '@updraft/kube';
import { type KubeTestServer, startKubeTestServer } from '@updraft/kube-test-server';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, TEST_TEAMS } from './testing.ts';
import { createPodExecutor, namespacesFromTeams } from './worker/executors/k8s-pod.ts';
import { createTaskPodExecutor } from './worker/executors/task-pod.ts';
import { readXcom } from './worker/xcom.ts';

const CLI_ENTRY = fileURLToPath(new URL('../../../apps/cli/src/main.ts', import.meta.url));
const NAMESPACES = TEST_TEAMS.map((t) => t.namespace);

const DAGS = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'in_pods', team: 'data-eng' }, (d) => {
  const sh = d.shell('sh_in_pod', { command: 'echo "hello from a pod on {{ ds }}"; echo 21', executor: 'pod' });
  const fn = d.fn('fn_in_pod', async (ctx) => {
    const v = Number(await ctx.pull(sh));
    ctx.log('doubling ' + v);
    await ctx.push('note', 'pushed from a pod');
    return { doubled: v * 2, pid: process.pid };
  }, { upstream: [sh], executor: 'pod' });
  d.fn('check_here', async (ctx) => {
    const r = await ctx.pull(fn);
    return { ...r, note: await ctx.pullKey('fn_in_pod', 'note'), workerPid: process.pid };
  }, { upstream: [fn] });
});
export const team_default = dag({ id: 'team_default', team: 'analytics' }, (d) => {
  const podded = d.shell('by_team_default', { command: 'echo in a pod' });
  d.shell('kept_local', { command: 'echo in the worker', executor: 'worker', upstream: [podded] });
});
`;

describe('the pod executor (PostgreSQL, kube test server)', () => {
  let h: EngineHarness;
  let server: KubeTestServer;
  let clients: KubeClients;

  beforeAll(async () => {
    server = await startKubeTestServer({
      namespaces: NAMESPACES,
      stepMs: 5,
      allowImages: ['busybox', 'node', 'updraft/task-runner'],
    });
    clients = await createKubeClients({ kubeconfigPath: server.kubeconfigPath });
    h = await createEngineHarness('postgres');
    await h.writeDag('pods.ts', DAGS);
    await h.processor.sync();
    const podExecutor = createPodExecutor({
      runner: createKubernetesPodRunner({ clients, resyncMs: 1000, retryMs: 50 }),
      namespaceOf: namespacesFromTeams(TEST_TEAMS),
    });
    await h
      .worker({
        taskPods: {
          executor: createTaskPodExecutor({
            podExecutor,
            image: 'updraft/task-runner:test',
            cliEntry: CLI_ENTRY,
            functionEnv: { DATABASE_URL: h.db.url! },
          }),
          teamDefault: (team) => (team === 'analytics' ? 'pod' : undefined),
        },
      })
      .start();
    await h.scheduler().start();
  });

  afterAll(async () => {
    await h?.close();
    await server?.close();
  });

  async function runToEnd(dagId: string) {
    const { runId } = await h.ops.triggerRun(dagId, { actor: 'test' });
    const { db } = h.resources.database;
    const run = await h.finishedRun(runId, { timeoutMs: 60_000 });
    const xcom = (taskId: string) => readXcom(db, run.id, taskId, 'return_value');
    const logOf = async (taskId: string) => {
      const [ti] = await db
        .select()
        .from(schema.taskInstances)
        .where(and(eq(schema.taskInstances.runId, runId), eq(schema.taskInstances.taskId, taskId)));
      const chunks = await db
        .select()
        .from(schema.taskLogs)
        .where(eq(schema.taskLogs.taskInstanceId, ti!.id));
      return chunks.map((c) => c.content).join('');
    };
    return { run, runId, xcom, logOf };
  }

  it('runs shell and function tasks in their own pods, passing results both ways', async () => {
    const { run, xcom, logOf } = await runToEnd('in_pods');
    expect(run.state).toBe('success');
    expect(await xcom('sh_in_pod')).toBe('21');
    expect(await logOf('sh_in_pod')).toMatch(/hello from a pod on \d{4}-\d{2}-\d{2}/);
    const inPod = (await xcom('fn_in_pod')) as { doubled: number; pid: number };
    expect(inPod.doubled).toBe(42);
    // The function ran in another process (the pod), not in the worker.
    expect(inPod.pid).not.toBe(process.pid);
    expect(await logOf('fn_in_pod')).toContain('doubling 21');
    expect(await xcom('check_here')).toEqual({
      doubled: 42,
      pid: inPod.pid,
      note: 'pushed from a pod',
      workerPid: process.pid,
    });
    // One pod per pod task (deleted once it succeeded); none for the task that ran in the worker.
    expect(server.stats.podsCreated('team-data-eng', 'updraft.dev/dag-id=in_pods')).toBe(2);
    expect(server.stats.podsCreated('team-data-eng', 'updraft.dev/task-id=check_here')).toBe(0);
  });

  it("follows the team's default unless the task says otherwise", async () => {
    const before = server.stats.podsCreated('team-analytics');
    const { run, xcom } = await runToEnd('team_default');
    expect(run.state).toBe('success');
    expect(await xcom('by_team_default')).toBe('in a pod');
    expect(await xcom('kept_local')).toBe('in the worker');
    expect(server.stats.podsCreated('team-analytics') - before).toBe(1);
  });
});
