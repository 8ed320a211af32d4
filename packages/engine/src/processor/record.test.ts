/**
 * Recording DAG files in batches (record.ts) gives the same result as recording them one file per
 * transaction: the same steps run against two databases, one processor batching and one recording
 * file by file, and after every step DAGs, versions, events and import errors are compared, and
 * checked against the expected outcome of the step.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { rowsOf } from '@updraft/db';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness } from '../testing.ts';
import { DagProcessor } from './index.ts';

const dagFile = (...dags: [id: string, team?: string, extra?: string][]) =>
  `import { dag } from '@updraft/sdk';
${dags
  .map(
    ([id, team = 'data-eng', extra = '']) =>
      `export const ${id} = dag({ id: '${id}', team: '${team}', schedule: '@daily', startDate: '2026-01-01', catchup: false }, (d) => { d.fn('t', () => ${JSON.stringify(extra)}); });`,
  )
  .join('\n')}
`;

interface Step {
  name: string;
  write?: Record<string, string>;
  remove?: string[];
  /** dag id → "active|inactive file version" */
  dags: Record<string, string>;
  /** file → a part of its import error message */
  errors: Record<string, string>;
}

const STEPS: Step[] = [
  {
    name: 'new files with several DAGs each',
    write: {
      'a.ts': dagFile(['a1'], ['a2']),
      'b.ts': dagFile(['b1', 'analytics']),
      'c.ts': dagFile(['c1']),
    },
    dags: { a1: 'active a.ts 1', a2: 'active a.ts 1', b1: 'active b.ts 1', c1: 'active c.ts 1' },
    errors: {},
  },
  {
    name: 'unchanged files: no new version',
    dags: { a1: 'active a.ts 1', a2: 'active a.ts 1', b1: 'active b.ts 1', c1: 'active c.ts 1' },
    errors: {},
  },
  {
    name: 'a changed DAG gets version 2; a DAG dropped from its file is deactivated',
    write: { 'a.ts': dagFile(['a1', 'data-eng', 'changed']) },
    dags: { a1: 'active a.ts 2', a2: 'inactive a.ts 1' },
    errors: {},
  },
  {
    name: 'unknown team and a broken file are import errors; the rest of the file loads',
    write: {
      'd.ts': dagFile(['d1', 'nobody'], ['d2']),
      'e.ts': 'export default {;',
    },
    dags: { d1: 'missing', d2: 'active d.ts 1' },
    errors: { 'd.ts': 'team "nobody" is not defined', 'e.ts': 'e.ts' },
  },
  {
    name: 'the same DAG id in two files of one sync: the first file by path keeps it',
    write: { 'f.ts': dagFile(['dup']), 'g.ts': dagFile(['dup']) },
    dags: { dup: 'active f.ts 1' },
    errors: { 'd.ts': 'team', 'e.ts': 'e.ts', 'g.ts': 'already defined in' },
  },
  {
    name: 'a DAG moves from one file to another in one sync',
    write: { 'c.ts': dagFile(['c2']), 'h.ts': dagFile(['c1']) },
    dags: { c1: 'active h.ts 1', c2: 'active c.ts 1' },
    errors: { 'd.ts': 'team', 'e.ts': 'e.ts', 'g.ts': 'already defined in' },
  },
  {
    name: 'a DAG cannot change team (refused and deactivated); fixed files clear their errors',
    write: {
      'b.ts': dagFile(['b1', 'data-eng']),
      'd.ts': dagFile(['d2']),
      'e.ts': dagFile(['e1']),
      'g.ts': dagFile(['g1']),
    },
    dags: { b1: 'inactive b.ts 1', d1: 'missing', d2: 'active d.ts 2', e1: 'active e.ts 1' },
    errors: { 'b.ts': 'cannot move to team "data-eng"' },
  },
  {
    name: 'removed files deactivate their DAGs',
    remove: ['f.ts', 'b.ts'],
    dags: { dup: 'inactive f.ts 1', b1: 'inactive b.ts 1', g1: 'active g.ts 1' },
    errors: {},
  },
  {
    name: 'a DAG id two files define: the second is refused',
    write: { 'i.ts': dagFile(['twice']), 'j.ts': dagFile(['twice']) },
    dags: { twice: 'active i.ts 1' },
    errors: { 'j.ts': 'already defined in' },
  },
  {
    name: 'the first file is removed: its DAG is deactivated',
    remove: ['i.ts'],
    dags: { twice: 'inactive i.ts 1' },
    errors: { 'j.ts': 'already defined in' },
  },
  {
    name: 'the next sync parses the refused file again, unchanged, and it takes the DAG id',
    dags: { twice: 'active j.ts 1' },
    errors: {},
  },
];

/** Everything the processor writes, with the temporary folder taken out of paths. */
async function snapshot(h: EngineHarness) {
  const { db } = h.resources.database;
  const strip = (s: string) => s.split(`${h.dagsFolder}/`).join('');
  const dags = rowsOf<{
    dag_id: string;
    is_active: boolean;
    fileloc: string;
    version_number: number | null;
    next_dagrun: unknown;
  }>(
    await db.execute(sql`select d.dag_id, d.team_id, d.is_active, d.fileloc, v.version_number,
        d.next_dagrun, d.next_dagrun_create_after, d.schedule, d.is_paused
      from dags d left join dag_versions v on v.id = d.latest_version_id order by d.dag_id`),
  ).map((r) => ({ ...r, fileloc: strip(r.fileloc) }));
  const versions = rowsOf<Record<string, unknown>>(
    await db.execute(sql`select dag_id, version_number, content_hash, fileloc from dag_versions
      order by dag_id, version_number`),
  ).map((r) => ({ ...r, fileloc: strip(String(r.fileloc)) }));
  const events = rowsOf<Record<string, unknown>>(
    await db.execute(sql`select dag_id, reason from events where entity = 'dag_version'
      order by dag_id, reason`),
  );
  const errors = rowsOf<{ fileloc: string; message: string }>(
    await db.execute(sql`select fileloc, message from import_errors order by fileloc`),
  ).map((r) => ({ fileloc: strip(r.fileloc), message: strip(r.message) }));
  return { dags, versions, events, errors };
}

describe('recording DAG files in batches', () => {
  let batched: EngineHarness;
  let single: EngineHarness;
  let oneByOne: DagProcessor;

  beforeAll(async () => {
    [batched, single] = await Promise.all([
      createEngineHarness('postgres'),
      createEngineHarness('postgres'),
    ]);
    oneByOne = new DagProcessor(single.resources, {
      dagsFolder: single.dagsFolder,
      pauseNewDags: false,
      recordBatchSize: 1,
    });
  });
  afterAll(async () => {
    await batched?.close();
    await single?.close();
  });

  it.each(STEPS.map((step, i) => [`${i + 1}. ${step.name}`, step] as const))(
    '%s',
    async (_, step) => {
      for (const h of [batched, single]) {
        for (const [name, source] of Object.entries(step.write ?? {}))
          await h.writeDag(name, source);
        for (const name of step.remove ?? []) await rm(join(h.dagsFolder, name));
      }
      await batched.processor.sync({ force: true });
      await oneByOne.sync({ force: true });
      const got = await snapshot(batched);
      expect(got).toEqual(await snapshot(single));

      for (const [dagId, want] of Object.entries(step.dags)) {
        const row = got.dags.find((d) => d.dag_id === dagId);
        const state = row
          ? `${row.is_active ? 'active' : 'inactive'} ${row.fileloc} ${row.version_number}`
          : 'missing';
        expect(state, dagId).toBe(want);
      }
      expect(Object.fromEntries(got.errors.map((e) => [e.fileloc, e.message]))).toEqual(
        Object.fromEntries(
          Object.entries(step.errors).map(([file, part]) => [file, expect.stringContaining(part)]),
        ),
      );
      const a1 = got.dags.find((d) => d.dag_id === 'a1');
      expect(a1?.next_dagrun).toBeTruthy();
    },
  );
});
