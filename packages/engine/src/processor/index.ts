/**
 * The DAG processor: finds DAG files in a folder, parses the changed ones in a worker thread, and
 * records the results — DAGs, new immutable versions, and import errors — many files per
 * transaction (record.ts); a batch that fails falls back to one file per transaction, so one broken
 * file never affects another.
 */
import { relative } from 'node:path';
import { type DagSpec, dagVersionHash } from '@updraft/core/dag';
import type { TimetableRegistry } from '@updraft/core/timetable';
import { type Queryable, rowsOf, schema } from '@updraft/db';
import { and, eq, sql } from 'drizzle-orm';
import type { EngineResources } from '../resources.ts';
import { checkTimetables, nextAutomatedRun, timetablesOf } from '../timetables.ts';
import { type FileStamp, findDagFiles } from './load.ts';
import { type ParseMessage, parseDagFiles } from './parse.ts';
import {
  dagRowFields,
  type FailedFile,
  type FileOutcome,
  type ParsedFile,
  recordBatch,
} from './record.ts';

/** Files (and DAGs) recorded per transaction. */
const BATCH_FILES = 100;
const BATCH_SPECS = 500;

export { findDagFiles, isDagFileName, loadDagFile } from './load.ts';
export { type ParseMessage, parseDagFiles } from './parse.ts';

export interface DagProcessorOptions {
  dagsFolder: string;
  /** New DAGs start paused (Airflow's dags_are_paused_at_creation). */
  pauseNewDags: boolean;
  parseTimeoutMs?: number;
  /** Files recorded per transaction (default 100; 1 records each file on its own). */
  recordBatchSize?: number;
}

export interface SyncReport {
  parsed: number;
  dags: number;
  newVersions: number;
  importErrors: number;
  removedFiles: number;
}

export class DagProcessor {
  readonly #r: EngineResources;
  readonly #opts: DagProcessorOptions;
  readonly #seen = new Map<string, FileStamp>();
  #firstSyncDone = false;

  constructor(resources: EngineResources, opts: DagProcessorOptions) {
    this.#r = resources;
    this.#opts = opts;
  }

  listFiles(): Promise<Map<string, FileStamp>> {
    return findDagFiles(this.#opts.dagsFolder);
  }

  /** Parses files that changed since the last call (all of them the first time) and records them. */
  async sync(opts: { force?: boolean } = {}): Promise<SyncReport> {
    const files = await this.listFiles();
    const changed = [...files.entries()]
      .filter(([path, stamp]) => {
        const prev = this.#seen.get(path);
        return opts.force || !prev || prev.mtimeMs !== stamp.mtimeMs || prev.size !== stamp.size;
      })
      .map(([path]) => path)
      .sort();
    const removed = [...this.#seen.keys()].filter((path) => !files.has(path));
    const report: SyncReport = {
      parsed: changed.length,
      dags: 0,
      newVersions: 0,
      importErrors: 0,
      removedFiles: 0,
    };
    const results = checkTimetables(
      changed.length > 0 ? await parseDagFiles(changed, this.#opts.parseTimeoutMs ?? 30_000) : [],
      timetablesOf(this.#r),
    );
    const recorded = (fileloc: string, outcome: FileOutcome) => {
      report.dags += outcome.dags;
      report.newVersions += outcome.newVersions;
      report.importErrors += outcome.importError ? 1 : 0;
      this.#seen.set(fileloc, files.get(fileloc)!);
    };
    for (let i = 0; i < results.length; ) {
      // Many files per transaction (a fixed number of statements each); a batch that cannot be
      // recorded at once falls back to one transaction per file.
      const batch: ParseMessage[] = [];
      let specs = 0;
      while (
        i < results.length &&
        batch.length < (this.#opts.recordBatchSize ?? BATCH_FILES) &&
        specs < BATCH_SPECS
      ) {
        const result = results[i++]!;
        batch.push(result);
        specs += result.kind === 'ok' ? result.specs.length : 0;
      }
      const outcomes = batch.length > 1 ? await this.#recordBatch(batch) : null;
      for (const result of batch) {
        const outcome = outcomes?.get(result.fileloc);
        if (outcome) {
          recorded(result.fileloc, outcome);
          continue;
        }
        try {
          recorded(result.fileloc, await this.#record(result));
        } catch (error) {
          // Recording one file failed (e.g. the database blipped): log it and retry next sync.
          this.#r.logger.error(
            { err: error, fileloc: this.#display(result.fileloc) },
            'failed to record DAG file',
          );
        }
      }
    }
    // On the first sync, files recorded by an earlier process but deleted since are removed too.
    const known = this.#firstSyncDone ? [] : await this.#knownFiles();
    this.#firstSyncDone = true;
    for (const fileloc of new Set([...removed, ...known.filter((f) => !files.has(f))])) {
      await this.#removeFile(fileloc);
      this.#seen.delete(fileloc);
      report.removedFiles++;
    }
    // A file refused because a deleted one defined the same DAG id may be accepted now: files
    // with import errors are parsed again at the next sync, changed or not.
    if (report.removedFiles > 0) {
      const erred = await this.#r.database.db
        .select({ fileloc: schema.importErrors.fileloc })
        .from(schema.importErrors);
      for (const { fileloc } of erred) this.#seen.delete(fileloc);
    }
    return report;
  }

  #display(fileloc: string): string {
    return relative(process.cwd(), fileloc) || fileloc;
  }

  async #knownFiles(): Promise<string[]> {
    const { db } = this.#r.database;
    const rows = rowsOf<{ fileloc: string }>(
      await db.execute(
        sql`select fileloc from dags where is_active union select fileloc from import_errors`,
      ),
    );
    return rows.map((r) => r.fileloc).filter((f) => f.startsWith(this.#opts.dagsFolder));
  }

  async #removeFile(fileloc: string): Promise<void> {
    const { db } = this.#r.database;
    await db.transaction(async (tx) => {
      await tx
        .update(schema.dags)
        .set({ isActive: false, updatedAt: new Date() })
        .where(eq(schema.dags.fileloc, fileloc));
      await tx.delete(schema.importErrors).where(eq(schema.importErrors.fileloc, fileloc));
    });
  }

  /** Records a batch in one transaction; null when it must be recorded file by file. */
  async #recordBatch(batch: ParseMessage[]): Promise<Map<string, FileOutcome> | null> {
    const parsed = batch.filter((r): r is ParsedFile => r.kind === 'ok');
    const failed = batch.filter((r): r is FailedFile => r.kind === 'error');
    try {
      const outcomes = await this.#r.database.db.transaction((tx) =>
        recordBatch(tx, parsed, failed, {
          pauseNewDags: this.#opts.pauseNewDags,
          now: this.#r.clock.now(),
          timetables: timetablesOf(this.#r),
        }),
      );
      if (outcomes) {
        for (const f of failed) {
          this.#r.logger.warn(
            { fileloc: this.#display(f.fileloc), error: f.message },
            'DAG import error',
          );
        }
      }
      return outcomes;
    } catch (error) {
      this.#r.logger.debug({ err: error }, 'recording a batch of DAG files failed; one by one');
      return null;
    }
  }

  async #record(result: ParseMessage): Promise<FileOutcome> {
    const { db } = this.#r.database;
    if (result.kind === 'error') {
      this.#r.logger.warn(
        { fileloc: this.#display(result.fileloc), error: result.message },
        'DAG import error',
      );
      await upsertImportError(db, result.fileloc, result.message, { issues: result.issues });
      return { dags: 0, newVersions: 0, importError: true };
    }
    return db.transaction(async (tx) => {
      const problems: string[] = [];
      let newVersions = 0;
      const accepted: string[] = [];
      for (const spec of result.specs) {
        const problem = await checkOwnership(tx, spec, result.fileloc);
        if (problem) {
          problems.push(problem);
          continue;
        }
        newVersions += (await upsertDag(
          tx,
          spec,
          result,
          this.#opts.pauseNewDags,
          this.#r.clock.now(),
          timetablesOf(this.#r),
        ))
          ? 1
          : 0;
        accepted.push(spec.dagId);
      }
      // DAGs this file used to define but no longer does.
      const stale = await tx
        .select({ dagId: schema.dags.dagId })
        .from(schema.dags)
        .where(and(eq(schema.dags.fileloc, result.fileloc), eq(schema.dags.isActive, true)));
      for (const { dagId } of stale) {
        if (!accepted.includes(dagId)) {
          await tx
            .update(schema.dags)
            .set({ isActive: false, updatedAt: new Date() })
            .where(eq(schema.dags.dagId, dagId));
        }
      }
      if (problems.length > 0) {
        await upsertImportError(tx, result.fileloc, problems.join('\n'), {});
      } else {
        await tx.delete(schema.importErrors).where(eq(schema.importErrors.fileloc, result.fileloc));
      }
      return { dags: accepted.length, newVersions, importError: problems.length > 0 };
    });
  }
}

async function upsertImportError(
  db: Queryable,
  fileloc: string,
  message: string,
  details: unknown,
): Promise<void> {
  await db
    .insert(schema.importErrors)
    .values({ fileloc, message, details })
    .onConflictDoUpdate({
      target: schema.importErrors.fileloc,
      set: { message, details, updatedAt: new Date() },
    });
}

/** A DAG id belongs to one file and one team; a team that is not in this environment is refused. */
async function checkOwnership(
  tx: Queryable,
  spec: DagSpec,
  fileloc: string,
): Promise<string | null> {
  const [team] = await tx.select().from(schema.teams).where(eq(schema.teams.id, spec.team));
  if (!team) {
    return `${fileloc}: DAG "${spec.dagId}": team "${spec.team}" is not defined in this environment's teams.yaml`;
  }
  const [existing] = await tx.select().from(schema.dags).where(eq(schema.dags.dagId, spec.dagId));
  if (existing?.isActive && existing.fileloc !== fileloc) {
    return `${fileloc}: DAG "${spec.dagId}" is already defined in ${existing.fileloc}`;
  }
  if (existing && existing.teamId !== spec.team) {
    return `${fileloc}: DAG "${spec.dagId}" belongs to team "${existing.teamId}" and cannot move to team "${spec.team}"`;
  }
  return null;
}

/** Upserts the DAG row and records a new version if the content changed. Returns true if it did. */
async function upsertDag(
  tx: Queryable,
  spec: DagSpec,
  file: { fileloc: string; sourceHash: string },
  pauseNewDags: boolean,
  now: Date,
  timetables?: TimetableRegistry,
): Promise<boolean> {
  const contentHash = dagVersionHash(spec, file.sourceHash);
  const fields = dagRowFields(spec, file.fileloc, now, timetables);
  await tx
    .insert(schema.dags)
    .values({ dagId: spec.dagId, isPaused: pauseNewDags, ...fields })
    .onConflictDoUpdate({ target: schema.dags.dagId, set: fields });
  const [known] = await tx
    .select({ id: schema.dagVersions.id })
    .from(schema.dagVersions)
    .where(
      and(
        eq(schema.dagVersions.dagId, spec.dagId),
        eq(schema.dagVersions.contentHash, contentHash),
      ),
    );
  let versionId = known?.id;
  if (!versionId) {
    const [latest] = rowsOf<{ n: number | null }>(
      await tx.execute(
        sql`select max(version_number) as n from dag_versions where dag_id = ${spec.dagId}`,
      ),
    );
    const [inserted] = await tx
      .insert(schema.dagVersions)
      .values({
        dagId: spec.dagId,
        versionNumber: Number(latest?.n ?? 0) + 1,
        contentHash,
        sourceHash: file.sourceHash,
        fileloc: file.fileloc,
        spec,
      })
      .returning({ id: schema.dagVersions.id });
    versionId = inserted!.id;
    await tx.insert(schema.events).values({
      entity: 'dag_version',
      dagId: spec.dagId,
      actor: 'dag-processor',
      reason: `version ${Number(latest?.n ?? 0) + 1} recorded`,
      details: { contentHash, fileloc: file.fileloc },
    });
  }
  await tx
    .update(schema.dags)
    .set({ latestVersionId: versionId })
    .where(eq(schema.dags.dagId, spec.dagId));
  await refreshNextRun(tx, spec, now, timetables);
  return !known;
}

/** Stores when the scheduler should next look at this DAG (a hint; runs are decided at creation). */
export async function refreshNextRun(
  tx: Queryable,
  spec: Pick<
    DagSpec,
    'dagId' | 'schedule' | 'timezone' | 'startDate' | 'endDate' | 'catchup' | 'timetable'
  >,
  now: Date,
  timetables?: TimetableRegistry,
): Promise<void> {
  const info = await nextAutomatedRun(tx, spec, now, timetables);
  await tx
    .update(schema.dags)
    .set({
      nextDagrun: info?.logicalDate ?? null,
      nextDagrunDataIntervalStart: info?.dataInterval.start ?? null,
      nextDagrunDataIntervalEnd: info?.dataInterval.end ?? null,
      nextDagrunCreateAfter: info?.runAfter ?? null,
    })
    .where(eq(schema.dags.dagId, spec.dagId));
}
