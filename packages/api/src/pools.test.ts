/**
 * Pools, callbacks and manual state changes over the REST API (in-process, real PostgreSQL).
 */
import { createEngineHarness, type EngineHarness, waitFor } from '@updraft/engine/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type UpdraftApp } from './app.ts';

const DAGS = `
import { dag, webhook } from '@updraft/sdk';
export const chain = dag({ id: 'chain', team: 'data-eng' }, (d) => {
  const a = d.shell('a', { command: 'test -n "{{ params.ok }}"' });
  const b = d.shell('b', { command: 'true', upstream: [a] });
  d.shell('c', { command: 'true', upstream: [b] });
  d.shell('side', { command: 'true' });
});
export const hooked = dag({ id: 'hooked', team: 'data-eng',
  onSuccess: webhook({ url: 'http://127.0.0.1:1/never?token=\${HOOK_TOKEN}', headers: { authorization: 'Bearer \${HOOK_TOKEN}' }, timeout: '2s' }),
}, (d) => {
  d.shell('only', { command: 'true' });
});
`;

describe('pools, callbacks and manual changes over the API (postgres)', () => {
  let h: EngineHarness;
  let app: UpdraftApp;
  const json = async (path: string, init?: RequestInit) => {
    const res = await app.request(path, init);
    const text = await res.text();
    return {
      status: res.status,
      body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
    };
  };
  const send = (path: string, body: unknown, method = 'POST') =>
    json(path, {
      method,
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });

  beforeAll(async () => {
    h = await createEngineHarness('postgres');
    await h.writeDag('dags.ts', DAGS);
    await h.processor.sync();
    app = createApp(h.resources, { component: 'api' });
    await h.scheduler().start();
    await h
      .worker({
        callbacks: {
          env: { HOOK_TOKEN: 'tok-secret-99' },
          pollIntervalMs: 50,
          backoffMs: 10,
          maxAttempts: 2,
        },
      })
      .start();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('lists, creates, updates and deletes pools with their slot usage', async () => {
    const list = await json('/api/v1/pools');
    expect(list.status).toBe(200);
    expect(list.body.pools).toContainEqual(
      expect.objectContaining({ name: 'default_pool', slots: 128, open_slots: 128 }),
    );
    const created = await send('/api/v1/pools', { name: 'etl', slots: 3, description: 'ETL' });
    expect(created).toMatchObject({
      status: 200,
      body: {
        name: 'etl',
        slots: 3,
        description: 'ETL',
        include_deferred: false,
        occupied_slots: 0,
        running_slots: 0,
        queued_slots: 0,
        open_slots: 3,
      },
    });
    expect((await send('/api/v1/pools', { name: 'etl', slots: 1 })).status).toBe(409);
    const bad = await send('/api/v1/pools', { name: 'x', slots: -1 });
    expect(bad.status).toBe(400);
    expect(String(bad.body.message)).toContain('slots');
    const patched = await send('/api/v1/pools/etl', { slots: 5, include_deferred: true }, 'PATCH');
    expect(patched.body).toMatchObject({ slots: 5, include_deferred: true, description: 'ETL' });
    expect((await json('/api/v1/pools/missing')).status).toBe(404);
    const keep = await json('/api/v1/pools/default_pool', { method: 'DELETE' });
    expect(keep.status).toBe(400);
    expect(String(keep.body.message)).toContain('cannot be deleted');
    expect((await json('/api/v1/pools/etl', { method: 'DELETE' })).status).toBe(204);
    expect((await json('/api/v1/pools/etl')).status).toBe(404);
  });

  it('clears and marks with upstream, downstream, only-running and dry-run options', async () => {
    const runId = 'manual_1';
    expect((await send('/api/v1/dags/chain/dagRuns', { dag_run_id: runId })).status).toBe(200);
    expect((await h.finishedRun(runId)).state).toBe('failed');
    const states = async () =>
      Object.fromEntries(
        (
          (await json(`/api/v1/dags/chain/dagRuns/${runId}/taskInstances`)).body.task_instances as {
            task_id: string;
            state: string;
          }[]
        ).map((t) => [t.task_id, t.state]),
      );
    expect(await states()).toEqual({
      a: 'failed',
      b: 'upstream_failed',
      c: 'upstream_failed',
      side: 'success',
    });
    const ids = (body: Record<string, unknown>) =>
      (body.task_instances as { task_id: string }[]).map((t) => t.task_id).sort();

    const cases: [string, Record<string, unknown>, string[]][] = [
      ['c and upstream', { task_ids: ['c'], include_upstream: true }, ['a', 'b', 'c']],
      ['b and downstream', { task_ids: ['b'], include_downstream: true }, ['b', 'c']],
      ['only failed', { only_failed: true }, ['a', 'b', 'c']],
      ['only running', { only_running: true }, []],
      ['a alone', { task_ids: ['a'] }, ['a']],
    ];
    for (const [what, options, expected] of cases) {
      const res = await send('/api/v1/dags/chain/clearTaskInstances', {
        dag_run_id: runId,
        dry_run: true,
        ...options,
      });
      expect([what, res.status, ids(res.body)]).toEqual([what, 200, expected]);
    }
    // Dry runs changed nothing.
    expect((await states()).a).toBe('failed');

    const dry = await send(
      `/api/v1/dags/chain/dagRuns/${runId}/taskInstances/a`,
      { new_state: 'success', include_downstream: true, dry_run: true },
      'PATCH',
    );
    expect(dry.status).toBe(200);
    expect(ids(dry.body)).toEqual(['a', 'b', 'c']);
    expect((await states()).a).toBe('failed');

    // Mark b and its upstream success (as in Airflow, c stays upstream_failed until cleared)...
    const marked = await send('/api/v1/dags/chain/updateTaskInstancesState', {
      dag_run_id: runId,
      task_ids: ['b'],
      new_state: 'success',
      include_upstream: true,
    });
    expect(marked.status).toBe(200);
    expect(ids(marked.body)).toEqual(['a', 'b']);
    expect(await states()).toMatchObject({ a: 'success', b: 'success', c: 'upstream_failed' });
    // ...then clear c: it runs, and the run succeeds.
    const cleared = await send('/api/v1/dags/chain/clearTaskInstances', {
      dag_run_id: runId,
      task_ids: ['c'],
    });
    expect(ids(cleared.body)).toEqual(['c']);
    await waitFor(async () => ((await states()).c === 'success' ? true : null), {
      what: 'c to run after it was cleared',
    });
    expect((await h.finishedRun(runId)).state).toBe('success');

    // Mark c failed with upstream: the run fails again; side is untouched.
    const failed = await send(
      `/api/v1/dags/chain/dagRuns/${runId}/taskInstances/c`,
      { new_state: 'failed', include_upstream: true },
      'PATCH',
    );
    expect(ids(failed.body)).toEqual(['a', 'b', 'c']);
    expect(await states()).toEqual({ a: 'failed', b: 'failed', c: 'failed', side: 'success' });
    expect((await json(`/api/v1/dags/chain/dagRuns/${runId}`)).body.state).toBe('failed');

    const unknown = await send('/api/v1/dags/chain/updateTaskInstancesState', {
      dag_run_id: runId,
      task_ids: ['nope'],
      new_state: 'success',
    });
    expect(unknown.status).toBe(404);
    expect(String(unknown.body.message)).toContain('"nope"');
    // A map index the task does not have is not found either (PATCH of one instance agrees).
    const noSuchIndex = await send('/api/v1/dags/chain/updateTaskInstancesState', {
      dag_run_id: runId,
      task_ids: ['a'],
      map_index: 3,
      new_state: 'success',
    });
    expect(noSuchIndex.status).toBe(404);
    expect(String(noSuchIndex.body.message)).toContain('"a"[3]');
    expect((await states()).a).toBe('failed');
  });

  it('marks a whole run success or failed, and queues it again (PATCH dagRun state)', async () => {
    const runId = 'whole_1';
    await send('/api/v1/dags/chain/dagRuns', { dag_run_id: runId });
    expect((await h.finishedRun(runId)).state).toBe('failed');
    const states = async () =>
      Object.fromEntries(
        (
          (await json(`/api/v1/dags/chain/dagRuns/${runId}/taskInstances`)).body.task_instances as {
            task_id: string;
            state: string;
          }[]
        ).map((t) => [t.task_id, t.state]),
      );
    const ok = await send(`/api/v1/dags/chain/dagRuns/${runId}`, { state: 'success' }, 'PATCH');
    expect(ok).toMatchObject({ status: 200, body: { state: 'success' } });
    expect(await states()).toEqual({ a: 'success', b: 'success', c: 'success', side: 'success' });
    const failed = await send(`/api/v1/dags/chain/dagRuns/${runId}`, { state: 'failed' }, 'PATCH');
    expect(failed.body.state).toBe('failed');
    // Finished task instances keep their states; only unfinished ones change when failing a run.
    expect(await states()).toEqual({ a: 'success', b: 'success', c: 'success', side: 'success' });
    const again = await send(`/api/v1/dags/chain/dagRuns/${runId}`, { state: 'queued' }, 'PATCH');
    expect(again.status).toBe(200);
    // Cleared: it runs again, and a fails again as it did the first time.
    await waitFor(async () => ((await states()).a === 'failed' ? true : null), {
      what: 'the cleared run to run again',
    });
    expect((await h.finishedRun(runId)).state).toBe('failed');
    const bad = await send(`/api/v1/dags/chain/dagRuns/${runId}`, { state: 'running' }, 'PATCH');
    expect(bad.status).toBe(400);
  });

  it('shows a run’s callbacks and their outcome, never a secret', async () => {
    const runId = 'hooked_1';
    await send('/api/v1/dags/hooked/dagRuns', { dag_run_id: runId });
    expect((await h.finishedRun(runId)).state).toBe('success');
    const res = await waitFor(
      async () => {
        const r = await json(`/api/v1/dags/hooked/dagRuns/${runId}/callbacks`);
        const [cb] = r.body.callbacks as { state: string }[];
        return cb?.state === 'failed' ? r : null;
      },
      { what: 'the webhook callback to fail for good' },
    );
    expect(res.body.callbacks).toEqual([
      expect.objectContaining({
        scope: 'dag',
        event: 'success',
        task_id: null,
        state: 'failed',
        attempts: 2,
        callback: {
          kind: 'http',
          method: 'POST',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the url as written in the DAG
          url: 'http://127.0.0.1:1/never?token=${HOOK_TOKEN}',
        },
      }),
    ]);
    expect(JSON.stringify(res.body)).not.toContain('tok-secret-99');
    expect((await json('/api/v1/dags/hooked/dagRuns/nope/callbacks')).status).toBe(404);
  });
});
