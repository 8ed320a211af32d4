/**
 * The production shape: scheduler, worker and API as three processes on one PostgreSQL database,
 * each configured only through its environment. The API triggers a run, the scheduler and worker
 * carry it to success; every process reports its environment and release in /healthz.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, freePort, type TestDatabase, waitFor } from '@updraft/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** What the platform sets (the image tag). */
const RELEASE = '2026.11.24-rc1';

describe('scheduler, worker and api as separate processes on PostgreSQL', () => {
  let db: TestDatabase;
  const children: ChildProcess[] = [];
  let output = '';
  const ports = { api: 0, scheduler: 0, worker: 0 };

  function start(app: 'scheduler' | 'worker' | 'api', env: Record<string, string>): void {
    const child = spawn(process.execPath, [`${ROOT}apps/${app}/src/main.ts`], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: db.url!,
        UPDRAFT_ENV: 'qa',
        UPDRAFT_VERSION: RELEASE,
        LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    children.push(child);
  }

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    ports.api = await freePort();
    ports.scheduler = await freePort();
    ports.worker = await freePort();
    const teams = `${ROOT}environments/qa/teams.yaml`;
    start('scheduler', {
      UPDRAFT_DAGS_FOLDER: `${ROOT}examples/dags`,
      UPDRAFT_TEAMS_FILE: teams,
      UPDRAFT_HEALTH_PORT: String(ports.scheduler),
      UPDRAFT_DAGS_PAUSED_AT_CREATION: 'true',
    });
    start('worker', { UPDRAFT_HEALTH_PORT: String(ports.worker), UPDRAFT_WORKER_CONCURRENCY: '4' });
    start('api', { PORT: String(ports.api), HOST: '127.0.0.1', UPDRAFT_TEAMS_FILE: teams });
  });

  afterAll(async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
          }),
      ),
    );
    await db?.drop();
  });

  it('each process serves health naming its component, environment and release', async () => {
    for (const [component, port] of Object.entries(ports)) {
      const body = await waitFor(
        async () => {
          const res = await fetch(`http://127.0.0.1:${port}/readyz`);
          return res.status === 200 ? ((await res.json()) as Record<string, unknown>) : null;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: `${component} to be ready\n${output}` },
      );
      expect(body).toMatchObject({ status: 'ready', component, environment: 'qa' });
      const live = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(await live.json()).toEqual({
        status: 'ok',
        component,
        environment: 'qa',
        version: RELEASE,
      });
    }
  });

  it('new DAGs start paused; once unpaused and triggered through the API, the run succeeds', async () => {
    const api = `http://127.0.0.1:${ports.api}/api/v1`;
    const dags = await waitFor(
      async () => {
        const body = (await (await fetch(`${api}/dags`)).json()) as {
          dags: { dag_id: string; is_paused: boolean }[];
        };
        return body.dags.length >= 3 ? body.dags : null;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'the scheduler to load the DAGs' },
    );
    expect(dags.every((d) => d.is_paused)).toBe(true);
    const unpause = await fetch(`${api}/dags/train_model`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"is_paused":false}',
    });
    expect(unpause.status).toBe(200);
    const trigger = await fetch(`${api}/dags/train_model/dagRuns`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"dag_run_id":"apps_run"}',
    });
    expect(trigger.status).toBe(200);
    await waitFor(
      async () => {
        const run = (await (await fetch(`${api}/dags/train_model/dagRuns/apps_run`)).json()) as {
          state: string;
        };
        return run.state === 'success';
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `the run to succeed\n${output}` },
    );
    const tis = (await (
      await fetch(`${api}/dags/train_model/dagRuns/apps_run/taskInstances`)
    ).json()) as { task_instances: { state: string; hostname: string }[] };
    expect(tis.task_instances.map((t) => t.state)).toEqual([
      'success',
      'success',
      'success',
      'success',
      'success',
    ]);
    expect(tis.task_instances.every((t) => t.hostname.startsWith('worker:'))).toBe(true);
    // Log lines carry component and environment, and never the database password or URL.
    expect(output).toContain(`"component":"scheduler","environment":"qa","version":"${RELEASE}"`);
    expect(output).not.toContain(db.url!);
  });
});
