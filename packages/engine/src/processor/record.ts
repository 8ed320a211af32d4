/**
 * Records many parsed DAG files in one transaction with a fixed number of statements (multi-row
 * upserts), instead of one transaction and ~10 round trips per file. The outcome per file is the
 * same as recording the files one by one in path order; a batch where that order could matter (a
 * DAG id defined by two files of the batch, or moving between two files of the batch) is refused
 * (`null`), and the caller records those files one by one.
 */
import { type DagSpec, dagVersionHash } from '@updraft/core/dag';
import {
  describeTimetable,
  type NextRunInfo,
  nextRunForSpec,
  type TimetableRegistry,
} from '@updraft/core/timetable';
import { type Queryable, rowsOf, schema } from '@updraft/db';
import { inArray, sql } from 'drizzle-orm';
import type { ParseMessage } from './parse.ts';

export type ParsedFile = Extract<ParseMessage, { kind: 'ok' }>;
export type FailedFile = Extract<ParseMessage, { kind: 'error' }>;

export interface FileOutcome {
  dags: number;
  newVersions: number;
  importError: boolean;
}

interface ExistingDag {
  dag_id: string;
  fileloc: string;
  is_active: boolean;
  team_id: string;
}

/** The columns of a DAG's row that come from its current spec and file (both recording paths). */
export function dagRowFields(
  spec: DagSpec,
  fileloc: string,
  now: Date,
  timetables?: TimetableRegistry,
) {
  return {
    scheduleSummary: spec.timetable ? describeTimetable(spec, timetables) : null,
    teamId: spec.team,
    fileloc,
    isActive: true,
    description: spec.description,
    tags: spec.tags,
    schedule: spec.schedule,
    timezone: spec.timezone,
    maxActiveRuns: spec.maxActiveRuns,
    maxActiveTasks: spec.maxActiveTasks,
    lastParsedAt: now,
    updatedAt: now,
  };
}

/** The next scheduled interval of a DAG, from its last scheduled run (or none). */
export function nextRunOf(
  spec: Pick<DagSpec, 'schedule' | 'timezone' | 'startDate' | 'endDate' | 'catchup' | 'timetable'>,
  last: { start: Date; end: Date } | null,
  now: Date,
  timetables?: TimetableRegistry,
): NextRunInfo | null {
  return nextRunForSpec(spec, last, now, timetables);
}

/** The ownership rule of `checkOwnership`, on rows already read. */
export function ownershipProblem(
  spec: DagSpec,
  fileloc: string,
  teamExists: boolean,
  existing: { fileloc: string; isActive: boolean; teamId: string } | undefined,
): string | null {
  if (!teamExists) {
    return `${fileloc}: DAG "${spec.dagId}": team "${spec.team}" is not defined in this environment's teams.yaml`;
  }
  if (existing?.isActive && existing.fileloc !== fileloc) {
    return `${fileloc}: DAG "${spec.dagId}" is already defined in ${existing.fileloc}`;
  }
  if (existing && existing.teamId !== spec.team) {
    return `${fileloc}: DAG "${spec.dagId}" belongs to team "${existing.teamId}" and cannot move to team "${spec.team}"`;
  }
  return null;
}

const excluded = (column: string) => sql.raw(`excluded.${column}`);

/**
 * Records `files` (parsed) and `failed` (import errors) in `tx`. Returns the outcome per fileloc,
 * or null when the batch must be recorded file by file (see the module comment).
 */
export async function recordBatch(
  tx: Queryable,
  files: readonly ParsedFile[],
  failed: readonly FailedFile[],
  opts: { pauseNewDags: boolean; now: Date; timetables?: TimetableRegistry },
): Promise<Map<string, FileOutcome> | null> {
  const { now } = opts;
  const outcomes = new Map<string, FileOutcome>();
  const problems = new Map<string, string[]>();
  const specs = files.flatMap((file) => file.specs.map((spec) => ({ file, spec })));
  const dagIds = specs.map((s) => s.spec.dagId);
  if (new Set(dagIds).size !== dagIds.length) return null;
  const filelocs = files.map((f) => f.fileloc);

  if (specs.length > 0 || filelocs.length > 0) {
    const teamIds = [...new Set(specs.map((s) => s.spec.team))];
    const teams = new Set(
      teamIds.length === 0
        ? []
        : (
            await tx
              .select({ id: schema.teams.id })
              .from(schema.teams)
              .where(inArray(schema.teams.id, teamIds))
          ).map((t) => t.id),
    );
    const existingRows = rowsOf<ExistingDag>(
      await tx.execute(sql`select dag_id, fileloc, is_active, team_id from dags
        where ${dagIds.length > 0 ? sql`dag_id in (${sql.join(dagIds, sql`, `)})` : sql`false`}
           or (is_active and ${filelocs.length > 0 ? sql`fileloc in (${sql.join(filelocs, sql`, `)})` : sql`false`})`),
    );
    const existing = new Map(existingRows.map((r) => [r.dag_id, r]));
    const batchFiles = new Set(filelocs);
    for (const { file, spec } of specs) {
      const row = existing.get(spec.dagId);
      // Moving between two files of this batch: the result depends on their order.
      if (row?.is_active && row.fileloc !== file.fileloc && batchFiles.has(row.fileloc))
        return null;
    }

    const accepted: { file: ParsedFile; spec: DagSpec; contentHash: string }[] = [];
    for (const { file, spec } of specs) {
      const row = existing.get(spec.dagId);
      const problem = ownershipProblem(
        spec,
        file.fileloc,
        teams.has(spec.team),
        row && { fileloc: row.fileloc, isActive: row.is_active, teamId: row.team_id },
      );
      if (problem) {
        problems.set(file.fileloc, [...(problems.get(file.fileloc) ?? []), problem]);
        continue;
      }
      accepted.push({ file, spec, contentHash: dagVersionHash(spec, file.sourceHash) });
    }
    const acceptedIds = new Set(accepted.map((a) => a.spec.dagId));

    // Known versions (same content) and the last scheduled interval of each accepted DAG.
    const ids = [...acceptedIds];
    const known = new Map<string, number>();
    const maxVersion = new Map<string, number>();
    const lastRun = new Map<string, { start: Date; end: Date }>();
    if (ids.length > 0) {
      const idList = sql.join(ids, sql`, `);
      const versions = rowsOf<{ dag_id: string; n: number | string; known: string | null }>(
        await tx.execute(sql`select dag_id, max(version_number) as n,
            string_agg(id::text || ':' || content_hash, ',') filter (where content_hash in (${sql.join(
              accepted.map((a) => a.contentHash),
              sql`, `,
            )})) as known
          from dag_versions where dag_id in (${idList}) group by dag_id`),
      );
      const hashOf = new Map(accepted.map((a) => [a.spec.dagId, a.contentHash]));
      for (const v of versions) {
        maxVersion.set(v.dag_id, Number(v.n));
        for (const pair of v.known?.split(',') ?? []) {
          const at = pair.indexOf(':');
          if (pair.slice(at + 1) === hashOf.get(v.dag_id))
            known.set(v.dag_id, Number(pair.slice(0, at)));
        }
      }
      const runs = rowsOf<{
        dag_id: string;
        data_interval_start: Date | string;
        data_interval_end: Date | string;
      }>(
        await tx.execute(sql`select distinct on (dag_id) dag_id, data_interval_start, data_interval_end
          from dag_runs where dag_id in (${idList}) and run_type in ('scheduled', 'backfill')
          order by dag_id, logical_date desc`),
      );
      for (const r of runs)
        lastRun.set(r.dag_id, {
          start: new Date(r.data_interval_start),
          end: new Date(r.data_interval_end),
        });

      await tx
        .insert(schema.dags)
        .values(
          accepted.map(({ file, spec }) => {
            const info = nextRunOf(spec, lastRun.get(spec.dagId) ?? null, now, opts.timetables);
            return {
              dagId: spec.dagId,
              isPaused: opts.pauseNewDags,
              ...dagRowFields(spec, file.fileloc, now, opts.timetables),
              latestVersionId: known.get(spec.dagId) ?? null,
              nextDagrun: info?.logicalDate ?? null,
              nextDagrunDataIntervalStart: info?.dataInterval.start ?? null,
              nextDagrunDataIntervalEnd: info?.dataInterval.end ?? null,
              nextDagrunCreateAfter: info?.runAfter ?? null,
            };
          }),
        )
        .onConflictDoUpdate({
          target: schema.dags.dagId,
          set: {
            teamId: excluded('team_id'),
            fileloc: excluded('fileloc'),
            isActive: excluded('is_active'),
            description: excluded('description'),
            tags: excluded('tags'),
            schedule: excluded('schedule'),
            scheduleSummary: excluded('schedule_summary'),
            timezone: excluded('timezone'),
            maxActiveRuns: excluded('max_active_runs'),
            maxActiveTasks: excluded('max_active_tasks'),
            latestVersionId: sql`coalesce(excluded.latest_version_id, ${schema.dags.latestVersionId})`,
            nextDagrun: excluded('next_dagrun'),
            nextDagrunDataIntervalStart: excluded('next_dagrun_data_interval_start'),
            nextDagrunDataIntervalEnd: excluded('next_dagrun_data_interval_end'),
            nextDagrunCreateAfter: excluded('next_dagrun_create_after'),
            lastParsedAt: excluded('last_parsed_at'),
            updatedAt: excluded('updated_at'),
          },
        });

      const fresh = accepted.filter((a) => !known.has(a.spec.dagId));
      if (fresh.length > 0) {
        const inserted = await tx
          .insert(schema.dagVersions)
          .values(
            fresh.map(({ file, spec, contentHash }) => ({
              dagId: spec.dagId,
              versionNumber: (maxVersion.get(spec.dagId) ?? 0) + 1,
              contentHash,
              sourceHash: file.sourceHash,
              fileloc: file.fileloc,
              spec,
            })),
          )
          .returning({ id: schema.dagVersions.id });
        await tx.insert(schema.events).values(
          fresh.map(({ file, spec, contentHash }) => ({
            entity: 'dag_version' as const,
            dagId: spec.dagId,
            actor: 'dag-processor',
            reason: `version ${(maxVersion.get(spec.dagId) ?? 0) + 1} recorded`,
            details: { contentHash, fileloc: file.fileloc },
          })),
        );
        await tx.execute(sql`update dags set latest_version_id = v.id from dag_versions v
          where v.id in (${sql.join(
            inserted.map((r) => r.id),
            sql`, `,
          )}) and dags.dag_id = v.dag_id`);
      }
    }

    // DAGs these files used to define but no longer do (or that were refused).
    const stale = existingRows
      .filter((r) => r.is_active && batchFiles.has(r.fileloc) && !acceptedIds.has(r.dag_id))
      .map((r) => r.dag_id);
    if (stale.length > 0) {
      await tx
        .update(schema.dags)
        .set({ isActive: false, updatedAt: now })
        .where(inArray(schema.dags.dagId, stale));
    }

    for (const file of files) {
      const fileProblems = problems.get(file.fileloc) ?? [];
      outcomes.set(file.fileloc, {
        dags: accepted.filter((a) => a.file === file).length,
        newVersions: accepted.filter((a) => a.file === file && !known.has(a.spec.dagId)).length,
        importError: fileProblems.length > 0,
      });
    }
    const clean = files.filter((f) => !problems.has(f.fileloc)).map((f) => f.fileloc);
    if (clean.length > 0)
      await tx.delete(schema.importErrors).where(inArray(schema.importErrors.fileloc, clean));
  }

  const errors = [
    ...[...problems.entries()].map(([fileloc, list]) => ({
      fileloc,
      message: list.join('\n'),
      details: {} as unknown,
    })),
    ...failed.map((f) => ({
      fileloc: f.fileloc,
      message: f.message,
      details: { issues: f.issues } as unknown,
    })),
  ];
  if (errors.length > 0) {
    await tx
      .insert(schema.importErrors)
      .values(errors)
      .onConflictDoUpdate({
        target: schema.importErrors.fileloc,
        set: { message: excluded('message'), details: excluded('details'), updatedAt: now },
      });
  }
  for (const f of failed) outcomes.set(f.fileloc, { dags: 0, newVersions: 0, importError: true });
  return outcomes;
}
