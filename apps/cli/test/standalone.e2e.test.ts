/**
 * Standalone as a user runs it: a child process on a free port with the example DAGs on embedded
 * PGlite. Trigger a DAG over HTTP and see it succeed; add a DAG file with a cycle and see an import
 * error while the others keep running; restart and find the run still there.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '@updraft/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI_DIR = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(CLI_DIR, 'src/main.ts');
const EXAMPLES = fileURLToPath(new URL('../../../examples/dags', import.meta.url));

describe('updraft standalone', () => {
  let dir: string;
  let port: number;
  let child: ChildProcess | undefined;
  let output = '';
  const base = () => `http://127.0.0.1:${port}`;
  const get = async (path: string) => {
    const res = await fetch(`${base()}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  async function start(): Promise<void> {
    child = spawn(
      process.execPath,
      [
        MAIN,
        'standalone',
        '--port',
        String(port),
        '--data-dir',
        join(dir, 'data'),
        '--dags-folder',
        join(dir, 'dags'),
        '--log-format',
        'json',
      ],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          LOG_LEVEL: 'info',
          UPDRAFT_ENV: 'local',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    // Ready once the DAG folder has been read (the API answers while it is read).
    await waitFor(async () => (await get('/readyz')).status === 200, {
      timeoutMs: 90_000,
      intervalMs: 200,
      what: `standalone to answer on port ${port}\n${output}`,
    });
  }

  async function stop(): Promise<number | null> {
    const c = child!;
    const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
    c.kill('SIGTERM');
    const code = await exited;
    child = undefined;
    return code;
  }

  beforeAll(async () => {
    // Inside the package, so DAG files resolve @updraft/sdk like the examples do.
    dir = await mkdtemp(join(CLI_DIR, '.tmp-standalone-'));
    await cp(EXAMPLES, join(dir, 'dags'), { recursive: true });
    port = await freePort();
    await start();
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('serves health naming the environment and lists the example DAGs', async () => {
    // Without UPDRAFT_VERSION, the release is the version of the packages it runs from.
    const engine = JSON.parse(
      await readFile(new URL('../../../packages/engine/package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    expect((await get('/healthz')).body).toMatchObject({
      status: 'ok',
      environment: 'local',
      component: 'standalone',
      version: engine.version,
    });
    const { body } = await get('/api/v1/dags');
    const ids = (body.dags as { dag_id: string }[]).map((d) => d.dag_id);
    expect(ids.length).toBeGreaterThanOrEqual(3);
    expect(ids).toEqual(
      expect.arrayContaining(['daily_sales_etl', 'train_model', 'weekly_kpi_report']),
    );
    expect(body.import_errors).toEqual([]);
    expect(output).toContain('"environment":"local"');
  });

  it('runs a triggered DAG to success, visible in its task instances', async () => {
    const res = await fetch(`${base()}/api/v1/dags/train_model/dagRuns`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dag_run_id: 'e2e_run', conf: { epochs: 4 } }),
    });
    expect(res.status).toBe(200);
    await waitFor(
      async () => (await get('/api/v1/dags/train_model/dagRuns/e2e_run')).body.state === 'success',
      { timeoutMs: 60_000, intervalMs: 200, what: 'the run to succeed' },
    );
    const tis = (await get('/api/v1/dags/train_model/dagRuns/e2e_run/taskInstances')).body
      .task_instances as { task_id: string; state: string }[];
    expect(tis).toHaveLength(5);
    expect(tis.every((t) => t.state === 'success')).toBe(true);
    const log = (
      await get('/api/v1/dags/train_model/dagRuns/e2e_run/taskInstances/train_tree/logs/1')
    ).body;
    expect(log.content).toContain('for 4 epochs');
  });

  it('runs a DAG with a reschedule sensor, a mapped task, a pool and a branch, with the right states over the API', async () => {
    // The pool comes from examples/teams.yaml.
    expect((await get('/api/v1/pools/warehouse')).body).toMatchObject({
      name: 'warehouse',
      slots: 2,
    });
    const res = await fetch(`${base()}/api/v1/dags/warehouse_refresh/dagRuns`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dag_run_id: 'showcase', conf: { fullReportAbove: 10_000 } }),
    });
    expect(res.status).toBe(200);
    const runPath = '/api/v1/dags/warehouse_refresh/dagRuns/showcase';
    await waitFor(async () => (await get(runPath)).body.state === 'success', {
      timeoutMs: 90_000,
      intervalMs: 200,
      what: `the showcase run to succeed\n${output.slice(-3000)}`,
    });
    const tis = (await get(`${runPath}/taskInstances`)).body.task_instances as {
      task_id: string;
      map_index: number;
      state: string;
      try_number: number;
      pool: string;
      start_date: string;
      end_date: string;
    }[];
    const states = Object.fromEntries(
      tis.map((t) => [t.map_index >= 0 ? `${t.task_id}[${t.map_index}]` : t.task_id, t.state]),
    );
    expect(states).toEqual({
      wait_for_export: 'success',
      list_regions: 'success',
      'load_region[0]': 'success',
      'load_region[1]': 'success',
      'load_region[2]': 'success',
      choose_report: 'success',
      full_report: 'skipped',
      summary_report: 'success',
      publish: 'success',
    });
    // The sensor waited up_for_reschedule between checks, all within its first try.
    const sensor = tis.find((t) => t.task_id === 'wait_for_export')!;
    expect(sensor.try_number).toBe(1);
    const events = (
      await get('/api/v1/dags/warehouse_refresh/events?dag_run_id=showcase&limit=1000')
    ).body as {
      events?: { task_id: string | null; to_state: string | null }[];
    };
    const rescheduled = (events.events ?? []).filter(
      (e) => e.task_id === 'wait_for_export' && e.to_state === 'up_for_reschedule',
    );
    expect(rescheduled.length).toBeGreaterThanOrEqual(1);
    // The pool's two slots bounded the three loads: never more than two ran at once.
    const loads = tis.filter((t) => t.task_id === 'load_region');
    expect(loads.every((t) => t.pool === 'warehouse')).toBe(true);
    const overlapping = Math.max(
      ...loads.map(
        (a) =>
          loads.filter(
            (b) =>
              Date.parse(b.start_date) <= Date.parse(a.start_date) &&
              Date.parse(a.start_date) < Date.parse(b.end_date),
          ).length,
      ),
    );
    expect(overlapping).toBe(2);
  });

  it('reports a DAG file with a cycle as an import error naming the cycle; the others keep running', async () => {
    await writeFile(
      join(dir, 'dags', 'cyclic.ts'),
      `import { dag } from '@updraft/sdk';
export default dag({ id: 'cyclic', team: 'data-eng' }, (d) => {
  const a = d.shell('a', { command: 'true' });
  const b = d.shell('b', { command: 'true' });
  const c = d.shell('c', { command: 'true' });
  a.then(b).then(c).then(a);
});
`,
    );
    const errors = await waitFor(
      async () => {
        const e = (await get('/api/v1/dags')).body.import_errors as {
          filename: string;
          stack_trace: string;
        }[];
        return e.length > 0 ? e : null;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the import error' },
    );
    expect(errors[0]!.filename).toMatch(/cyclic\.ts$/);
    expect(errors[0]!.stack_trace).toMatch(
      /DAG "cyclic".*cycle detected: (a → b → c → a|b → c → a → b|c → a → b → c)/,
    );
    const res = await fetch(`${base()}/api/v1/dags/daily_sales_etl/dagRuns`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dag_run_id: 'after_cycle' }),
    });
    expect(res.status).toBe(200);
    await waitFor(
      async () =>
        (await get('/api/v1/dags/daily_sales_etl/dagRuns/after_cycle')).body.state === 'success',
      { timeoutMs: 60_000, intervalMs: 200, what: 'another DAG to keep running' },
    );
  });

  /** Another standalone, run until it exits by itself: its exit code and output. */
  const second = (args: string[]) =>
    new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const other = spawn(process.execPath, [MAIN, 'standalone', '--log-format', 'json', ...args], {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          UPDRAFT_ENV: 'local',
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      other.stdout!.on('data', (d) => (out += d));
      other.stderr!.on('data', (d) => (out += d));
      const timer = setTimeout(() => {
        other.kill('SIGKILL');
        reject(new Error(`the second standalone did not exit by itself:\n${out}`));
      }, 60_000);
      other.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, output: out });
      });
    });

  it('a second standalone on the same data directory exits at once, naming the one that holds it', async () => {
    const other = await second([
      '--port',
      String(await freePort()),
      '--data-dir',
      join(dir, 'data'),
      '--dags-folder',
      join(dir, 'dags'),
    ]);
    expect(other.code).toBe(1);
    expect(other.output).toContain(`is in use by another process (pid ${child!.pid})`);
    // The first one is unharmed.
    expect((await get('/healthz')).status).toBe(200);
  });

  it('a second standalone on a port in use exits, saying so, instead of running without its API', async () => {
    const other = await second([
      '--port',
      String(port),
      '--data-dir',
      join(dir, 'other-data'),
      '--dags-folder',
      join(dir, 'dags'),
    ]);
    expect(other.code).toBe(1);
    expect(other.output).toContain(
      `cannot serve on http://127.0.0.1:${port}: the port is in use (another Updraft standalone?); choose another with --port`,
    );
    // Nothing was read or recorded before the port was found taken.
    expect(other.output).not.toContain('DAG files synced');
  });

  it('keeps its data across a restart', async () => {
    expect(await stop()).toBe(0);
    await start();
    const run = (await get('/api/v1/dags/train_model/dagRuns/e2e_run')).body;
    expect(run).toMatchObject({ dag_run_id: 'e2e_run', state: 'success', conf: { epochs: 4 } });
    expect(await stop()).toBe(0);
  });
});
