/**
 * The busiest listings read rows without Drizzle's result mapping, timestamps as PostgreSQL's text
 * rewritten by iso: what a client receives must not change. Real databases, both drivers.
 */
import { rowsOf, schema } from '@updraft/db';
import {
  createTestDatabase,
  insertBareDag,
  TEST_DATABASE_KINDS,
  type TestDatabase,
} from '@updraft/db/testing';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dagJson, iso, listingRows, runJson, taskInstanceJson } from './serialize.ts';

describe('iso', () => {
  it('writes what a Date parsed from the same text writes, for PostgreSQL text in UTC', () => {
    // Seeded: every fraction length from none to microseconds, across years and days.
    let seed = 11;
    const next = (n: number) => {
      seed = (seed * 48271) % 2147483647;
      return seed % n;
    };
    const pad = (n: number, width: number) => String(n).padStart(width, '0');
    for (let i = 0; i < 2000; i++) {
      const day = new Date(Date.UTC(1970 + next(1000), next(12), 1 + next(28)));
      const date = day.toISOString().slice(0, 10);
      const time = `${pad(next(24), 2)}:${pad(next(60), 2)}:${pad(next(60), 2)}`;
      const digits = next(7);
      const fraction = digits === 0 ? '' : `.${pad(next(10 ** digits), digits)}`;
      const text = `${date} ${time}${fraction}+00`;
      expect(iso(text), text).toBe(new Date(text).toISOString());
    }
  });

  it('parses any other offset or style as a Date would', () => {
    for (const text of ['2026-11-24 18:18:20.5+01', '2026-11-24 17:18:20.123456+05:30'])
      expect(iso(text)).toBe(new Date(text).toISOString());
    expect(iso(new Date('2026-11-24T17:18:20.123Z'))).toBe('2026-11-24T17:18:20.123Z');
    expect(iso(null)).toBeNull();
  });
});

describe('dagJson', () => {
  const row = {
    dagId: 'd',
    teamId: 't',
    isPaused: false,
    isActive: true,
    fileloc: 'd.ts',
    description: null,
    tags: [],
    schedule: null as string | null,
    scheduleSummary: null as string | null,
    timezone: 'UTC',
    maxActiveRuns: 16,
    maxActiveTasks: 16,
    latestVersionId: 1,
    nextDagrun: null,
    nextDagrunDataIntervalStart: null,
    nextDagrunDataIntervalEnd: null,
    nextDagrunCreateAfter: null,
    lastParsedAt: null,
    createdAt: new Date(0),
    updatedAt: new Date(0),
  };

  it.each([
    ['a schedule', { schedule: '@daily' }, 'cron "0 0 * * *" (UTC)'],
    ['no schedule', {}, 'manual only'],
    ['a timetable', { scheduleSummary: 'every 12 hours' }, 'every 12 hours'],
  ])('describes a DAG with %s', (_name, extra, description) => {
    expect(dagJson({ ...row, ...extra }).schedule_description).toBe(description);
  });
});

describe.each(TEST_DATABASE_KINDS)('listings with text timestamps (%s)', (kind) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(kind);
    const { db } = t.handle;
    const versionId = await insertBareDag(db, 'times');
    // Microseconds, whole seconds and a missing end.
    await db.execute(sql`insert into dag_runs (dag_id, run_id, dag_version_id, run_type, state,
        logical_date, data_interval_start, data_interval_end, triggered_by, queued_at, start_date)
      values ('times', 'r1', ${versionId}, 'manual', 'running', '2026-11-24 17:18:20.123987+00',
        '2026-11-24 17:00:00+00', '2026-11-24 18:00:00.5+00', 'test', now(), clock_timestamp())`);
    await db.execute(sql`insert into task_instances (dag_run_id, dag_id, run_id, task_id, operator,
        queued_at, start_date, end_date, heartbeat_at)
      select id, dag_id, run_id, 't', 'shell', now(), '2026-01-02 03:04:05.000001+00',
        clock_timestamp(), null from dag_runs where run_id = 'r1'`);
  }, 60_000);
  afterAll(async () => {
    await t?.drop();
  });

  it('give clients the same runs and task instances as rows Drizzle reads', async () => {
    const { db } = t.handle;
    const runs = listingRows(schema.dagRuns);
    const [asDates] = await db.select().from(schema.dagRuns).where(eq(schema.dagRuns.runId, 'r1'));
    const [asText] = runs.decode(
      rowsOf(await db.execute(sql`select ${runs.columns} from dag_runs where run_id = 'r1'`)),
    );
    expect(typeof asText!.logicalDate).toBe('string');
    expect(runJson(asText!)).toEqual(runJson(asDates!));
    expect(runJson(asText!).logical_date).toBe('2026-11-24T17:18:20.123Z');
    // Every column as Drizzle decodes it (bigint ids as numbers, jsonb as values), timestamps
    // as the same instant.
    const sameRow = (text: Record<string, unknown>, dates: Record<string, unknown>) => {
      expect(Object.keys(text).sort()).toEqual(Object.keys(dates).sort());
      for (const [key, value] of Object.entries(dates))
        expect(value instanceof Date ? iso(value) : value, key).toEqual(
          value instanceof Date ? iso(text[key] as string) : text[key],
        );
    };
    sameRow(asText!, asDates!);
    const tis = listingRows(schema.taskInstances);
    const [tiDates] = await db
      .select()
      .from(schema.taskInstances)
      .where(eq(schema.taskInstances.runId, 'r1'));
    const [tiText] = tis.decode(
      rowsOf(await db.execute(sql`select ${tis.columns} from task_instances where run_id = 'r1'`)),
    );
    sameRow(tiText!, tiDates!);
    expect(taskInstanceJson(tiText!)).toEqual(taskInstanceJson(tiDates!));
    expect(taskInstanceJson(tiText!).start_date).toBe('2026-01-02T03:04:05.000Z');
  });
});
