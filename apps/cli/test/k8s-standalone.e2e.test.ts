/**
 * Standalone with Kubernetes, as a user tries it: the kube test server's CLI in one process,
 * `KUBECONFIG=<its kubeconfig> updraft standalone --dags-folder examples/dags-k8s` in another;
 * the example pod DAG is triggered over HTTP and runs to success, its pods passing results on.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '@updraft/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const KUBE_TEST_SERVER = fileURLToPath(
  new URL('../../../packages/kube-test-server/src/main.ts', import.meta.url),
);
const DAGS = fileURLToPath(new URL('../../../examples/dags-k8s', import.meta.url));

describe('updraft standalone with KUBECONFIG', () => {
  let dir: string;
  let port: number;
  let kube: ChildProcess | undefined;
  let standalone: ChildProcess | undefined;
  let kubeOutput = '';
  let output = '';
  const base = () => `http://127.0.0.1:${port}`;
  const get = async (path: string) => {
    const res = await fetch(`${base()}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'updraft-k8s-standalone-'));
    kube = spawn(
      process.execPath,
      [
        KUBE_TEST_SERVER,
        '--port',
        '0',
        '--namespace',
        'team-data-eng',
        '--namespace',
        'team-analytics',
        '--namespace',
        'team-ml',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    kube.stdout!.on('data', (d) => (kubeOutput += d));
    kube.stderr!.on('data', (d) => (kubeOutput += d));
    const kubeconfig = await waitFor(async () => /^KUBECONFIG=(.+)$/m.exec(kubeOutput)?.[1], {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: () => `the kube test server's kubeconfig\n${kubeOutput}`,
    });

    port = await freePort();
    standalone = spawn(
      process.execPath,
      [
        MAIN,
        'standalone',
        '--port',
        String(port),
        '--data-dir',
        join(dir, 'data'),
        '--dags-folder',
        DAGS,
        '--log-format',
        'json',
      ],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          LOG_LEVEL: 'info',
          UPDRAFT_ENV: 'local',
          KUBECONFIG: kubeconfig,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    standalone.stdout!.on('data', (d) => (output += d));
    standalone.stderr!.on('data', (d) => (output += d));
    // Ready once the DAG folder has been read (the API answers while it is read).
    await waitFor(async () => (await get('/readyz')).status === 200, {
      timeoutMs: 90_000,
      intervalMs: 200,
      what: () => `standalone on port ${port}\n${output}`,
    });
  });

  afterAll(async () => {
    for (const child of [standalone, kube]) {
      if (!child || child.exitCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the example pod DAG to success through the API', async () => {
    expect(output).toContain('k8sPod tasks enabled');
    const dags = (await get('/api/v1/dags')).body;
    expect((dags.dags as { dag_id: string }[]).map((d) => d.dag_id)).toEqual(['pod_pipeline']);
    expect(dags.import_errors).toEqual([]);

    const res = await fetch(`${base()}/api/v1/dags/pod_pipeline/dagRuns`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dag_run_id: 'k8s_e2e' }),
    });
    expect(res.status).toBe(200);
    await waitFor(
      async () => {
        const state = (await get('/api/v1/dags/pod_pipeline/dagRuns/k8s_e2e')).body.state;
        if (state === 'failed') throw new Error('the run failed');
        return state === 'success';
      },
      { timeoutMs: 90_000, intervalMs: 200, what: () => `the pod pipeline to succeed\n${output}` },
    );
    const tis = (await get('/api/v1/dags/pod_pipeline/dagRuns/k8s_e2e/taskInstances')).body
      .task_instances as { task_id: string; state: string; try_number: number }[];
    expect(tis.map((t) => [t.task_id, t.state, t.try_number]).sort()).toEqual([
      ['count', 'success', 1],
      ['double', 'success', 1],
      ['report', 'success', 1],
    ]);
    const log = (await get('/api/v1/dags/pod_pipeline/dagRuns/k8s_e2e/taskInstances/report/logs/1'))
      .body;
    expect(log.content).toMatch(/running pod team-data-eng\/pod-pipeline-report-t1-/);
    expect(log.content).toMatch(/report for \d{4}-\d{2}-\d{2}: 42 rows/);
  });
});
