import { TEST_DATABASE_KINDS } from '@updraft/db/testing';
import { createEngineHarness, type EngineHarness, waitFor } from '@updraft/engine/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type UpdraftApp } from './app.ts';

const DAG = `
import { dag, param } from '@updraft/sdk';
export const typed = dag({ id: 'typed', team: 'data-eng', params: { region: param({ type: 'string', enum: ['emea', 'us'], default: 'emea' }), batch: param({ type: 'integer', minimum: 1, default: 10 }) } }, (d) => {
  d.shell('show', { command: 'echo "{{ params.region }} {{ params.batch }}"' });
});
export default dag({ id: 'etl', team: 'data-eng', tags: ['demo'], schedule: '@daily', startDate: '2026-01-01' }, (d) => {
  const extract = d.shell('extract', { command: 'echo "rows={{ params.rows }}"' });
  const load = d.fn('load', async (ctx) => ({ loaded: ctx.params.rows }));
  extract.then(load);
});
`;

describe.each(TEST_DATABASE_KINDS)('REST API (%s)', (kind) => {
  let h: EngineHarness;
  let app: UpdraftApp;
  const json = async (path: string, init?: RequestInit) => {
    const res = await app.request(path, init);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const post = (path: string, body: unknown, method = 'POST') =>
    json(path, {
      method,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });

  beforeAll(async () => {
    h = await createEngineHarness(kind);
    await h.writeDag('etl.ts', DAG);
    await h.writeDag(
      'broken.ts',
      "import { dag } from '@updraft/sdk';\nexport default dag({ id: 'broken', team: 'data-eng', schedule: 'every day' }, (d) => { d.shell('a', { command: 'true' }); });\n",
    );
    await h.processor.sync();
    app = createApp(h.resources, { component: 'api' });
    h.worker().start();
    h.scheduler().start();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('serves health endpoints naming the environment', async () => {
    expect((await json('/healthz')).body).toMatchObject({
      status: 'ok',
      environment: 'local',
      component: 'api',
    });
    expect((await json('/readyz')).status).toBe(200);
  });

  it('lists DAGs with import errors', async () => {
    const { status, body } = await json('/api/v1/dags');
    expect(status).toBe(200);
    expect((body.dags as { dag_id: string }[]).map((d) => d.dag_id)).toEqual(['etl', 'typed']);
    const errors = body.import_errors as { filename: string; stack_trace: string }[];
    expect(errors).toHaveLength(1);
    expect(errors[0]!.stack_trace).toMatch(/DAG "broken".*field "schedule".*"every day"/);
  });

  it('returns a DAG with its task graph', async () => {
    const { body } = await json('/api/v1/dags/etl');
    expect(body.team).toBe('data-eng');
    expect(body.tasks).toEqual([
      expect.objectContaining({
        task_id: 'extract',
        upstream_task_ids: [],
        downstream_task_ids: ['load'],
        type: 'shell',
      }),
      expect.objectContaining({
        task_id: 'load',
        upstream_task_ids: ['extract'],
        downstream_task_ids: [],
        type: 'function',
      }),
    ]);
  });

  it('triggers a run with conf that reaches success, with task instances and logs', async () => {
    const created = await post('/api/v1/dags/etl/dagRuns', {
      conf: { rows: 7, api_token: 'tok-5ecret-77' },
      dag_run_id: 'api_run_1',
    });
    expect(created.status).toBe(200);
    // A secret-looking conf value is stored for the run but never shown back.
    expect(created.body).toMatchObject({
      dag_run_id: 'api_run_1',
      run_type: 'manual',
      conf: { rows: 7, api_token: '***' },
    });
    expect(JSON.stringify((await json('/api/v1/dags/etl/dagRuns')).body)).not.toContain(
      'tok-5ecret-77',
    );
    await waitFor(
      async () => (await json('/api/v1/dags/etl/dagRuns/api_run_1')).body.state === 'success',
      { what: 'run success' },
    );
    const tis = (await json('/api/v1/dags/etl/dagRuns/api_run_1/taskInstances')).body
      .task_instances as { task_id: string; state: string; try_number: number }[];
    expect(tis.map((t) => [t.task_id, t.state, t.try_number])).toEqual([
      ['extract', 'success', 1],
      ['load', 'success', 1],
    ]);
    const log = await json('/api/v1/dags/etl/dagRuns/api_run_1/taskInstances/extract/logs/1');
    expect(log.body.content).toContain('rows=7');
    // Besides the manual run, catchup=false gave exactly one scheduled run: the latest whole day.
    const runs = (await json('/api/v1/dags/etl/dagRuns')).body.dag_runs as {
      run_type: string;
      logical_date: string;
      data_interval_end: string;
    }[];
    const scheduled = runs.filter((r) => r.run_type === 'scheduled');
    const today = new Date(new Date().toISOString().slice(0, 10));
    expect(scheduled).toEqual([
      expect.objectContaining({
        logical_date: new Date(today.getTime() - 86_400_000).toISOString(),
        data_interval_end: today.toISOString(),
      }),
    ]);
    expect(runs.filter((r) => r.run_type === 'manual')).toHaveLength(1);
    // The same run id again is a conflict, not a crash.
    expect((await post('/api/v1/dags/etl/dagRuns', { dag_run_id: 'api_run_1' })).status).toBe(409);
  });

  it('clears a task instance so it runs again with the next try number', async () => {
    const cleared = await post('/api/v1/dags/etl/clearTaskInstances', {
      dag_run_id: 'api_run_1',
      task_ids: ['load'],
    });
    expect(cleared.status).toBe(200);
    await waitFor(
      async () => {
        const ti = (await json('/api/v1/dags/etl/dagRuns/api_run_1/taskInstances/load')).body;
        return ti.state === 'success' && ti.try_number === 2;
      },
      { what: 'cleared task to run again' },
    );
    expect((await json('/api/v1/dags/etl/dagRuns/api_run_1')).body.state).toBe('success');
  });

  it('pauses and unpauses a DAG', async () => {
    expect((await post('/api/v1/dags/etl', { is_paused: true }, 'PATCH')).body.is_paused).toBe(
      true,
    );
    expect((await post('/api/v1/dags/etl', { is_paused: false }, 'PATCH')).body.is_paused).toBe(
      false,
    );
  });

  it("checks conf against the DAG's param rules, naming each bad field, and uses defaults", async () => {
    const bad = await post('/api/v1/dags/typed/dagRuns', { conf: { region: 'apac', batch: 0 } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toBe(
      'invalid conf for DAG "typed": conf.batch must be at least 1; conf.region must be one of "emea", "us"',
    );
    const ok = await post('/api/v1/dags/typed/dagRuns', {
      conf: { region: 'us' },
      dag_run_id: 'typed_ok',
    });
    expect(ok.status).toBe(200);
    await waitFor(
      async () => (await json('/api/v1/dags/typed/dagRuns/typed_ok')).body.state === 'success',
      { what: 'typed run' },
    );
    const log = await json('/api/v1/dags/typed/dagRuns/typed_ok/taskInstances/show/logs/1');
    expect(log.body.content).toContain('us 10');
  });

  it.each([
    ['unknown DAG', () => json('/api/v1/dags/nope'), 404, /DAG "nope" does not exist/],
    ['unknown run', () => json('/api/v1/dags/etl/dagRuns/nope'), 404, /no run "nope"/],
    ['unknown route', () => json('/api/v1/nothing-here'), 404, /no route/],
    ['malformed JSON', () => post('/api/v1/dags/etl/dagRuns', '{"conf":'), 400, /not valid JSON/],
    ['conf not an object', () => post('/api/v1/dags/etl/dagRuns', { conf: [1, 2] }), 400, /conf/],
    ['unknown field', () => post('/api/v1/dags/etl/dagRuns', { confx: {} }), 400, /confx/],
    [
      'bad logical date',
      () => post('/api/v1/dags/etl/dagRuns', { logical_date: 'yesterday' }),
      400,
      /logical_date/,
    ],
    [
      'bad pause body',
      () => post('/api/v1/dags/etl', { is_paused: 'yes' }, 'PATCH'),
      400,
      /is_paused/,
    ],
    ['bad paging', () => json('/api/v1/dags?limit=0'), 400, /limit/],
    [
      'bad try number',
      () => json('/api/v1/dags/etl/dagRuns/api_run_1/taskInstances/extract/logs/zero'),
      400,
      /try number/,
    ],
    [
      'missing try',
      () => json('/api/v1/dags/etl/dagRuns/api_run_1/taskInstances/extract/logs/9'),
      404,
      /no try 9/,
    ],
    [
      'clear unknown task',
      () =>
        post('/api/v1/dags/etl/clearTaskInstances', {
          dag_run_id: 'api_run_1',
          task_ids: ['ghost'],
        }),
      400,
      /no task "ghost"/,
    ],
    [
      'bad run id',
      () => post('/api/v1/dags/etl/dagRuns', { dag_run_id: 'has spaces' }),
      400,
      /dag_run_id/,
    ],
    [
      'a body over 1 MiB',
      () => post('/api/v1/dags/etl/dagRuns', { conf: { blob: 'x'.repeat(1_100_000) } }),
      413,
      /larger than 1 MiB/,
    ],
    // Values PostgreSQL cannot store, refused by the API with a reason (they once were 500s).
    ['a NUL in a path parameter', () => json('/api/v1/dags/a%00b'), 400, /NUL character/],
    ['a NUL in a query value', () => json('/api/v1/dags?team=%00'), 400, /NUL character/],
    [
      'a NUL in a body string',
      () => post('/api/v1/dags/etl/dagRuns', { note: 'a\u0000b' }),
      400,
      /note: contains a NUL character/,
    ],
    [
      'a NUL in a conf key',
      () => post('/api/v1/dags/etl/dagRuns', '{"conf":{"a\\u0000":1}}'),
      400,
      /conf: a key contains a NUL character/,
    ],
    [
      'a lone surrogate in conf',
      () => post('/api/v1/dags/etl/dagRuns', '{"conf":{"a":["\\ud800"]}}'),
      400,
      /conf\.a\.0: contains a lone UTF-16 surrogate/,
    ],
    [
      'conf nested too deep',
      () =>
        post(
          '/api/v1/dags/etl/dagRuns',
          `{"conf":{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`,
        ),
      400,
      /nested more than 64 levels deep/,
    ],
    [
      'a logical date before year 1000',
      () => post('/api/v1/dags/etl/dagRuns', { logical_date: '0001-01-01T00:00:00Z' }),
      400,
      /logical date 0001-01-01T00:00:00.000Z is outside the supported range, years 1000 to 9999/,
    ],
    [
      'a run id of ".."',
      () => post('/api/v1/dags/etl/dagRuns', { dag_run_id: '..' }),
      400,
      /dag_run_id: must not be "\." or "\.\."/,
    ],
    [
      'a map index beyond PostgreSQL integers',
      () =>
        json(
          '/api/v1/dags/etl/dagRuns/api_run_1/taskInstances/extract/logs/1?map_index=2147483648',
        ),
      400,
      /map_index must be an integer from -1 to 2147483647/,
    ],
  ])('answers %s with a clear 4xx', async (_name, call, status, message) => {
    const res = await call();
    expect(res.status).toBe(status);
    expect(res.body.error).toBeTypeOf('string');
    expect(String(res.body.message)).toMatch(message);
  });
});
