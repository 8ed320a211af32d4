/** `updraft pools …` and `updraft tasks clear|mark` against a real API on PostgreSQL. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp, serveApp } from '@updraft/api';
import { createEngineHarness, type EngineHarness } from '@updraft/engine/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = join(fileURLToPath(new URL('..', import.meta.url)), 'src/main.ts');

const DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'pipeline', team: 'data-eng' }, (d) => {
  const extract = d.shell('extract', { command: 'exit 3' });
  const load = d.shell('load', { command: 'true', upstream: [extract] });
  d.shell('report', { command: 'true', upstream: [load] });
});
`;

describe('updraft pools and tasks clear/mark (postgres)', () => {
  let h: EngineHarness;
  let server: { port: number; close(): Promise<void> };
  // Asynchronous: the API answering the CLI runs in this process.
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

  beforeAll(async () => {
    h = await createEngineHarness('postgres');
    await h.writeDag('pipeline.ts', DAG);
    await h.processor.sync();
    await h.scheduler().start();
    await h.worker().start();
    server = await serveApp(createApp(h.resources, { component: 'api' }), {
      port: 0,
      hostname: '127.0.0.1',
    });
  });
  afterAll(async () => {
    await server?.close();
    await h?.close();
  });

  it('sets, lists and deletes pools', async () => {
    const set = await updraft(['pools', 'set', 'warehouse', '4', '--description', 'DWH']);
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/warehouse\s+4\s+0\s+0\s+0\s+4\s+DWH/);
    expect((await updraft(['pools', 'set', 'warehouse', '6'])).stdout).toMatch(/warehouse\s+6/);
    const list = await updraft(['pools', 'list']);
    expect(list.stdout).toMatch(/default_pool\s+128/);
    expect(list.stdout).toMatch(/warehouse\s+6\s+0\s+0\s+0\s+6\s+DWH/);
    const keep = await updraft(['pools', 'delete', 'default_pool']);
    expect(keep.code).toBe(1);
    expect(keep.stderr).toContain('cannot be deleted');
    expect((await updraft(['pools', 'delete', 'warehouse'])).code).toBe(0);
    expect((await updraft(['pools', 'list', '--json'])).stdout).not.toContain('warehouse');
  });

  it('clears with -t -d -u -f --dry-run and marks with -u -d', async () => {
    const { runId } = await h.ops.triggerRun('pipeline', { actor: 'test', runId: 'r1' });
    expect((await h.finishedRun(runId)).state).toBe('failed');
    const dry = await updraft([
      'tasks',
      'clear',
      'pipeline',
      '--run-id',
      'r1',
      '-t',
      '^rep',
      '-u',
      '--dry-run',
    ]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('would clear 3 task instance(s)');
    const down = await updraft([
      'tasks',
      'clear',
      'pipeline',
      '--run-id',
      'r1',
      '-t',
      '^load$',
      '-d',
      '-f',
      '--dry-run',
    ]);
    expect(down.stdout).toContain('would clear 2 task instance(s)');
    expect(down.stdout).toMatch(/load\n\s+report/);
    const mark = await updraft(['tasks', 'mark', 'pipeline', 'r1', 'report', 'success', '-u']);
    expect(mark.code).toBe(0);
    expect(mark.stdout).toContain('marked success 3 task instance(s)');
    expect((await h.finishedRun(runId)).state).toBe('success');
    const bad = await updraft(['tasks', 'mark', 'pipeline', 'r1', 'report', 'done']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('state must be "success" or "failed"');
  });
});
