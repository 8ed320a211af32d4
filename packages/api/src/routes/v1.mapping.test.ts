/** The REST API's view of mapped task instances: listed with map_index, one fetched by its index. */
import { createEngineHarness, type EngineHarness } from '@updraft/engine/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type UpdraftApp } from '../app.ts';

const DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'mapped_api', team: 'data-eng' }, (d) => {
  d.group('g', (g) => {
    g.map('double', [1, 2], (ctx) => ctx.item * 2, { dependsOnPast: true });
  });
});
`;

describe('mapped task instances in the API (postgres)', () => {
  let h: EngineHarness;
  let app: UpdraftApp;
  let runId: string;
  const json = async (path: string) => {
    const res = await app.request(path);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    h = await createEngineHarness('postgres');
    await h.writeDag('mapped.ts', DAG);
    await h.processor.sync();
    app = createApp(h.resources, { component: 'api' });
    await h.worker().start();
    await h.scheduler().start();
    ({ runId } = await h.ops.triggerRun('mapped_api', { actor: 'test' }));
    await h.finishedRun(runId);
  });
  afterAll(async () => {
    await h?.close();
  });

  const base = () => `/api/v1/dags/mapped_api/dagRuns/${encodeURIComponent(runId)}/taskInstances`;

  it('lists every mapped instance with its map_index', async () => {
    const { body } = await json(base());
    const tis = body.task_instances as { task_id: string; map_index: number; state: string }[];
    expect(tis.map((t) => [t.task_id, t.map_index, t.state])).toEqual([
      ['g.double', 0, 'success'],
      ['g.double', 1, 'success'],
    ]);
  });

  it.each([
    ['1', 200, { task_id: 'g.double', map_index: 1, state: 'success' }],
    [
      '5',
      404,
      { message: `run "${'{run}'}" of DAG "mapped_api" has no task "g.double" with map index 5` },
    ],
    ['x', 400, { error: 'invalid', message: 'map index must be an integer from -1 to 2147483647' }],
    // Beyond PostgreSQL's integer: refused by validation, not by the database.
    [
      '2147483648',
      400,
      { error: 'invalid', message: 'map index must be an integer from -1 to 2147483647' },
    ],
  ])('GET /taskInstances/g.double/%s → %i', async (index, status, expected) => {
    const res = await json(`${base()}/g.double/${index}`);
    expect(res.status).toBe(status);
    const want = JSON.parse(JSON.stringify(expected).replace('{run}', runId));
    expect(res.body).toMatchObject(want);
  });

  it('marks one mapped instance by its map index, then every instance without one', async () => {
    const patch = (path: string, body: unknown) =>
      app.request(path, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const one = await patch(`${base()}/g.double/1`, { new_state: 'failed' });
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ task_id: 'g.double', map_index: 1, state: 'failed' });
    expect((await json(`${base()}/g.double/0`)).body).toMatchObject({ state: 'success' });
    const bad = await patch(`${base()}/g.double/7`, { new_state: 'failed' });
    expect(bad.status).toBe(404);

    const all = await patch(`${base()}/g.double`, { new_state: 'success' });
    expect(all.status).toBe(200);
    const states = ((await json(base())).body.task_instances as { state: string }[]).map(
      (t) => t.state,
    );
    expect(states).toEqual(['success', 'success']);
  });

  it('serves the log of one mapped instance with ?map_index=', async () => {
    const res = await app.request(`${base()}/g.double/logs/1?map_index=1`);
    expect(res.status).toBe(200);
    const bad = await json(`${base()}/g.double/logs/1?map_index=first`);
    expect(bad).toMatchObject({
      status: 400,
      body: { message: 'map_index must be an integer from -1 to 2147483647' },
    });
  });

  it('describes tasks with their group, whether they are mapped, and depends_on_past', async () => {
    const { body } = await json('/api/v1/dags/mapped_api');
    expect(body.tasks).toEqual([
      expect.objectContaining({
        task_id: 'g.double',
        group: 'g',
        is_mapped: true,
        depends_on_past: true,
        wait_for_downstream: false,
      }),
    ]);
  });
});
