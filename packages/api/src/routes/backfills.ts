/**
 * Backfills (Airflow 3's /api/v2/backfills, under /api/v1 here): create (or dry-run), list by DAG,
 * read one with its run counts, pause, unpause and cancel. Field names follow Airflow 3.
 */
import { isoDateSchema } from '@updraft/core/dag';
import { maskSensitiveFields } from '@updraft/engine';
import type { BackfillRow, Backfills, IntervalPlan } from '@updraft/engine/backfill';
import { Hono } from 'hono';
import { z } from 'zod';
import { BadRequest } from '../errors.ts';
import { jsonBody, query } from '../validate.ts';

export function backfillJson(b: BackfillRow & { runs?: Record<string, number> }) {
  return {
    id: b.id,
    dag_id: b.dagId,
    from_date: b.fromDate.toISOString(),
    to_date: b.toDate.toISOString(),
    dag_run_conf: maskSensitiveFields(b.dagRunConf),
    reprocess_behavior: b.reprocess,
    max_active_runs: b.maxActiveRuns,
    run_backwards: b.backwards,
    is_paused: b.isPaused,
    created_by: b.createdBy,
    created_at: b.createdAt.toISOString(),
    updated_at: b.updatedAt.toISOString(),
    completed_at: b.completedAt?.toISOString() ?? null,
    ...(b.runs && { dag_run_counts: b.runs }),
  };
}

function planJson(plan: IntervalPlan[]) {
  return plan.map((p) => ({
    logical_date: p.logicalDate.toISOString(),
    action: p.action,
    ...(p.action !== 'create' && { dag_run_id: p.runId, state: p.state }),
    ...(p.action === 'skip' && { reason: p.reason }),
  }));
}

// Strictly ISO 8601, with an offset: a date without one would be read in this server's zone.
const isoDate = isoDateSchema({ local: false }).transform((s) => new Date(s));

const createBody = z.strictObject({
  dag_id: z.string().min(1).max(250),
  from_date: isoDate,
  to_date: isoDate,
  run_backwards: z.boolean().default(false),
  dag_run_conf: z.record(z.string(), z.unknown()).default({}),
  reprocess_behavior: z.enum(['none', 'failed', 'completed']).default('none'),
  max_active_runs: z.number().int().min(1).max(1000).default(10),
});

const idParam = z.coerce.number().int().positive();
const listQuery = z.object({ dag_id: z.string().min(1).max(250).optional() });

export function backfillRoutes(backfills: Backfills) {
  const app = new Hono();
  const actor = 'api';

  const create = (body: z.infer<typeof createBody>, dryRun: boolean) =>
    backfills.create({
      dagId: body.dag_id,
      from: body.from_date,
      to: body.to_date,
      backwards: body.run_backwards,
      conf: body.dag_run_conf,
      reprocess: body.reprocess_behavior,
      maxActiveRuns: body.max_active_runs,
      dryRun,
      actor,
    });

  app.post('/backfills', async (c) => {
    const { backfill, plan } = await create(await jsonBody(c, createBody), false);
    return c.json({ ...backfillJson(backfill!), dag_runs: planJson(plan) }, 201);
  });

  app.post('/backfills/dry_run', async (c) => {
    const { plan } = await create(await jsonBody(c, createBody), true);
    return c.json({ backfills: planJson(plan), total_entries: plan.length });
  });

  app.get('/backfills', async (c) => {
    const q = query(c, listQuery);
    const rows = await backfills.list(q.dag_id);
    return c.json({ backfills: rows.map((b) => backfillJson(b)), total_entries: rows.length });
  });

  const id = (raw: string) => {
    const parsed = idParam.safeParse(raw);
    if (!parsed.success) {
      throw new BadRequest(`backfill id must be a positive integer, not "${raw}"`, [
        { field: 'id', message: 'must be a positive integer' },
      ]);
    }
    return parsed.data;
  };

  app.get('/backfills/:id', async (c) =>
    c.json(backfillJson(await backfills.get(id(c.req.param('id'))))),
  );

  for (const method of ['post', 'put'] as const) {
    app[method]('/backfills/:id/pause', async (c) =>
      c.json(backfillJson(await backfills.setPaused(id(c.req.param('id')), true, actor))),
    );
    app[method]('/backfills/:id/unpause', async (c) =>
      c.json(backfillJson(await backfills.setPaused(id(c.req.param('id')), false, actor))),
    );
    app[method]('/backfills/:id/cancel', async (c) =>
      c.json(backfillJson(await backfills.cancel(id(c.req.param('id')), actor))),
    );
  }

  return app;
}
