/**
 * Timetables end to end on PostgreSQL with a fake clock: unpausing DAGs with catchup creates the
 * missed runs (data-interval and trigger-style cron across a DST change, a custom registered
 * timetable); a DAG naming an unregistered timetable is an import error naming DAG and field.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConflictError } from '@updraft/core/errors';
import { type Timetable, TimetableRegistry } from '@updraft/core/timetable';
import { schema } from '@updraft/db';
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Operations } from './ops/index.ts';
import type { Clock } from './resources.ts';
import { createEngineHarness, type EngineHarness } from './testing.ts';
import { loadTimetablePlugins } from './timetables.ts';

const clock: Clock & { current: Date } = {
  current: new Date('2026-03-30T12:00:00Z'),
  now() {
    return new Date(this.current);
  },
};

/** Every `hours` hours from the start date, data interval = the hours before (a custom timetable). */
const everyHours = (params: Record<string, unknown>): Timetable => {
  const step = Number(params.hours) * 3_600_000;
  if (!(step > 0)) throw new Error('params.hours must be a positive number');
  return {
    name: 'every_hours',
    summary: `every ${params.hours} hours`,
    canSchedule: true,
    nextRunInfo({ last, restriction }) {
      const start = last?.end ?? restriction.earliest;
      if (!start) return null;
      const end = new Date(start.getTime() + step);
      return { logicalDate: start, dataInterval: { start, end }, runAfter: end };
    },
    manualRunInterval: (at) => ({ start: new Date(at.getTime() - step), end: at }),
  };
};

const DAGS = `
import { dag } from '@updraft/sdk';
export const berlin = dag({ id: 'berlin_trigger', team: 'data-eng', schedule: { cron: '30 2 * * *', style: 'trigger' }, timezone: 'Europe/Berlin', startDate: '2026-03-27T12:00:00Z', catchup: true }, (d) => {
  d.shell('a', { command: 'true' });
});
export const berlinInterval = dag({ id: 'berlin_interval', team: 'data-eng', schedule: '30 2 * * *', timezone: 'Europe/Berlin', startDate: '2026-03-27T12:00:00Z', catchup: true }, (d) => {
  d.shell('a', { command: 'true' });
});
export const custom = dag({ id: 'custom', team: 'data-eng', timetable: { name: 'every_hours', params: { hours: 12 } }, startDate: '2026-03-29T00:00:00Z', catchup: true }, (d) => {
  d.shell('a', { command: 'true' });
});
`;

const UNKNOWN = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'mystery', team: 'data-eng', timetable: { name: 'lunar_phases' } }, (d) => {
  d.shell('a', { command: 'true' });
});
`;

describe('timetables end to end (postgres)', () => {
  let h: EngineHarness;

  beforeAll(async () => {
    h = await createEngineHarness('postgres', { clock, pauseNewDags: true });
    h.resources.timetables = TimetableRegistry.withBuiltins().register('every_hours', everyHours);
    await h.writeDag('dags.ts', DAGS);
    await h.writeDag('unknown.ts', UNKNOWN);
    await h.processor.sync();
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  const runs = async (dagId: string) =>
    (
      await h.resources.database.db
        .select()
        .from(schema.dagRuns)
        .where(eq(schema.dagRuns.dagId, dagId))
        .orderBy(asc(schema.dagRuns.logicalDate))
    ).map((r) => [r.runId, r.dataIntervalStart.toISOString(), r.dataIntervalEnd.toISOString()]);

  it.each<[string, string[][]]>([
    [
      'berlin_trigger',
      [
        // 02:30 CET, 02:30 → 03:30 CEST on the spring-forward day, 02:30 CEST.
        [
          'scheduled__2026-03-28T01:30:00.000Z',
          '2026-03-28T01:30:00.000Z',
          '2026-03-28T01:30:00.000Z',
        ],
        [
          'scheduled__2026-03-29T01:30:00.000Z',
          '2026-03-29T01:30:00.000Z',
          '2026-03-29T01:30:00.000Z',
        ],
        [
          'scheduled__2026-03-30T00:30:00.000Z',
          '2026-03-30T00:30:00.000Z',
          '2026-03-30T00:30:00.000Z',
        ],
      ],
    ],
    [
      'berlin_interval',
      [
        [
          'scheduled__2026-03-28T01:30:00.000Z',
          '2026-03-28T01:30:00.000Z',
          '2026-03-29T01:30:00.000Z',
        ],
        [
          'scheduled__2026-03-29T01:30:00.000Z',
          '2026-03-29T01:30:00.000Z',
          '2026-03-30T00:30:00.000Z',
        ],
      ],
    ],
    [
      'custom',
      [
        [
          'scheduled__2026-03-29T00:00:00.000Z',
          '2026-03-29T00:00:00.000Z',
          '2026-03-29T12:00:00.000Z',
        ],
        [
          'scheduled__2026-03-29T12:00:00.000Z',
          '2026-03-29T12:00:00.000Z',
          '2026-03-30T00:00:00.000Z',
        ],
        [
          'scheduled__2026-03-30T00:00:00.000Z',
          '2026-03-30T00:00:00.000Z',
          '2026-03-30T12:00:00.000Z',
        ],
      ],
    ],
  ])('unpausing %s with catchup creates every missed run', async (dagId, expected) => {
    const scheduler = h.scheduler({ id: `s-${dagId}` });
    await scheduler.runOnce();
    expect(await runs(dagId)).toEqual([]);
    await h.ops.setPaused(dagId, false, 'test');
    for (let i = 0; i < expected.length + 2; i++) await scheduler.runOnce();
    expect(await runs(dagId)).toEqual(expected);
    // The next one is stored for the scheduler (and the UI).
    const [dag] = await h.resources.database.db
      .select()
      .from(schema.dags)
      .where(eq(schema.dags.dagId, dagId));
    expect(dag!.nextDagrunCreateAfter!.getTime()).toBeGreaterThan(clock.current.getTime());
  });

  it('records what decides each DAG in words: the timetable summary, for the API and UI', async () => {
    const rows = await h.resources.database.db
      .select({ dagId: schema.dags.dagId, summary: schema.dags.scheduleSummary })
      .from(schema.dags)
      .orderBy(asc(schema.dags.dagId));
    expect(Object.fromEntries(rows.map((r) => [r.dagId, r.summary]))).toEqual({
      berlin_interval: null,
      berlin_trigger: expect.stringMatching(
        /^cron "30 2 \* \* \*" \(Europe\/Berlin\), trigger style/,
      ),
      custom: 'every 12 hours',
    });
  });

  it("unpausing from a process without the DAG's timetable plugin is a conflict saying what to set", async () => {
    await h.ops.setPaused('custom', true, 'test');
    const lacking = new Operations({
      ...h.resources,
      timetables: TimetableRegistry.withBuiltins(),
    });
    const attempt = lacking.setPaused('custom', false, 'test');
    await expect(attempt).rejects.toThrow(ConflictError);
    await expect(attempt).rejects.toThrow(
      /cannot unpause DAG "custom" here: .*unknown timetable "every_hours".*UPDRAFT_TIMETABLE_PLUGINS/,
    );
    const [dag] = await h.resources.database.db
      .select()
      .from(schema.dags)
      .where(eq(schema.dags.dagId, 'custom'));
    expect(dag!.isPaused).toBe(true);
  });

  it('a DAG naming an unregistered timetable is an import error naming the DAG and the field', async () => {
    const errors = await h.resources.database.db.select().from(schema.importErrors);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(
        /unknown\.ts: DAG "mystery": field "timetable": unknown timetable "lunar_phases"; registered timetables: .*every_hours/,
      ),
    ]);
    const [dag] = await h.resources.database.db
      .select()
      .from(schema.dags)
      .where(eq(schema.dags.dagId, 'mystery'));
    expect(dag).toBeUndefined();
  });
});

describe('timetable plugins', () => {
  it('the plugin example in docs/concepts/schedules.md keeps to catchup, as its text says', async () => {
    const page = await readFile(
      new URL('../../../docs/concepts/schedules.md', import.meta.url),
      'utf8',
    );
    const source = /```js\n(\/\/ plugins\/business-days\.mjs[\s\S]*?)```/.exec(page)?.[1];
    expect(source).toBeDefined();
    const dir = await mkdtemp(join(tmpdir(), 'updraft-doc-plugin-'));
    try {
      const file = join(dir, 'business-days.mjs');
      await writeFile(file, source!);
      const registry = await loadTimetablePlugins([file]);
      const timetable = registry.create(
        { name: 'business_days', params: { hour: 18 } },
        { schedule: null, timezone: 'UTC' },
      );
      const first = (catchup: boolean, now: string) =>
        timetable.nextRunInfo({
          last: null,
          restriction: { earliest: new Date('2026-11-02T00:00:00Z'), latest: null, catchup },
          now: new Date(now),
        });
      // Tuesday evening: every weekday since Monday the 2nd with catchup; without it, today's.
      expect(first(true, '2026-11-24T20:00:00Z')?.runAfter.toISOString()).toBe(
        '2026-11-02T18:00:00.000Z',
      );
      expect(first(false, '2026-11-24T20:00:00Z')).toMatchObject({
        logicalDate: new Date('2026-11-24T08:00:00Z'),
        runAfter: new Date('2026-11-24T18:00:00Z'),
      });
      // Monday morning: Friday's is the latest that has ended.
      expect(first(false, '2026-11-23T10:00:00Z')?.runAfter.toISOString()).toBe(
        '2026-11-20T18:00:00.000Z',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('registers the factories a plugin module exports beside the built-ins; errors name the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'updraft-timetables-'));
    try {
      const good = join(dir, 'good.mjs');
      await writeFile(
        good,
        `export const timetables = { nightly_batch: () => ({ name: 'nightly_batch', summary: 'x', canSchedule: true, nextRunInfo: () => null, manualRunInterval: (at) => ({ start: at, end: at }) }) };`,
      );
      const bad = join(dir, 'bad.mjs');
      await writeFile(bad, 'export const somethingElse = 1;');
      const registry = await loadTimetablePlugins([good]);
      expect(registry.names()).toEqual([
        'cron',
        'cron_trigger',
        'delta',
        'events',
        'nightly_batch',
        'none',
        'once',
      ]);
      await expect(loadTimetablePlugins([bad])).rejects.toThrow(
        `timetable plugin ${bad} must export "timetables"`,
      );
      await expect(loadTimetablePlugins([join(dir, 'missing.mjs')])).rejects.toThrow(
        /cannot load timetable plugin .*missing\.mjs/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
