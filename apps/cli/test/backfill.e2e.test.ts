/** `updraft backfill …` against a real API on PostgreSQL. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp, serveApp } from '@updraft/api';
import { createEngineHarness, type EngineHarness } from '@updraft/engine/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = join(fileURLToPath(new URL('..', import.meta.url)), 'src/main.ts');

const DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'daily', team: 'data-eng', schedule: '@daily', startDate: '2026-01-01', endDate: '2026-01-01' }, (d) => {
  d.shell('a', { command: 'true' });
});
export const manual = dag({ id: 'manual_only', team: 'data-eng' }, (d) => {
  d.shell('a', { command: 'true' });
});
`;

describe('updraft backfill (postgres)', () => {
  let h: EngineHarness;
  let server: { port: number; close(): Promise<void> };
  const updraft = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [MAIN, ...args], {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          UPDRAFT_API_URL: `http://127.0.0.1:${server.port}`,
        },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => {
        stdout += c;
      });
      child.stderr.on('data', (c) => {
        stderr += c;
      });
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  /** `updraft backfill create <dag> --from <from> --to <to> [options…]`. */
  const createBackfill = (dagId: string, from: string, to: string, ...options: string[]) =>
    updraft(['backfill', 'create', dagId, '--from', from, '--to', to, ...options]);

  beforeAll(async () => {
    h = await createEngineHarness('postgres', {
      clock: { now: () => new Date('2026-01-10T00:00:00Z') },
    });
    await h.writeDag('daily.ts', DAG);
    await h.processor.sync();
    await h.scheduler().start();
    await h.worker().start();
    server = await serveApp(createApp(h.resources, { component: 'api' }), {
      port: 0,
      hostname: '127.0.0.1',
    });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await h?.close();
  });

  it('dry run, create, list, get', async () => {
    const dry = await createBackfill('daily', '2026-01-01', '2026-01-03', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('dry run: 3 interval(s) of DAG "daily"');
    const dates = (text: string) => text.match(/2026-01-0\dT00:00:00.000Z/g);
    expect(dates(dry.stdout)).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2026-01-02T00:00:00.000Z',
      '2026-01-03T00:00:00.000Z',
    ]);
    // Backwards: the plan is printed in the order the runs go, newest first.
    const backwards = await createBackfill(
      'daily',
      '2026-01-01',
      '2026-01-03',
      '--backwards',
      '--dry-run',
    );
    expect(backwards.stdout).toContain('newest first');
    expect(dates(backwards.stdout)).toEqual([
      '2026-01-03T00:00:00.000Z',
      '2026-01-02T00:00:00.000Z',
      '2026-01-01T00:00:00.000Z',
    ]);
    const created = await createBackfill(
      'daily',
      '2026-01-01',
      '2026-01-03',
      '--max-active-runs',
      '2',
      '--backwards',
      '--conf',
      '{"x":1}',
      '--json',
    );
    expect(created.code).toBe(0);
    const body = JSON.parse(created.stdout) as {
      id: number;
      max_active_runs: number;
      run_backwards: boolean;
      dag_run_conf: unknown;
    };
    expect(body).toMatchObject({ max_active_runs: 2, run_backwards: true, dag_run_conf: { x: 1 } });
    const list = await updraft(['backfill', 'list', '--dag-id', 'daily']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      new RegExp(`^${body.id}\\s+daily\\s+2026-01-01T00:00:00.000Z`, 'm'),
    );
    const got = await updraft(['backfill', 'get', String(body.id)]);
    expect(got.code).toBe(0);
    expect(got.stdout).toMatch(/runs: /);
  });

  it('reports errors with the reason and a non-zero exit', async () => {
    const noSchedule = await createBackfill('manual_only', '2026-01-01', '2026-01-02');
    expect(noSchedule.code).toBe(1);
    expect(noSchedule.stderr).toContain(
      'DAG "manual_only" has no schedule and cannot be backfilled',
    );
    const badMode = await createBackfill('daily', '2026-01-01', '2026-01-02', '--reprocess', 'all');
    expect(badMode.code).not.toBe(0);
    expect(badMode.stderr).toMatch(/Allowed choices are none, failed, completed/);
    const badDate = await createBackfill('daily', 'yesterday', '2026-01-02');
    expect(badDate.code).not.toBe(0);
    expect(badDate.stderr).toContain('--from must be an ISO-8601 date');
  });
});
