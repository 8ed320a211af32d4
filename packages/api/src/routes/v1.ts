/** The REST API under /api/v1, following Airflow's stable REST API paths. */
import { TRIGGER_RULES } from '@updraft/core/dag';
import { NotFoundError } from '@updraft/core/errors';
import { RUN_STATES, TASK_STATES } from '@updraft/core/state';
import { rowsOf, schema } from '@updraft/db';
import { maskSensitiveFields, type Operations } from '@updraft/engine';
import { and, asc, count, desc, eq, type SQL, sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../app.ts';
import { pageTotal } from '../paging.ts';
import {
  dagJson,
  eventJson,
  importErrorJson,
  listingRows,
  runJson,
  taskInstanceJson,
} from '../serialize.ts';
import { jsonBody, query } from '../validate.ts';
import { affectedJson } from './manual.ts';

const page = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

const dagIdParam = z.string().min(1).max(250);
/** Map indexes and try numbers are PostgreSQL integers. */
const INT_MAX = 2_147_483_647;
const mapIndexParam = z.coerce.number().int().min(-1).max(INT_MAX);
/** The answer to a map index outside mapIndexParam, named as the request named it. */
const badMapIndex = (name: 'map index' | 'map_index') => ({
  error: 'invalid',
  message: `${name} must be an integer from -1 to ${INT_MAX}`,
});
const tryNumberParam = z.coerce.number().int().min(1).max(INT_MAX);

// Request schemas are built once: zod compiles a schema the first time it validates with it,
// which cost more CPU per request than the validation itself (bench W5: listing runs went from
// 415-521 to 633 requests/s).
const dagsQuery = page.extend({
  team: z.string().optional(),
  paused: z.enum(['true', 'false']).optional(),
  only_active: z.enum(['true', 'false']).default('true'),
});
const runsQuery = page.extend({ state: z.enum(RUN_STATES).optional() });
const taskInstancesQuery = page.extend({ state: z.enum(TASK_STATES).optional() });
const eventsQuery = page.extend({ dag_run_id: z.string().optional() });

const pauseBody = z.strictObject({ is_paused: z.boolean() });
const triggerBody = z.strictObject({
  conf: z.record(z.string(), z.unknown()).optional(),
  dag_run_id: z
    .string()
    .regex(/^[A-Za-z0-9_.:+-]{1,250}$/, 'must be 1-250 letters, digits or _ . : + -')
    // A path segment of its own: "." and ".." would name no run in a URL.
    .refine((id) => id !== '.' && id !== '..', 'must not be "." or ".."')
    .optional(),
  logical_date: z.iso.datetime({ offset: true }).optional(),
  note: z.string().max(1000).optional(),
});
const clearBody = z.strictObject({
  dag_run_id: z.string().min(1),
  task_ids: z.array(z.string().min(1)).min(1).optional(),
  only_failed: z.boolean().default(false),
  only_running: z.boolean().default(false),
  include_downstream: z.boolean().default(false),
  include_upstream: z.boolean().default(false),
  dry_run: z.boolean().default(false),
});

export function v1Routes(deps: ApiDeps & { ops: Operations }) {
  const { db } = deps.database;
  const app = new Hono();
  const actor = () => 'api';

  // The busiest listings: read without Drizzle's result mapping (serialize.ts, listingRows).
  const runRows = listingRows(schema.dagRuns);
  const taskInstanceRows = listingRows(schema.taskInstances);

  async function requireDag(dagId: string) {
    const [dag] = await db
      .select()
      .from(schema.dags)
      .where(eq(schema.dags.dagId, dagIdParam.parse(dagId)));
    if (!dag) throw new NotFoundError(`DAG "${dagId}" does not exist`);
    return dag;
  }

  async function requireRun(dagId: string, runId: string) {
    const [run] = await db
      .select()
      .from(schema.dagRuns)
      .where(
        and(eq(schema.dagRuns.dagId, dagIdParam.parse(dagId)), eq(schema.dagRuns.runId, runId)),
      );
    if (!run) {
      // A run implies its DAG; only a miss needs to tell which of the two is unknown.
      await requireDag(dagId);
      throw new NotFoundError(`DAG "${dagId}" has no run "${runId}"`);
    }
    return run;
  }

  app.get('/dags', async (c) => {
    const q = query(c, dagsQuery);
    const where: SQL[] = [];
    if (q.only_active === 'true') where.push(eq(schema.dags.isActive, true));
    if (q.team) where.push(eq(schema.dags.teamId, q.team));
    if (q.paused) where.push(eq(schema.dags.isPaused, q.paused === 'true'));
    const filter = where.length > 0 ? and(...where) : undefined;
    const [rows, [total], importErrors] = await Promise.all([
      db
        .select()
        .from(schema.dags)
        .where(filter)
        .orderBy(asc(schema.dags.dagId))
        .limit(q.limit)
        .offset(q.offset),
      db.select({ n: count() }).from(schema.dags).where(filter),
      db.select().from(schema.importErrors).orderBy(asc(schema.importErrors.fileloc)),
    ]);
    return c.json({
      dags: rows.map(dagJson),
      total_entries: total?.n ?? 0,
      import_errors: importErrors.map(importErrorJson),
    });
  });

  app.get('/importErrors', async (c) => {
    const rows = await db
      .select()
      .from(schema.importErrors)
      .orderBy(asc(schema.importErrors.fileloc));
    return c.json({ import_errors: rows.map(importErrorJson), total_entries: rows.length });
  });

  app.get('/dags/:dagId', async (c) => {
    const dag = await requireDag(c.req.param('dagId'));
    let tasks: unknown[] = [];
    let version: unknown = null;
    let params: unknown = {};
    if (dag.latestVersionId != null) {
      const [v] = await db
        .select()
        .from(schema.dagVersions)
        .where(eq(schema.dagVersions.id, dag.latestVersionId));
      if (v) {
        version = {
          dag_version_id: v.id,
          version_number: v.versionNumber,
          content_hash: v.contentHash,
          created_at: v.createdAt.toISOString(),
        };
        // The defaults a run's conf overrides (Airflow's DAG details show them too).
        params = maskSensitiveFields(v.spec.params);
        tasks = v.spec.tasks.map((t) => ({
          task_id: t.taskId,
          type: t.type,
          upstream_task_ids: t.upstream,
          downstream_task_ids: v.spec.tasks
            .filter((o) => o.upstream.includes(t.taskId))
            .map((o) => o.taskId),
          trigger_rule: t.triggerRule,
          retries: t.retries,
          retry_delay_ms: t.retryDelayMs,
          timeout_ms: t.timeoutMs,
          pool: t.pool,
          pool_slots: t.poolSlots ?? 1,
          priority_weight: t.priorityWeight,
          doc: t.doc,
          // Stored specs from before these fields existed lack them.
          group: t.group ?? null,
          is_mapped: Boolean(t.expand),
          depends_on_past: t.dependsOnPast ?? false,
          wait_for_downstream: t.waitForDownstream ?? false,
        }));
      }
    }
    // The file no longer loads: runs go on with the last version that did (Airflow 3's
    // has_import_errors); the DAG's page says so.
    const [importError] = await db
      .select()
      .from(schema.importErrors)
      .where(eq(schema.importErrors.fileloc, dag.fileloc));
    return c.json({
      ...dagJson(dag),
      has_import_errors: importError !== undefined,
      import_error: importError ? importErrorJson(importError) : null,
      params,
      version,
      tasks,
    });
  });

  app.patch('/dags/:dagId', async (c) => {
    const dagId = c.req.param('dagId');
    await requireDag(dagId);
    const body = await jsonBody(c, pauseBody);
    await deps.ops.setPaused(dagId, body.is_paused, actor());
    return c.json(dagJson(await requireDag(dagId)));
  });

  app.get('/dags/:dagId/versions', async (c) => {
    const dag = await requireDag(c.req.param('dagId'));
    const rows = await db
      .select()
      .from(schema.dagVersions)
      .where(eq(schema.dagVersions.dagId, dag.dagId))
      .orderBy(desc(schema.dagVersions.versionNumber));
    return c.json({
      dag_versions: rows.map((v) => ({
        dag_version_id: v.id,
        version_number: v.versionNumber,
        content_hash: v.contentHash,
        created_at: v.createdAt.toISOString(),
      })),
      total_entries: rows.length,
    });
  });

  app.post('/dags/:dagId/dagRuns', async (c) => {
    const dagId = c.req.param('dagId');
    await requireDag(dagId);
    const body = await jsonBody(c, triggerBody);
    const { runId } = await deps.ops.triggerRun(dagId, {
      actor: actor(),
      ...(body.conf && { conf: body.conf }),
      ...(body.dag_run_id && { runId: body.dag_run_id }),
      ...(body.logical_date && { logicalDate: new Date(body.logical_date) }),
      ...(body.note && { note: body.note }),
    });
    return c.json(runJson(await requireRun(dagId, runId)), 200);
  });

  app.get('/dags/:dagId/dagRuns', async (c) => {
    const dagId = dagIdParam.parse(c.req.param('dagId'));
    const q = query(c, runsQuery);
    // Plain SQL text: building Drizzle's column and table objects into it on each request cost
    // about as much as the row mapping listingRows saves on a short page.
    const filter = q.state ? sql`dag_id = ${dagId} and state = ${q.state}` : sql`dag_id = ${dagId}`;
    const rows = runRows.decode(
      rowsOf(
        await db.execute(sql`select ${runRows.columns} from dag_runs where ${filter}
          order by logical_date desc, id desc limit ${q.limit} offset ${q.offset}`),
      ),
    );
    // Runs imply the DAG exists; an empty page has to check (404 for an unknown DAG).
    if (rows.length === 0) await requireDag(dagId);
    const total = await pageTotal(db, sql`from dag_runs where ${filter}`, q, rows.length, {
      cacheKey: `runs\0${dagId}\0${q.state ?? ''}`,
    });
    return c.json({ dag_runs: rows.map(runJson), ...total });
  });

  app.get('/dags/:dagId/dagRuns/:runId', async (c) => {
    return c.json(runJson(await requireRun(c.req.param('dagId'), c.req.param('runId'))));
  });

  app.get('/dags/:dagId/dagRuns/:runId/taskInstances', async (c) => {
    const run = await requireRun(c.req.param('dagId'), c.req.param('runId'));
    const q = query(c, taskInstancesQuery);
    const filter = q.state
      ? sql`dag_run_id = ${run.id} and state = ${q.state}`
      : sql`dag_run_id = ${run.id}`;
    const rows = taskInstanceRows.decode(
      rowsOf(
        await db.execute(sql`select ${taskInstanceRows.columns} from task_instances
          where ${filter} order by id limit ${q.limit} offset ${q.offset}`),
      ),
    );
    const total = await pageTotal(db, sql`from task_instances where ${filter}`, q, rows.length);
    return c.json({ task_instances: rows.map(taskInstanceJson), ...total });
  });

  /** A task instance; `mapIndex` names one instance of a mapped task (-1: not mapped). */
  async function requireTaskInstance(dagId: string, runId: string, taskId: string, mapIndex = -1) {
    const run = await requireRun(dagId, runId);
    const [ti] = await db
      .select()
      .from(schema.taskInstances)
      .where(
        and(
          eq(schema.taskInstances.dagRunId, run.id),
          eq(schema.taskInstances.taskId, taskId),
          eq(schema.taskInstances.mapIndex, mapIndex),
        ),
      );
    if (!ti)
      throw new NotFoundError(
        `run "${runId}" of DAG "${dagId}" has no task "${taskId}"${mapIndex === -1 ? '' : ` with map index ${mapIndex}`}`,
      );
    return ti;
  }

  /** One instance of a mapped task (Airflow's /taskInstances/{task_id}/{map_index}). */
  app.get('/dags/:dagId/dagRuns/:runId/taskInstances/:taskId/:mapIndex', async (c) => {
    const { dagId, runId, taskId } = c.req.param();
    const mapIndex = mapIndexParam.safeParse(c.req.param('mapIndex'));
    if (!mapIndex.success) return c.json(badMapIndex('map index'), 400);
    return c.json(taskInstanceJson(await requireTaskInstance(dagId, runId, taskId, mapIndex.data)));
  });

  app.get('/dags/:dagId/dagRuns/:runId/taskInstances/:taskId', async (c) => {
    return c.json(
      taskInstanceJson(
        await requireTaskInstance(
          c.req.param('dagId'),
          c.req.param('runId'),
          c.req.param('taskId'),
        ),
      ),
    );
  });

  const markBody = z.strictObject({
    new_state: z.enum(['success', 'failed']),
    include_upstream: z.boolean().default(false),
    include_downstream: z.boolean().default(false),
    dry_run: z.boolean().default(false),
  });

  /** The task's instances in a run: one, or one per map index once a mapped task expanded. */
  async function requireTaskInstances(dagId: string, runId: string, taskId: string) {
    const run = await requireRun(dagId, runId);
    const tis = await db
      .select()
      .from(schema.taskInstances)
      .where(
        and(eq(schema.taskInstances.dagRunId, run.id), eq(schema.taskInstances.taskId, taskId)),
      );
    if (tis.length === 0)
      throw new NotFoundError(`run "${runId}" of DAG "${dagId}" has no task "${taskId}"`);
    return tis;
  }

  app.patch('/dags/:dagId/dagRuns/:runId/taskInstances/:taskId', async (c) => {
    const { dagId, runId, taskId } = c.req.param();
    const tis = await requireTaskInstances(dagId, runId, taskId);
    const body = await jsonBody(c, markBody);
    const mapped = !tis.some((t) => t.mapIndex === -1);
    if (body.include_upstream || body.include_downstream || body.dry_run || mapped) {
      // Airflow 3: with upstream/downstream (or a dry run, or every instance of a mapped task)
      // the answer lists every affected instance.
      const affected = await deps.ops.markTaskInstances(dagId, runId, [taskId], {
        state: body.new_state,
        upstream: body.include_upstream,
        downstream: body.include_downstream,
        dryRun: body.dry_run,
        actor: actor(),
      });
      return c.json(affectedJson(dagId, runId, affected));
    }
    await deps.ops.markTaskInstance(dagId, runId, taskId, body.new_state, actor());
    return c.json(taskInstanceJson(await requireTaskInstance(dagId, runId, taskId)));
  });

  /** Marks one instance of a mapped task. */
  app.patch('/dags/:dagId/dagRuns/:runId/taskInstances/:taskId/:mapIndex', async (c) => {
    const { dagId, runId, taskId } = c.req.param();
    const mapIndex = mapIndexParam.safeParse(c.req.param('mapIndex'));
    if (!mapIndex.success) return c.json(badMapIndex('map index'), 400);
    await requireTaskInstance(dagId, runId, taskId, mapIndex.data);
    const body = await jsonBody(c, markBody.pick({ new_state: true }));
    await deps.ops.markTaskInstance(dagId, runId, taskId, body.new_state, actor(), mapIndex.data);
    return c.json(taskInstanceJson(await requireTaskInstance(dagId, runId, taskId, mapIndex.data)));
  });

  app.get('/dags/:dagId/dagRuns/:runId/taskInstances/:taskId/logs/:tryNumber', async (c) => {
    const { dagId, runId, taskId } = c.req.param();
    const tryNumber = tryNumberParam.safeParse(c.req.param('tryNumber'));
    if (!tryNumber.success)
      return c.json({ error: 'invalid', message: 'try number must be a positive integer' }, 400);
    // ?map_index=i: the log of one instance of a mapped task.
    const mapIndex = mapIndexParam.safeParse(c.req.query('map_index') ?? -1);
    if (!mapIndex.success) return c.json(badMapIndex('map_index'), 400);
    const ti = await requireTaskInstance(dagId, runId, taskId, mapIndex.data);
    if (tryNumber.data > Math.max(ti.tryNumber, 1)) {
      throw new NotFoundError(
        `task "${taskId}" has had ${ti.tryNumber} tries; there is no try ${tryNumber.data}`,
      );
    }
    const chunks = await db
      .select({ content: schema.taskLogs.content })
      .from(schema.taskLogs)
      .where(
        and(
          eq(schema.taskLogs.taskInstanceId, ti.id),
          eq(schema.taskLogs.tryNumber, tryNumber.data),
        ),
      )
      .orderBy(asc(schema.taskLogs.id));
    const content = chunks.map((ch) => ch.content).join('');
    if (c.req.header('accept')?.includes('text/plain')) return c.text(content);
    return c.json({
      dag_id: dagId,
      dag_run_id: runId,
      task_id: taskId,
      try_number: tryNumber.data,
      content,
    });
  });

  app.post('/dags/:dagId/clearTaskInstances', async (c) => {
    const dagId = c.req.param('dagId');
    await requireDag(dagId);
    const body = await jsonBody(c, clearBody);
    const { cleared } = await deps.ops.clearTaskInstances(dagId, body.dag_run_id, {
      actor: actor(),
      onlyFailed: body.only_failed,
      onlyRunning: body.only_running,
      downstream: body.include_downstream,
      upstream: body.include_upstream,
      dryRun: body.dry_run,
      ...(body.task_ids && { taskIds: body.task_ids }),
    });
    return c.json({
      task_instances: cleared.map((taskId) => ({
        dag_id: dagId,
        dag_run_id: body.dag_run_id,
        task_id: taskId,
      })),
    });
  });

  app.get('/dags/:dagId/events', async (c) => {
    const dag = await requireDag(c.req.param('dagId'));
    const q = query(c, eventsQuery);
    const rows = await db
      .select()
      .from(schema.events)
      .where(
        and(
          eq(schema.events.dagId, dag.dagId),
          q.dag_run_id ? eq(schema.events.runId, q.dag_run_id) : undefined,
        ),
      )
      .orderBy(desc(schema.events.id))
      .limit(q.limit)
      .offset(q.offset);
    return c.json({ events: rows.map(eventJson) });
  });

  app.get('/config', (c) =>
    c.json({ environment: deps.environment, trigger_rules: TRIGGER_RULES }),
  );

  return app;
}
