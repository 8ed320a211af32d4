/**
 * Manual state changes beyond one task instance: Airflow's updateTaskInstancesState (mark several
 * tasks success or failed with their upstream/downstream, optionally as a dry run).
 */
import { schema } from '@updraft/db';
import type { Operations } from '@updraft/engine';
import type { AffectedTaskInstance } from '@updraft/engine/ops';
import { and, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../app.ts';
import { runJson } from '../serialize.ts';
import { jsonBody } from '../validate.ts';

// Request schemas are built once (zod compiles each schema when it first validates).
const markBody = z.strictObject({
  dag_run_id: z.string().min(1),
  task_ids: z.array(z.string().min(1)).min(1),
  map_index: z.number().int().min(0).optional(),
  new_state: z.enum(['success', 'failed']),
  include_upstream: z.boolean().default(false),
  include_downstream: z.boolean().default(false),
  dry_run: z.boolean().default(false),
});
const runStateBody = z.strictObject({ state: z.enum(['success', 'failed', 'queued']) });

export function affectedJson(dagId: string, runId: string, affected: AffectedTaskInstance[]) {
  return {
    task_instances: affected.map((a) => ({
      dag_id: dagId,
      dag_run_id: runId,
      task_id: a.taskId,
      map_index: a.mapIndex,
      previous_state: a.from,
    })),
    total_entries: affected.length,
  };
}

export function manualRoutes(deps: ApiDeps & { ops: Operations }) {
  const app = new Hono();

  app.post('/dags/:dagId/updateTaskInstancesState', async (c) => {
    const dagId = c.req.param('dagId');
    const body = await jsonBody(c, markBody);
    const affected = await deps.ops.markTaskInstances(dagId, body.dag_run_id, body.task_ids, {
      state: body.new_state,
      upstream: body.include_upstream,
      downstream: body.include_downstream,
      dryRun: body.dry_run,
      ...(body.map_index !== undefined && { mapIndex: body.map_index }),
      actor: 'api',
    });
    return c.json(affectedJson(dagId, body.dag_run_id, affected));
  });

  // Airflow's PATCH dagRun: success / failed mark the run and its task instances; queued clears
  // every task instance so the whole run runs again.
  app.patch('/dags/:dagId/dagRuns/:runId', async (c) => {
    const { dagId, runId } = c.req.param();
    const body = await jsonBody(c, runStateBody);
    if (body.state === 'queued') await deps.ops.clearTaskInstances(dagId, runId, { actor: 'api' });
    else await deps.ops.markRun(dagId, runId, body.state, 'api');
    const [run] = await deps.database.db
      .select()
      .from(schema.dagRuns)
      .where(and(eq(schema.dagRuns.dagId, dagId), eq(schema.dagRuns.runId, runId)));
    return c.json(runJson(run!));
  });

  return app;
}
