/**
 * Pools (Airflow's /api/v1/pools) and the callback requests of a run. A pool's JSON carries its
 * slot usage: occupied (queued + running, plus deferred when include_deferred), running, queued,
 * scheduled (waiting), deferred and open slots.
 */
import { ConflictError, NotFoundError } from '@updraft/core/errors';
import { rowsOf } from '@updraft/db';
import { deletePool, type PoolStats, poolStats, setPool } from '@updraft/engine/pools';
import { sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../app.ts';
import { jsonBody } from '../validate.ts';

export function poolJson(p: PoolStats) {
  return {
    name: p.name,
    slots: p.slots,
    description: p.description,
    include_deferred: p.includeDeferred,
    occupied_slots: p.occupied,
    running_slots: p.running,
    queued_slots: p.queued,
    scheduled_slots: p.scheduled,
    deferred_slots: p.deferred,
    open_slots: p.open,
  };
}

const slots = z.number().int().min(0).max(1_000_000);
const createBody = z.strictObject({
  name: z.string().min(1).max(250),
  slots,
  description: z.string().max(1000).nullable().optional(),
  include_deferred: z.boolean().optional(),
});
const updateBody = z.strictObject({
  slots: slots.optional(),
  description: z.string().max(1000).nullable().optional(),
  include_deferred: z.boolean().optional(),
});

export function poolRoutes(deps: ApiDeps) {
  const { db } = deps.database;
  const app = new Hono();

  const requirePool = async (name: string) => {
    const [pool] = await poolStats(db, name);
    if (!pool) throw new NotFoundError(`pool "${name}" does not exist`);
    return pool;
  };

  app.get('/pools', async (c) => {
    const pools = await poolStats(db);
    return c.json({ pools: pools.map(poolJson), total_entries: pools.length });
  });

  app.get('/pools/:name', async (c) => c.json(poolJson(await requirePool(c.req.param('name')))));

  app.post('/pools', async (c) => {
    const body = await jsonBody(c, createBody);
    if ((await poolStats(db, body.name)).length > 0)
      throw new ConflictError(`pool "${body.name}" already exists; PATCH it to change it`);
    const pool = await setPool(db, {
      name: body.name,
      slots: body.slots,
      ...(body.description !== undefined && { description: body.description }),
      ...(body.include_deferred !== undefined && { includeDeferred: body.include_deferred }),
    });
    return c.json(poolJson(pool), 200);
  });

  app.patch('/pools/:name', async (c) => {
    const name = c.req.param('name');
    await requirePool(name);
    const body = await jsonBody(c, updateBody);
    const pool = await setPool(db, {
      name,
      ...(body.slots !== undefined && { slots: body.slots }),
      ...(body.description !== undefined && { description: body.description }),
      ...(body.include_deferred !== undefined && { includeDeferred: body.include_deferred }),
    });
    return c.json(poolJson(pool));
  });

  app.delete('/pools/:name', async (c) => {
    await deletePool(db, c.req.param('name'));
    return c.body(null, 204);
  });

  app.get('/dags/:dagId/dagRuns/:runId/callbacks', async (c) => {
    const { dagId, runId } = c.req.param();
    const [run] = rowsOf<{ id: number }>(
      await db.execute(sql`select id from dag_runs where dag_id = ${dagId} and run_id = ${runId}`),
    );
    if (!run) throw new NotFoundError(`DAG "${dagId}" has no run "${runId}"`);
    const rows = rowsOf<{
      id: number;
      scope: string;
      event: string;
      task_id: string | null;
      map_index: number | null;
      try_number: number | null;
      state: string;
      attempts: number;
      error: string | null;
      payload: { callback?: { kind: string; ref?: string; method?: string; url?: string } };
      created_at: Date | string;
      finished_at: Date | string | null;
    }>(
      await db.execute(sql`select id, scope, event, task_id, map_index, try_number, state, attempts,
          error, payload, created_at, finished_at
        from callback_requests where dag_run_id = ${run.id} order by id`),
    );
    return c.json({
      callbacks: rows.map((r) => {
        const cb = (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload)?.callback;
        return {
          id: Number(r.id),
          scope: r.scope,
          event: r.event,
          task_id: r.task_id,
          map_index: r.map_index,
          try_number: r.try_number,
          state: r.state,
          attempts: r.attempts,
          error: r.error,
          // The url as written (with "${VAR}" placeholders), never headers or filled-in values.
          callback:
            cb?.kind === 'http'
              ? { kind: 'http', method: cb.method, url: cb.url }
              : { kind: cb?.kind ?? 'function', ref: cb?.ref ?? null },
          created_at: new Date(r.created_at).toISOString(),
          finished_at: r.finished_at ? new Date(r.finished_at).toISOString() : null,
        };
      }),
      total_entries: rows.length,
    });
  });

  return app;
}
