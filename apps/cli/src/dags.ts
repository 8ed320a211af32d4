/** `updraft dags …` subcommands. */
import { basename, relative } from 'node:path';
import type { DagSpec } from '@updraft/core/dag';
import { TERMINAL_TASK_STATES } from '@updraft/core/state';
import { describeTimetable } from '@updraft/core/timetable';
import { schema } from '@updraft/db';
import {
  createLogger,
  DagProcessor,
  loadTeamsFile,
  Operations,
  openEngine,
  Scheduler,
  Worker,
} from '@updraft/engine';
import { findDagFiles, parseDagFiles } from '@updraft/engine/processor';
import { asc, eq } from 'drizzle-orm';
import { callApi, err, out } from './api-client.ts';

export async function dagsList(opts: {
  dagsFolder: string;
  teamsFile: string;
  json: boolean;
}): Promise<number> {
  const files = [...(await findDagFiles(opts.dagsFolder)).keys()].sort();
  const results = await parseDagFiles(files, 30_000);
  const teams = new Set((await loadTeamsFile(opts.teamsFile)).teams.map((t) => t.id));
  const errors: { fileloc: string; message: string }[] = results.flatMap((r) =>
    r.kind === 'error' ? [{ fileloc: r.fileloc, message: r.message }] : [],
  );
  // What the DAG processor refuses besides a file that does not load (its checkOwnership): a
  // team this environment does not define, and a DAG id a file earlier in the folder defines.
  const dags: { spec: DagSpec; fileloc: string }[] = [];
  const firstFile = new Map<string, string>();
  for (const r of results) {
    if (r.kind !== 'ok') continue;
    for (const spec of r.specs) {
      const dag = `${r.fileloc}: DAG "${spec.dagId}"`;
      const problem = !teams.has(spec.team)
        ? `${dag}: team "${spec.team}" is not defined in ${opts.teamsFile}`
        : firstFile.has(spec.dagId)
          ? `${dag} is already defined in ${firstFile.get(spec.dagId)}`
          : null;
      if (problem) {
        errors.push({ fileloc: r.fileloc, message: problem });
        continue;
      }
      firstFile.set(spec.dagId, r.fileloc);
      dags.push({ spec, fileloc: r.fileloc });
    }
  }
  if (opts.json) {
    out(
      JSON.stringify({
        dags: dags.map(({ spec, fileloc }) => ({
          dag_id: spec.dagId,
          team: spec.team,
          schedule: spec.schedule,
          fileloc,
          tasks: spec.tasks.length,
        })),
        import_errors: errors,
      }),
    );
    return 0;
  }
  const rows = dags.map(({ spec, fileloc }) => [
    spec.dagId,
    spec.team,
    describeTimetable(spec),
    String(spec.tasks.length),
    relative(process.cwd(), fileloc),
  ]);
  const header = ['dag_id', 'team', 'schedule', 'tasks', 'file'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  out(line(header));
  for (const row of rows) out(line(row));
  if (errors.length > 0) {
    err(`\n${errors.length} file(s) failed to load:`);
    for (const e of errors) err(`  ${e.message}`);
  }
  return 0;
}

export async function dagsTest(opts: {
  dagId: string;
  dagsFolder: string;
  teamsFile: string;
  conf: Record<string, unknown>;
  timeoutMs: number;
}): Promise<number> {
  const logger = createLogger({
    level: 'warn',
    component: 'dags-test',
    environment: 'local',
    stderr: true,
  });
  const resources = await openEngine({
    environment: 'local',
    logger,
    migrate: true,
    teamsFile: opts.teamsFile,
  });
  try {
    // Import errors are reported below, those of the tested DAG in full: not as log lines too.
    const processor = new DagProcessor(
      { ...resources, logger: logger.child({}, { level: 'error' }) },
      { dagsFolder: opts.dagsFolder, pauseNewDags: false },
    );
    await processor.sync();
    const { db } = resources.database;
    const [dag] = await db.select().from(schema.dags).where(eq(schema.dags.dagId, opts.dagId));
    if (!dag) {
      const errors = await db.select().from(schema.importErrors);
      err(`DAG "${opts.dagId}" was not found in ${opts.dagsFolder}`);
      // The files that may have meant to define it in full; the rest only counted.
      const related = errors.filter(
        (e) => e.message.includes(`"${opts.dagId}"`) || basename(e.fileloc).startsWith(opts.dagId),
      );
      for (const e of related) err(`  import error: ${e.message}`);
      const others = errors.length - related.length;
      if (others > 0) err(`  ${others} other file(s) did not load; \`updraft dags list\` says why`);
      const teams = (await loadTeamsFile(opts.teamsFile)).teams.map((t) => t.id).join(', ');
      err(`  (teams known from ${opts.teamsFile}: ${teams})`);
      return 1;
    }
    // Only the tested DAG runs: pause every other one so their schedules stay quiet.
    await db.update(schema.dags).set({ isPaused: true });
    await db.update(schema.dags).set({ isPaused: false }).where(eq(schema.dags.dagId, opts.dagId));
    const ops = new Operations(resources);
    const { runId } = await ops.triggerRun(opts.dagId, { actor: 'cli:dags-test', conf: opts.conf });
    out(`running ${opts.dagId} (${runId})`);
    const scheduler = new Scheduler(resources, { loopIntervalMs: 100 });
    const worker = new Worker(resources, { concurrency: 8, pollIntervalMs: 100 });
    const printed = new Set<string>();
    resources.events.on('stateChanges', (changes) => {
      for (const c of changes) {
        if (
          c.entity === 'task_instance' &&
          c.runId === runId &&
          TERMINAL_TASK_STATES.has(c.to as never)
        ) {
          const name = (c.mapIndex ?? -1) >= 0 ? `${c.taskId}[${c.mapIndex}]` : c.taskId;
          const key = `${name}#${c.tryNumber}`;
          if (!printed.has(key)) {
            printed.add(key);
            out(`  ${name} try ${c.tryNumber}: ${c.to}${c.reason ? ` (${c.reason})` : ''}`);
          }
        }
      }
    });
    await scheduler.start();
    await worker.start();
    const deadline = Date.now() + opts.timeoutMs;
    let state = 'queued';
    while (Date.now() < deadline) {
      const [run] = await db.select().from(schema.dagRuns).where(eq(schema.dagRuns.runId, runId));
      state = run?.state ?? 'missing';
      if (state === 'success' || state === 'failed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await worker.stop();
    await scheduler.stop();
    const tis = await db
      .select()
      .from(schema.taskInstances)
      .where(eq(schema.taskInstances.runId, runId))
      .orderBy(asc(schema.taskInstances.id));
    out('');
    for (const ti of tis) {
      const name = ti.mapIndex >= 0 ? `${ti.taskId}[${ti.mapIndex}]` : ti.taskId;
      out(
        `── ${name}: ${ti.state}${ti.tryNumber > 0 ? ` (try ${ti.tryNumber})` : ''}${ti.stateReason ? ` — ${ti.stateReason}` : ''}`,
      );
      const logs = await db
        .select()
        .from(schema.taskLogs)
        .where(eq(schema.taskLogs.taskInstanceId, ti.id))
        .orderBy(asc(schema.taskLogs.id));
      for (const chunk of logs)
        for (const l of chunk.content.replace(/\n$/, '').split('\n'))
          out(`   [try ${chunk.tryNumber}] ${l}`);
    }
    out('');
    out(`run ${runId}: ${state}`);
    return state === 'success' ? 0 : 1;
  } finally {
    await resources.database.close();
  }
}

export async function dagsTrigger(opts: {
  dagId: string;
  apiUrl: string;
  conf?: Record<string, unknown>;
  runId?: string;
}): Promise<number> {
  const { status, body } = await callApi(
    opts.apiUrl,
    `/api/v1/dags/${encodeURIComponent(opts.dagId)}/dagRuns`,
    {
      method: 'POST',
      body: JSON.stringify({
        ...(opts.conf && { conf: opts.conf }),
        ...(opts.runId && { dag_run_id: opts.runId }),
      }),
    },
  );
  if (status !== 200) {
    err(`trigger failed (${status}): ${String(body.message)}`);
    return 1;
  }
  out(`triggered ${opts.dagId}: run ${String(body.dag_run_id)} (${String(body.state)})`);
  return 0;
}

export async function setPausedViaApi(opts: {
  dagId: string;
  apiUrl: string;
  paused: boolean;
}): Promise<number> {
  const { status, body } = await callApi(
    opts.apiUrl,
    `/api/v1/dags/${encodeURIComponent(opts.dagId)}`,
    {
      method: 'PATCH',
      body: JSON.stringify({ is_paused: opts.paused }),
    },
  );
  if (status !== 200) {
    err(`failed (${status}): ${String(body.message)}`);
    return 1;
  }
  out(`${opts.dagId} is ${opts.paused ? 'paused' : 'active'}`);
  return 0;
}
