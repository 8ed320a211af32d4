/**
 * The backfill API on PostgreSQL: validation errors are 400s naming the field, a DAG without a
 * schedule is refused, and create → list → get → pause → unpause → cancel works end to end.
 */
import { createEngineHarness, type EngineHarness } from '@updraft/engine/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type UpdraftApp } from '../app.ts';

const DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'daily', team: 'data-eng', schedule: '@daily', startDate: '2026-01-01', endDate: '2026-01-01' }, (d) => {
  d.shell('a', { command: 'true' });
});
export const manual = dag({ id: 'manual_only', team: 'data-eng' }, (d) => {
  d.shell('a', { command: 'true' });
});
`;

describe('backfill API (postgres)', () => {
  let h: EngineHarness;
  let app: UpdraftApp;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(`/api/v1${path}`, {
      method,
      ...(body !== undefined && {
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const valid = { dag_id: 'daily', from_date: '2026-01-01', to_date: '2026-01-03' };

  beforeAll(async () => {
    // The DAG is paused: the backfill's runs stay queued, so their states are stable here.
    h = await createEngineHarness('postgres', {
      pauseNewDags: true,
      clock: { now: () => new Date('2026-01-10T00:00:00Z') },
    });
    await h.writeDag('daily.ts', DAG);
    await h.processor.sync();
    app = createApp(h.resources, { component: 'api' });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it.each<[string, Record<string, unknown>, number, string]>([
    ['missing dag_id', { from_date: '2026-01-01', to_date: '2026-01-02' }, 400, 'dag_id'],
    ['bad from_date', { ...valid, from_date: 'yesterday' }, 400, 'from_date'],
    ['a day that does not exist', { ...valid, to_date: '2026-02-30' }, 400, 'to_date'],
    ['a bare number as a date', { ...valid, from_date: '1' }, 400, 'from_date'],
    ['a year before 1000', { ...valid, from_date: '0999-12-31' }, 400, 'from'],
    ['bad reprocess_behavior', { ...valid, reprocess_behavior: 'all' }, 400, 'reprocess_behavior'],
    ['max_active_runs 0', { ...valid, max_active_runs: 0 }, 400, 'max_active_runs'],
    ['unknown field', { ...valid, colour: 'blue' }, 400, '(body)'],
    ['to before from', { ...valid, from_date: '2026-01-05' }, 400, 'to'],
    ['a DAG without a schedule', { ...valid, dag_id: 'manual_only' }, 400, 'dag_id'],
  ])('%s → %i naming %s', async (_name, body, status, field) => {
    const res = await call('POST', '/backfills', body);
    expect(res.status).toBe(status);
    expect(JSON.stringify(res.body.details)).toContain(`"field":"${field}"`);
  });

  it('an unknown DAG is a 404', async () => {
    const res = await call('POST', '/backfills', { ...valid, dag_id: 'nope' });
    expect(res.status).toBe(404);
    expect(res.body.message).toMatch(/DAG "nope" not found/);
  });

  it('dry run lists the runs it would create', async () => {
    const res = await call('POST', '/backfills/dry_run', valid);
    expect(res.status).toBe(200);
    expect(res.body.backfills).toEqual([
      { logical_date: '2026-01-01T00:00:00.000Z', action: 'create' },
      { logical_date: '2026-01-02T00:00:00.000Z', action: 'create' },
      { logical_date: '2026-01-03T00:00:00.000Z', action: 'create' },
    ]);
  });

  it('create, list, get, pause, unpause, cancel', async () => {
    const created = await call('POST', '/backfills', {
      ...valid,
      max_active_runs: 2,
      run_backwards: true,
      dag_run_conf: { api_token: 'tok-abcdef', rows: 5 },
    });
    expect(created.status).toBe(201);
    // Shown as a run's conf is: what looks like a secret is masked.
    expect(created.body.dag_run_conf).toEqual({ api_token: '***', rows: 5 });
    expect(created.body).toMatchObject({
      dag_id: 'daily',
      from_date: '2026-01-01T00:00:00.000Z',
      to_date: '2026-01-03T00:00:00.000Z',
      reprocess_behavior: 'none',
      max_active_runs: 2,
      run_backwards: true,
      is_paused: false,
      completed_at: null,
    });
    const id = created.body.id as number;
    const list = await call('GET', '/backfills?dag_id=daily');
    expect((list.body.backfills as { id: number }[]).map((b) => b.id)).toEqual([id]);
    expect((await call('GET', '/backfills?dag_id=manual_only')).body.total_entries).toBe(0);
    const got = await call('GET', `/backfills/${id}`);
    expect(got.body).toMatchObject({ id, dag_run_counts: { queued: 3 } });
    expect(JSON.stringify([got.body, list.body])).not.toContain('tok-abcdef');
    expect((await call('POST', `/backfills/${id}/pause`)).body).toMatchObject({ is_paused: true });
    expect((await call('PUT', `/backfills/${id}/unpause`)).body).toMatchObject({
      is_paused: false,
    });
    // The same days again: their runs are queued, so there is nothing to do.
    const again = await call('POST', '/backfills', { ...valid, reprocess_behavior: 'completed' });
    expect(again.status).toBe(409);
    const cancelled = await call('POST', `/backfills/${id}/cancel`);
    expect(cancelled.body).toMatchObject({ is_paused: true, completed_at: expect.any(String) });
    expect((await call('GET', `/backfills/${id}`)).body).toMatchObject({
      dag_run_counts: { failed: 3 },
    });
    expect((await call('POST', `/backfills/${id}/unpause`)).status).toBe(409);
  });

  it('unknown and malformed ids', async () => {
    expect((await call('GET', '/backfills/999999')).status).toBe(404);
    const bad = await call('GET', '/backfills/abc');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.details)).toContain('"field":"id"');
  });
});
