import { describe, expect, it } from 'vitest';
import { dagIssues } from './dag.ts';
import type { DataInterval, NextRunInfo } from './schedule.ts';
import {
  builtinTimetables,
  isScheduled,
  nextRunForSpec,
  runInfosBetween,
  type Timetable,
  TimetableError,
  TimetableRegistry,
  timetableOf,
} from './timetable.ts';

const d = (iso: string) => new Date(iso);
const FAR = d('2030-01-01T00:00:00Z');

type Spec = Parameters<typeof nextRunForSpec>[0];
const spec = (o: Partial<Spec>): Spec => ({
  schedule: null,
  timezone: 'UTC',
  timetable: null,
  startDate: null,
  endDate: null,
  catchup: true,
  ...o,
});

/** What the scheduler does: ask for the next run, create it, repeat. Logical dates in ISO. */
function scheduled(s: Spec, now: Date, count: number, registry?: TimetableRegistry): string[][] {
  const out: string[][] = [];
  let last: DataInterval | null = null;
  for (let i = 0; i < count; i++) {
    const info: NextRunInfo | null = nextRunForSpec(s, last, now, registry);
    if (!info || info.runAfter.getTime() > now.getTime()) break;
    out.push([
      info.logicalDate.toISOString(),
      info.dataInterval.start.toISOString(),
      info.dataInterval.end.toISOString(),
      info.runAfter.toISOString(),
    ]);
    last = info.dataInterval;
  }
  return out;
}

describe('timetables: which runs the scheduler creates', () => {
  const cases: [name: string, spec: Partial<Spec>, now: string, runs: string[][]][] = [
    [
      'cron data interval, catchup: every interval since the start date',
      { schedule: '0 6 * * *', startDate: '2026-01-01T00:00:00Z' },
      '2026-01-03T07:00:00Z',
      [
        [
          '2026-01-01T06:00:00.000Z',
          '2026-01-01T06:00:00.000Z',
          '2026-01-02T06:00:00.000Z',
          '2026-01-02T06:00:00.000Z',
        ],
        [
          '2026-01-02T06:00:00.000Z',
          '2026-01-02T06:00:00.000Z',
          '2026-01-03T06:00:00.000Z',
          '2026-01-03T06:00:00.000Z',
        ],
      ],
    ],
    [
      'cron data interval, no catchup: only the latest interval',
      { schedule: '0 6 * * *', startDate: '2026-01-01T00:00:00Z', catchup: false },
      '2026-01-05T07:00:00Z',
      [
        [
          '2026-01-04T06:00:00.000Z',
          '2026-01-04T06:00:00.000Z',
          '2026-01-05T06:00:00.000Z',
          '2026-01-05T06:00:00.000Z',
        ],
      ],
    ],
    [
      'cron trigger style, catchup: logical date = fire time, zero-length interval',
      {
        schedule: '0 6 * * *',
        timetable: { name: 'cron_trigger', params: {} },
        startDate: '2026-01-01T00:00:00Z',
      },
      '2026-01-03T07:00:00Z',
      [
        [
          '2026-01-01T06:00:00.000Z',
          '2026-01-01T06:00:00.000Z',
          '2026-01-01T06:00:00.000Z',
          '2026-01-01T06:00:00.000Z',
        ],
        [
          '2026-01-02T06:00:00.000Z',
          '2026-01-02T06:00:00.000Z',
          '2026-01-02T06:00:00.000Z',
          '2026-01-02T06:00:00.000Z',
        ],
        [
          '2026-01-03T06:00:00.000Z',
          '2026-01-03T06:00:00.000Z',
          '2026-01-03T06:00:00.000Z',
          '2026-01-03T06:00:00.000Z',
        ],
      ],
    ],
    [
      'cron trigger style with an interval, no catchup: the latest fire only',
      {
        schedule: '0 6 * * *',
        timetable: { name: 'cron_trigger', params: { intervalMs: 3_600_000 } },
        startDate: '2026-01-01T00:00:00Z',
        catchup: false,
      },
      '2026-01-05T07:00:00Z',
      [
        [
          '2026-01-05T06:00:00.000Z',
          '2026-01-05T05:00:00.000Z',
          '2026-01-05T06:00:00.000Z',
          '2026-01-05T06:00:00.000Z',
        ],
      ],
    ],
    [
      'cron trigger style across Berlin spring forward: 02:30 fires at 03:30 CEST',
      {
        schedule: '30 2 * * *',
        timezone: 'Europe/Berlin',
        timetable: { name: 'cron_trigger', params: {} },
        startDate: '2026-03-28T00:00:00Z',
      },
      '2026-03-30T12:00:00Z',
      [
        [
          '2026-03-28T01:30:00.000Z',
          '2026-03-28T01:30:00.000Z',
          '2026-03-28T01:30:00.000Z',
          '2026-03-28T01:30:00.000Z',
        ],
        [
          '2026-03-29T01:30:00.000Z',
          '2026-03-29T01:30:00.000Z',
          '2026-03-29T01:30:00.000Z',
          '2026-03-29T01:30:00.000Z',
        ],
        [
          '2026-03-30T00:30:00.000Z',
          '2026-03-30T00:30:00.000Z',
          '2026-03-30T00:30:00.000Z',
          '2026-03-30T00:30:00.000Z',
        ],
      ],
    ],
    [
      'cron trigger style across New York fall back: 01:30 fires once',
      {
        schedule: '30 1 * * *',
        timezone: 'America/New_York',
        timetable: { name: 'cron_trigger', params: {} },
        startDate: '2026-10-31T12:00:00Z',
      },
      '2026-11-02T12:00:00Z',
      [
        [
          '2026-11-01T05:30:00.000Z',
          '2026-11-01T05:30:00.000Z',
          '2026-11-01T05:30:00.000Z',
          '2026-11-01T05:30:00.000Z',
        ],
        [
          '2026-11-02T06:30:00.000Z',
          '2026-11-02T06:30:00.000Z',
          '2026-11-02T06:30:00.000Z',
          '2026-11-02T06:30:00.000Z',
        ],
      ],
    ],
    [
      'cron trigger style, hourly across Lord Howe spring forward',
      {
        schedule: '0 * * * *',
        timezone: 'Australia/Lord_Howe',
        timetable: { name: 'cron_trigger', params: {} },
        startDate: '2026-10-03T14:00:00Z',
      },
      '2026-10-03T16:30:00Z',
      [
        [
          '2026-10-03T14:30:00.000Z',
          '2026-10-03T14:30:00.000Z',
          '2026-10-03T14:30:00.000Z',
          '2026-10-03T14:30:00.000Z',
        ],
        [
          '2026-10-03T15:30:00.000Z',
          '2026-10-03T15:30:00.000Z',
          '2026-10-03T15:30:00.000Z',
          '2026-10-03T15:30:00.000Z',
        ],
        [
          '2026-10-03T16:00:00.000Z',
          '2026-10-03T16:00:00.000Z',
          '2026-10-03T16:00:00.000Z',
          '2026-10-03T16:00:00.000Z',
        ],
      ],
    ],
    [
      'end date: nothing after it',
      { schedule: '@daily', startDate: '2026-01-01T00:00:00Z', endDate: '2026-01-02T00:00:00Z' },
      '2026-01-10T00:00:00Z',
      [
        [
          '2026-01-01T00:00:00.000Z',
          '2026-01-01T00:00:00.000Z',
          '2026-01-02T00:00:00.000Z',
          '2026-01-02T00:00:00.000Z',
        ],
        [
          '2026-01-02T00:00:00.000Z',
          '2026-01-02T00:00:00.000Z',
          '2026-01-03T00:00:00.000Z',
          '2026-01-03T00:00:00.000Z',
        ],
      ],
    ],
    [
      'preset @hourly',
      { schedule: '@hourly', startDate: '2026-01-01T00:00:00Z' },
      '2026-01-01T02:00:00Z',
      [
        [
          '2026-01-01T00:00:00.000Z',
          '2026-01-01T00:00:00.000Z',
          '2026-01-01T01:00:00.000Z',
          '2026-01-01T01:00:00.000Z',
        ],
        [
          '2026-01-01T01:00:00.000Z',
          '2026-01-01T01:00:00.000Z',
          '2026-01-01T02:00:00.000Z',
          '2026-01-01T02:00:00.000Z',
        ],
      ],
    ],
    [
      'fixed interval "15m"',
      { schedule: '15m', startDate: '2026-01-01T00:00:00Z' },
      '2026-01-01T00:30:00Z',
      [
        [
          '2026-01-01T00:00:00.000Z',
          '2026-01-01T00:00:00.000Z',
          '2026-01-01T00:15:00.000Z',
          '2026-01-01T00:15:00.000Z',
        ],
        [
          '2026-01-01T00:15:00.000Z',
          '2026-01-01T00:15:00.000Z',
          '2026-01-01T00:30:00.000Z',
          '2026-01-01T00:30:00.000Z',
        ],
      ],
    ],
    [
      '@once: one run at the start date',
      { schedule: '@once', startDate: '2026-01-01T00:00:00Z' },
      '2026-02-01T00:00:00Z',
      [
        [
          '2026-01-01T00:00:00.000Z',
          '2026-01-01T00:00:00.000Z',
          '2026-01-01T00:00:00.000Z',
          '2026-01-01T00:00:00.000Z',
        ],
      ],
    ],
    ['no schedule: never', { schedule: null }, '2026-02-01T00:00:00Z', []],
    [
      'events, catchup: each listed instant once',
      {
        timetable: {
          name: 'events',
          params: {
            dates: ['2026-01-03T10:00:00Z', '2026-01-01T10:00:00Z', '2026-03-01T10:00:00Z'],
          },
        },
      },
      '2026-02-01T00:00:00Z',
      [
        [
          '2026-01-01T10:00:00.000Z',
          '2026-01-01T10:00:00.000Z',
          '2026-01-01T10:00:00.000Z',
          '2026-01-01T10:00:00.000Z',
        ],
        [
          '2026-01-03T10:00:00.000Z',
          '2026-01-03T10:00:00.000Z',
          '2026-01-03T10:00:00.000Z',
          '2026-01-03T10:00:00.000Z',
        ],
      ],
    ],
    [
      'events, no catchup: the latest past event only',
      {
        catchup: false,
        timetable: {
          name: 'events',
          params: { dates: ['2026-01-01T10:00:00Z', '2026-01-03T10:00:00Z'] },
        },
      },
      '2026-02-01T00:00:00Z',
      [
        [
          '2026-01-03T10:00:00.000Z',
          '2026-01-03T10:00:00.000Z',
          '2026-01-03T10:00:00.000Z',
          '2026-01-03T10:00:00.000Z',
        ],
      ],
    ],
  ];
  it.each(cases)('%s', (_name, s, now, runs) => {
    expect(scheduled(spec(s), d(now), 10)).toEqual(runs);
  });
});

describe('manual runs', () => {
  it.each<[string, Partial<Spec>, string, [string, string]]>([
    [
      'cron data interval: the latest ended interval',
      { schedule: '@daily' },
      '2026-01-05T10:00:00Z',
      ['2026-01-04T00:00:00.000Z', '2026-01-05T00:00:00.000Z'],
    ],
    [
      'cron trigger: the trigger time',
      { schedule: '@daily', timetable: { name: 'cron_trigger', params: {} } },
      '2026-01-05T10:00:00Z',
      ['2026-01-05T10:00:00.000Z', '2026-01-05T10:00:00.000Z'],
    ],
    [
      'none: the trigger time',
      { schedule: null },
      '2026-01-05T10:00:00Z',
      ['2026-01-05T10:00:00.000Z', '2026-01-05T10:00:00.000Z'],
    ],
  ])('%s', (_name, s, at, [start, end]) => {
    const i = timetableOf(spec(s)).manualRunInterval(d(at));
    expect([i.start.toISOString(), i.end.toISOString()]).toEqual([start, end]);
  });
});

describe('custom timetables', () => {
  /** Weekdays at 18:00 UTC, data interval = the working day (what cron alone cannot say). */
  const workdays = (params: Record<string, unknown>): Timetable => {
    const hour = Number(params.hour ?? 18);
    const fireAfter = (t: Date): Date => {
      const x = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate(), hour));
      while (x.getTime() <= t.getTime() || x.getUTCDay() === 0 || x.getUTCDay() === 6)
        x.setUTCDate(x.getUTCDate() + 1);
      return x;
    };
    return {
      name: 'workdays',
      summary: `workdays at ${hour}:00`,
      canSchedule: true,
      nextRunInfo({ last, restriction }) {
        const from = last?.end ?? new Date((restriction.earliest ?? FAR).getTime() - 1);
        const end = fireAfter(from);
        const start = new Date(end.getTime() - 10 * 3_600_000);
        return { logicalDate: start, dataInterval: { start, end }, runAfter: end };
      },
      manualRunInterval: (at) => ({ start: at, end: at }),
    };
  };

  it('a registered timetable schedules runs by name and params', () => {
    const registry = TimetableRegistry.withBuiltins().register('workdays', workdays);
    const s = spec({
      timetable: { name: 'workdays', params: { hour: 18 } },
      startDate: '2026-01-02T00:00:00Z',
    });
    // Friday 2 January, then Monday 5 January (the weekend is skipped).
    expect(scheduled(s, d('2026-01-05T20:00:00Z'), 5, registry).map((r) => r[3])).toEqual([
      '2026-01-02T18:00:00.000Z',
      '2026-01-05T18:00:00.000Z',
    ]);
  });

  it('an unregistered timetable is an error naming it and the registered ones', () => {
    expect(() => timetableOf(spec({ timetable: { name: 'workdays', params: {} } }))).toThrow(
      /unknown timetable "workdays"; registered timetables: cron, cron_trigger, delta, events, none, once/,
    );
  });

  it('bad params of a built-in timetable are a DAG issue on field "timetable"', () => {
    const issues = dagIssues({
      dagId: 'd',
      team: 't',
      description: null,
      tags: [],
      schedule: '@daily',
      timetable: { name: 'cron_trigger', params: { intervalMs: -1 } },
      timezone: 'UTC',
      startDate: null,
      endDate: null,
      catchup: false,
      maxActiveRuns: 1,
      maxActiveTasks: 1,
      params: {},
      tasks: [
        {
          taskId: 'a',
          type: 'shell',
          upstream: [],
          retries: 0,
          retryDelayMs: 0,
          retryExponentialBackoff: false,
          maxRetryDelayMs: null,
          timeoutMs: null,
          triggerRule: 'all_success',
          priorityWeight: 1,
          weightRule: 'downstream',
          pool: 'default_pool',
          doc: null,
          config: { command: 'true' },
        },
      ],
    });
    expect(issues).toEqual([
      expect.objectContaining({
        dagId: 'd',
        field: 'timetable',
        message: expect.stringMatching(/params.intervalMs/),
      }),
    ]);
  });

  it('registry names are checked', () => {
    expect(() => new TimetableRegistry().register('bad name', workdays)).toThrow(TimetableError);
    expect(builtinTimetables().has('cron_trigger')).toBe(true);
  });

  it('isScheduled: a timetable other than none schedules', () => {
    expect(isScheduled(spec({ schedule: null }))).toBe(false);
    expect(
      isScheduled(spec({ timetable: { name: 'events', params: { dates: ['2026-01-01'] } } })),
    ).toBe(true);
  });
});

describe('runInfosBetween (backfill intervals)', () => {
  it('lists runs whose logical date is within [from, to], oldest first', () => {
    const t = timetableOf(spec({ schedule: '@daily' }));
    expect(
      runInfosBetween(t, d('2026-01-01T00:00:00Z'), d('2026-01-03T00:00:00Z')).map((i) =>
        i.logicalDate.toISOString(),
      ),
    ).toEqual(['2026-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z', '2026-01-03T00:00:00.000Z']);
  });

  it('follows DST for trigger-style cron (Berlin, 25-hour day)', () => {
    const t = timetableOf(
      spec({
        schedule: '30 2 * * *',
        timezone: 'Europe/Berlin',
        timetable: { name: 'cron_trigger', params: {} },
      }),
    );
    expect(
      runInfosBetween(t, d('2026-10-24T00:00:00Z'), d('2026-10-26T12:00:00Z')).map((i) =>
        i.logicalDate.toISOString(),
      ),
    ).toEqual(['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
  });

  it('refuses absurd ranges', () => {
    const t = timetableOf(spec({ schedule: '* * * * *' }));
    expect(() =>
      runInfosBetween(t, d('2020-01-01T00:00:00Z'), d('2026-01-01T00:00:00Z'), 100),
    ).toThrow(/more than 100 runs/);
  });
});
