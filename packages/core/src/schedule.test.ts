import { describe, expect, it } from 'vitest';
import {
  cronNext,
  cronPrev,
  type DataInterval,
  describeSchedule,
  manualRunInterval,
  type NextRunInfo,
  type NextRunOptions,
  nextRunInfo,
  parseSchedule,
  resolveWallClock,
  type Schedule,
  ScheduleError,
  wallClockMs,
} from './schedule.ts';
import { nextRunForSpec } from './timetable.ts';

const d = (iso: string) => new Date(iso);
const FAR_FUTURE = d('2030-01-01T00:00:00Z');

const opts = (o: Partial<NextRunOptions>): NextRunOptions => ({
  startDate: null,
  endDate: null,
  catchup: true,
  lastInterval: null,
  now: FAR_FUTURE,
  ...o,
});

/** Runs the scheduler loop `count` times, feeding each interval back as the last one. */
function chain(schedule: Schedule, o: Partial<NextRunOptions>, count: number): NextRunInfo[] {
  const out: NextRunInfo[] = [];
  let lastInterval: DataInterval | null = o.lastInterval ?? null;
  for (let i = 0; i < count; i++) {
    const info = nextRunInfo(schedule, opts({ ...o, lastInterval }));
    if (!info) break;
    out.push(info);
    lastInterval = info.dataInterval;
  }
  return out;
}

const iso = (info: NextRunInfo | null) =>
  info && {
    logicalDate: info.logicalDate.toISOString(),
    start: info.dataInterval.start.toISOString(),
    end: info.dataInterval.end.toISOString(),
    runAfter: info.runAfter.toISOString(),
  };

describe('parseSchedule', () => {
  it.each<[string | null | undefined, Schedule]>([
    [null, { kind: 'none' }],
    [undefined, { kind: 'none' }],
    ['none', { kind: 'none' }],
    ['@none', { kind: 'none' }],
    ['@once', { kind: 'once' }],
    [' @once ', { kind: 'once' }],
    ['@hourly', { kind: 'cron', expression: '0 * * * *', timezone: 'UTC' }],
    ['@daily', { kind: 'cron', expression: '0 0 * * *', timezone: 'UTC' }],
    ['@weekly', { kind: 'cron', expression: '0 0 * * 0', timezone: 'UTC' }],
    ['@monthly', { kind: 'cron', expression: '0 0 1 * *', timezone: 'UTC' }],
    ['@yearly', { kind: 'cron', expression: '0 0 1 1 *', timezone: 'UTC' }],
    ['@annually', { kind: 'cron', expression: '0 0 1 1 *', timezone: 'UTC' }],
    ['*/5 * * * *', { kind: 'cron', expression: '*/5 * * * *', timezone: 'UTC' }],
    ['0 2 * * 1-5', { kind: 'cron', expression: '0 2 * * 1-5', timezone: 'UTC' }],
    ['15m', { kind: 'interval', everyMs: 900_000 }],
    ['1h30m', { kind: 'interval', everyMs: 5_400_000 }],
    ['1s', { kind: 'interval', everyMs: 1000 }],
    ['2d', { kind: 'interval', everyMs: 172_800_000 }],
  ])('%j → %j', (input, expected) => {
    expect(parseSchedule(input)).toEqual(expected);
  });

  it('keeps the timezone for cron schedules', () => {
    expect(parseSchedule('0 2 * * *', 'Europe/Berlin')).toEqual({
      kind: 'cron',
      expression: '0 2 * * *',
      timezone: 'Europe/Berlin',
    });
  });

  it.each<[string, string, RegExp]>([
    ['61 * * * *', 'UTC', /invalid cron expression "61 \* \* \* \*"/],
    ['* 25 * * *', 'UTC', /invalid cron expression "\* 25 \* \* \*"/],
    ['0 0 * * * *', 'UTC', /cron expression "0 0 \* \* \* \*" has 6 fields; Updraft uses 5/],
    ['0 0 * *', 'UTC', /cron expression "0 0 \* \*" has 4 fields/],
    ['@fortnightly', 'UTC', /unknown schedule preset "@fortnightly".*@daily.*@once/],
    ['15x', 'UTC', /"15x" is not a duration/],
    ['500ms', 'UTC', /schedule interval "500ms" is shorter than 1s/],
    ['@daily', 'Mars/Olympus_Mons', /unknown timezone "Mars\/Olympus_Mons"/],
    ['0 2 * * *', 'Not/AZone', /unknown timezone "Not\/AZone"/],
  ])('rejects %j (tz %s)', (input, timezone, message) => {
    expect(() => parseSchedule(input, timezone)).toThrow(ScheduleError);
    expect(() => parseSchedule(input, timezone)).toThrow(message);
  });
});

describe('nextRunInfo: cron data intervals', () => {
  const daily = parseSchedule('@daily');

  it('first run of a catchup DAG covers the day starting at the start date', () => {
    const info = nextRunInfo(daily, opts({ startDate: d('2026-01-01T00:00:00Z') }));
    expect(iso(info)).toEqual({
      logicalDate: '2026-01-01T00:00:00.000Z',
      start: '2026-01-01T00:00:00.000Z',
      end: '2026-01-02T00:00:00.000Z',
      runAfter: '2026-01-02T00:00:00.000Z',
    });
  });

  it.each([false, true])(
    'without a start date, the first run is the latest interval that has ended (catchup %s)',
    (catchup) => {
      const now = d('2026-11-24T15:00:00Z');
      const first = nextRunInfo(daily, opts({ now, catchup }));
      expect(iso(first)).toEqual({
        logicalDate: '2026-11-23T00:00:00.000Z',
        start: '2026-11-23T00:00:00.000Z',
        end: '2026-11-24T00:00:00.000Z',
        runAfter: '2026-11-24T00:00:00.000Z',
      });
      const second = nextRunInfo(daily, opts({ now, catchup, lastInterval: first!.dataInterval }));
      expect(second?.logicalDate.toISOString()).toBe('2026-11-24T00:00:00.000Z');
      expect(second?.runAfter.toISOString()).toBe('2026-11-25T00:00:00.000Z');
    },
  );

  it('a start date between fire times aligns up to the next fire time', () => {
    const info = nextRunInfo(daily, opts({ startDate: d('2026-01-01T12:00:00Z') }));
    expect(info?.logicalDate.toISOString()).toBe('2026-01-02T00:00:00.000Z');
    expect(info?.runAfter.toISOString()).toBe('2026-01-03T00:00:00.000Z');
  });

  it('consecutive intervals chain without gaps or overlaps', () => {
    const runs = chain(daily, { startDate: d('2026-01-01T00:00:00Z') }, 5);
    expect(runs.map((r) => r.logicalDate.toISOString().slice(0, 10))).toEqual([
      '2026-01-01',
      '2026-01-02',
      '2026-01-03',
      '2026-01-04',
      '2026-01-05',
    ]);
    for (const [i, run] of runs.entries()) {
      expect(run.logicalDate).toEqual(run.dataInterval.start);
      expect(run.runAfter).toEqual(run.dataInterval.end);
      if (i > 0) expect(run.dataInterval.start).toEqual(runs[i - 1]!.dataInterval.end);
    }
  });

  it('an hourly cron from a start date produces hour-long intervals', () => {
    const runs = chain(parseSchedule('0 * * * *'), { startDate: d('2026-01-01T00:30:00Z') }, 3);
    expect(runs.map((r) => r.logicalDate.toISOString())).toEqual([
      '2026-01-01T01:00:00.000Z',
      '2026-01-01T02:00:00.000Z',
      '2026-01-01T03:00:00.000Z',
    ]);
  });

  it('with catchup the backlog since the start date is worked through one interval at a time', () => {
    const info = nextRunInfo(
      daily,
      opts({ startDate: d('2026-01-01T00:00:00Z'), catchup: true, now: d('2026-03-01T00:00:00Z') }),
    );
    expect(info?.logicalDate.toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it.each<[string, string]>([
    ['2026-01-10T12:00:00Z', '2026-01-09T00:00:00.000Z'],
    ['2026-01-10T00:00:00Z', '2026-01-09T00:00:00.000Z'],
    ['2026-01-10T23:59:59Z', '2026-01-09T00:00:00.000Z'],
    ['2026-01-11T00:00:00Z', '2026-01-10T00:00:00.000Z'],
  ])('without catchup, at %s it skips to the latest completed interval (%s)', (now, logical) => {
    const info = nextRunInfo(
      daily,
      opts({ startDate: d('2026-01-01T00:00:00Z'), catchup: false, now: d(now) }),
    );
    expect(info?.logicalDate.toISOString()).toBe(logical);
    expect(info!.runAfter.getTime()).toBeLessThanOrEqual(d(now).getTime());
  });

  it('without catchup, after the latest interval ran, the next one is the current interval', () => {
    const info = nextRunInfo(
      daily,
      opts({
        startDate: d('2026-01-01T00:00:00Z'),
        catchup: false,
        now: d('2026-01-10T12:00:00Z'),
        lastInterval: { start: d('2026-01-09T00:00:00Z'), end: d('2026-01-10T00:00:00Z') },
      }),
    );
    expect(info?.logicalDate.toISOString()).toBe('2026-01-10T00:00:00.000Z');
    expect(info?.runAfter.toISOString()).toBe('2026-01-11T00:00:00.000Z');
  });

  it('without catchup, an old last interval does not cause a backfill', () => {
    const info = nextRunInfo(
      daily,
      opts({
        startDate: d('2026-01-01T00:00:00Z'),
        catchup: false,
        now: d('2026-01-10T12:00:00Z'),
        lastInterval: { start: d('2026-01-02T00:00:00Z'), end: d('2026-01-03T00:00:00Z') },
      }),
    );
    expect(info?.logicalDate.toISOString()).toBe('2026-01-09T00:00:00.000Z');
  });

  it('without catchup, a start date in the future is respected', () => {
    const info = nextRunInfo(
      daily,
      opts({
        startDate: d('2026-02-01T00:00:00Z'),
        catchup: false,
        now: d('2026-01-10T12:00:00Z'),
      }),
    );
    expect(info?.logicalDate.toISOString()).toBe('2026-02-01T00:00:00.000Z');
  });

  it('stops scheduling after the end date', () => {
    const runs = chain(
      daily,
      { startDate: d('2026-01-01T00:00:00Z'), endDate: d('2026-01-03T00:00:00Z') },
      10,
    );
    // An interval starting exactly at the end date is still scheduled (Airflow: start > end stops).
    expect(runs.map((r) => r.logicalDate.toISOString().slice(0, 10))).toEqual([
      '2026-01-01',
      '2026-01-02',
      '2026-01-03',
    ]);
  });

  it('an end date before the start date schedules nothing', () => {
    const info = nextRunInfo(
      daily,
      opts({ startDate: d('2026-01-05T00:00:00Z'), endDate: d('2026-01-01T00:00:00Z') }),
    );
    expect(info).toBeNull();
  });
});

describe('nextRunInfo: none, @once and intervals', () => {
  it('a manual-only DAG is never scheduled', () => {
    expect(
      nextRunInfo(parseSchedule(null), opts({ startDate: d('2026-01-01T00:00:00Z') })),
    ).toBeNull();
  });

  it('@once runs exactly once, at the start date', () => {
    const once = parseSchedule('@once');
    const runs = chain(once, { startDate: d('2026-01-01T06:00:00Z') }, 5);
    expect(runs).toHaveLength(1);
    expect(iso(runs[0]!)).toEqual({
      logicalDate: '2026-01-01T06:00:00.000Z',
      start: '2026-01-01T06:00:00.000Z',
      end: '2026-01-01T06:00:00.000Z',
      runAfter: '2026-01-01T06:00:00.000Z',
    });
  });

  it('@once without a start date is never scheduled', () => {
    expect(nextRunInfo(parseSchedule('@once'), opts({}))).toBeNull();
  });

  it('an interval schedule chains fixed-length intervals from the start date', () => {
    const runs = chain(parseSchedule('6h'), { startDate: d('2026-01-01T00:00:00Z') }, 3);
    expect(runs.map((r) => [r.dataInterval.start.toISOString(), r.runAfter.toISOString()])).toEqual(
      [
        ['2026-01-01T00:00:00.000Z', '2026-01-01T06:00:00.000Z'],
        ['2026-01-01T06:00:00.000Z', '2026-01-01T12:00:00.000Z'],
        ['2026-01-01T12:00:00.000Z', '2026-01-01T18:00:00.000Z'],
      ],
    );
  });

  it('an interval schedule without catchup skips to the latest completed interval', () => {
    const info = nextRunInfo(
      parseSchedule('6h'),
      opts({
        startDate: d('2026-01-01T00:00:00Z'),
        catchup: false,
        now: d('2026-01-02T01:00:00Z'),
      }),
    );
    expect(iso(info)).toMatchObject({
      start: '2026-01-01T18:00:00.000Z',
      end: '2026-01-02T00:00:00.000Z',
    });
  });

  it('an interval schedule without a start date covers the interval ending now', () => {
    const now = d('2026-01-02T01:00:00Z');
    const info = nextRunInfo(parseSchedule('15m'), opts({ now }));
    expect(info?.dataInterval.start.toISOString()).toBe('2026-01-02T00:45:00.000Z');
    expect(info?.runAfter).toEqual(now);
  });

  it('an interval schedule respects the end date', () => {
    const runs = chain(
      parseSchedule('1d'),
      { startDate: d('2026-01-01T00:00:00Z'), endDate: d('2026-01-02T12:00:00Z') },
      10,
    );
    expect(runs).toHaveLength(2);
  });
});

describe('nextRunInfo across DST changes', () => {
  const localDay = (date: Date, timeZone: string) =>
    new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    }).format(date);
  const localTime = (date: Date, timeZone: string) =>
    new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).format(date);

  // [timezone, cron, start date, expected local days, expected local times, interval hours]
  it.each<[string, string, string, string[], string[], number[]]>([
    [
      'Europe/Berlin',
      '0 2 * * *',
      '2026-03-27T00:00:00Z',
      ['2026-03-27', '2026-03-28', '2026-03-29', '2026-03-30', '2026-03-31'],
      // 02:00 does not exist on 29 March: the run fires at the first instant after the gap.
      ['02:00', '02:00', '03:00', '02:00', '02:00'],
      [24, 24, 23, 24, 24],
    ],
    [
      'Europe/Berlin',
      '30 1 * * *',
      '2026-03-27T00:00:00Z',
      ['2026-03-27', '2026-03-28', '2026-03-29', '2026-03-30', '2026-03-31'],
      ['01:30', '01:30', '01:30', '01:30', '01:30'],
      [24, 24, 23, 24, 24],
    ],
    [
      'Europe/Berlin',
      '0 2 * * *',
      '2026-10-23T00:00:00Z',
      ['2026-10-23', '2026-10-24', '2026-10-25', '2026-10-26', '2026-10-27'],
      // 02:00 happens twice on 25 October: it fires once.
      ['02:00', '02:00', '02:00', '02:00', '02:00'],
      [24, 24, 25, 24, 24],
    ],
    [
      'Europe/Berlin',
      '30 1 * * *',
      '2026-10-22T23:00:00Z',
      ['2026-10-23', '2026-10-24', '2026-10-25', '2026-10-26', '2026-10-27'],
      ['01:30', '01:30', '01:30', '01:30', '01:30'],
      [24, 24, 25, 24, 24],
    ],
    [
      'America/New_York',
      '0 2 * * *',
      '2026-03-06T12:00:00Z',
      ['2026-03-07', '2026-03-08', '2026-03-09', '2026-03-10', '2026-03-11'],
      ['02:00', '03:00', '02:00', '02:00', '02:00'],
      [24, 23, 24, 24, 24],
    ],
    [
      'America/New_York',
      '30 1 * * *',
      '2026-03-06T12:00:00Z',
      ['2026-03-07', '2026-03-08', '2026-03-09', '2026-03-10', '2026-03-11'],
      ['01:30', '01:30', '01:30', '01:30', '01:30'],
      [24, 23, 24, 24, 24],
    ],
    [
      'America/New_York',
      '0 2 * * *',
      '2026-10-30T12:00:00Z',
      ['2026-10-31', '2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04'],
      ['02:00', '02:00', '02:00', '02:00', '02:00'],
      [25, 24, 24, 24, 24],
    ],
    [
      'America/New_York',
      '30 1 * * *',
      '2026-10-30T12:00:00Z',
      ['2026-10-31', '2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04'],
      // 01:30 happens twice on 1 November: it fires once.
      ['01:30', '01:30', '01:30', '01:30', '01:30'],
      [24, 25, 24, 24, 24],
    ],
  ])('%s "%s" from %s: one run per local day', (tz, cron, start, days, times, hours) => {
    const runs = chain(parseSchedule(cron, tz), { startDate: d(start) }, 5);
    expect(runs.map((r) => localDay(r.logicalDate, tz))).toEqual(days);
    expect(runs.map((r) => localTime(r.logicalDate, tz))).toEqual(times);
    expect(
      runs.map((r) => (r.dataInterval.end.getTime() - r.dataInterval.start.getTime()) / 3_600_000),
    ).toEqual(hours);
    for (const [i, run] of runs.entries()) {
      if (i > 0) expect(run.dataInterval.start).toEqual(runs[i - 1]!.dataInterval.end);
    }
  });

  it('without catchup in Berlin, the latest completed interval is found across the change', () => {
    const schedule = parseSchedule('0 2 * * *', 'Europe/Berlin');
    // 30 March 2026 05:00 CEST: the latest completed interval is 29 March 03:00 → 30 March 02:00.
    const info = nextRunInfo(
      schedule,
      opts({
        startDate: d('2026-01-01T00:00:00Z'),
        catchup: false,
        now: d('2026-03-30T03:00:00Z'),
      }),
    );
    expect(localDay(info!.logicalDate, 'Europe/Berlin')).toBe('2026-03-29');
    expect(info?.runAfter.toISOString()).toBe('2026-03-30T00:00:00.000Z');
  });
});

describe('previous fire times across DST (cron-parser prev() disagrees with next())', () => {
  const hours = (i: DataInterval) => (i.end.getTime() - i.start.getTime()) / 3_600_000;

  it('without catchup in New York, the repeated 01:30 neither yields a 1-hour interval nor a second run', () => {
    const schedule = parseSchedule('30 1 * * *', 'America/New_York');
    const base = { startDate: d('2026-01-01T00:00:00Z'), catchup: false };
    // 03:00 EST on 1 November, after both passes of 01:30.
    const first = nextRunInfo(schedule, opts({ ...base, now: d('2026-11-01T08:00:00Z') }));
    expect(iso(first)).toMatchObject({
      start: '2026-10-31T05:30:00.000Z',
      end: '2026-11-01T05:30:00.000Z',
    });
    const second = nextRunInfo(
      schedule,
      opts({ ...base, now: d('2026-11-02T08:00:00Z'), lastInterval: first!.dataInterval }),
    );
    expect(iso(second)).toMatchObject({
      start: '2026-11-01T05:30:00.000Z',
      end: '2026-11-02T06:30:00.000Z',
    });
  });

  it.each<[string, string, string, string, number]>([
    // Spring forward: the 03:00 fire that replaces 02:00 must not be skipped.
    ['0 2 * * *', 'Europe/Berlin', '2026-03-30T03:00:00Z', '2026-03-29T01:00:00.000Z', 23],
    ['0 2 * * *', 'America/New_York', '2026-03-09T12:00:00Z', '2026-03-08T07:00:00.000Z', 23],
    // Fall back: the second pass of the repeated hour is not a fire time.
    ['30 1 * * *', 'America/New_York', '2026-11-02T12:00:00Z', '2026-11-01T05:30:00.000Z', 25],
    ['0 2 * * *', 'Europe/Berlin', '2026-10-26T12:00:00Z', '2026-10-25T00:00:00.000Z', 25],
  ])(
    'manual run of "%s" in %s at %s covers one local day from %s',
    (cron, tz, at, start, length) => {
      const interval = manualRunInterval(parseSchedule(cron, tz), d(at));
      expect(interval.start.toISOString()).toBe(start);
      expect(hours(interval)).toBe(length);
    },
  );
});

describe('manualRunInterval', () => {
  it.each<[string, Schedule, string, [string, string]]>([
    [
      'daily cron: latest interval ended by then',
      parseSchedule('@daily'),
      '2026-01-10T15:00:00Z',
      ['2026-01-09T00:00:00.000Z', '2026-01-10T00:00:00.000Z'],
    ],
    [
      'daily cron exactly on a boundary',
      parseSchedule('@daily'),
      '2026-01-10T00:00:00Z',
      ['2026-01-09T00:00:00.000Z', '2026-01-10T00:00:00.000Z'],
    ],
    [
      'cron in a timezone',
      parseSchedule('0 2 * * *', 'Europe/Berlin'),
      '2026-01-10T15:00:00Z',
      ['2026-01-09T01:00:00.000Z', '2026-01-10T01:00:00.000Z'],
    ],
    [
      'interval: the interval ending at the trigger time',
      parseSchedule('1h'),
      '2026-01-10T15:20:00Z',
      ['2026-01-10T14:20:00.000Z', '2026-01-10T15:20:00.000Z'],
    ],
    [
      '@once: empty interval',
      parseSchedule('@once'),
      '2026-01-10T15:20:00Z',
      ['2026-01-10T15:20:00.000Z', '2026-01-10T15:20:00.000Z'],
    ],
    [
      'none: empty interval',
      parseSchedule(null),
      '2026-01-10T15:20:00Z',
      ['2026-01-10T15:20:00.000Z', '2026-01-10T15:20:00.000Z'],
    ],
  ])('%s', (_label, schedule, at, [start, end]) => {
    const interval = manualRunInterval(schedule, d(at));
    expect([interval.start.toISOString(), interval.end.toISOString()]).toEqual([start, end]);
  });
});

describe('describeSchedule', () => {
  it.each<[Schedule, string]>([
    [{ kind: 'none' }, 'manual only'],
    [{ kind: 'once' }, 'once'],
    [
      { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin' },
      'cron "0 2 * * *" (Europe/Berlin)',
    ],
    [{ kind: 'interval', everyMs: 900_000 }, 'every 900s'],
  ])('%j → %s', (schedule, text) => {
    expect(describeSchedule(schedule)).toBe(text);
  });
});

// ---------------------------------------------------------------------------------------------
// DST: fire times walked forward (cronNext) and backward (cronPrev) must agree, never skip a day
// and never double one. Expected instants in UTC, with the local wall time as a comment.
// ---------------------------------------------------------------------------------------------

function forward(expression: string, timezone: string, from: string, count: number): string[] {
  const out: string[] = [];
  let t = d(from);
  for (let i = 0; i < count; i++) {
    t = cronNext({ expression, timezone }, t);
    out.push(t.toISOString());
  }
  return out;
}

function backward(expression: string, timezone: string, before: string, count: number): string[] {
  const out: string[] = [];
  let t = d(before);
  for (let i = 0; i < count; i++) {
    t = cronPrev({ expression, timezone }, t);
    out.push(t.toISOString());
  }
  return out.reverse();
}

const DST_CASES: [
  name: string,
  expression: string,
  timezone: string,
  from: string,
  fires: string[],
][] = [
  [
    'Berlin spring forward: 02:30 does not exist, fires at 03:30 CEST',
    '30 2 * * *',
    'Europe/Berlin',
    '2026-03-27T12:00:00Z',
    ['2026-03-28T01:30:00.000Z', '2026-03-29T01:30:00.000Z', '2026-03-30T00:30:00.000Z'],
  ],
  [
    'Berlin fall back: 02:30 occurs twice, fires once (first, CEST)',
    '30 2 * * *',
    'Europe/Berlin',
    '2026-10-23T12:00:00Z',
    ['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z'],
  ],
  [
    'Berlin hourly across fall back: both 02:00 hours fire (real time)',
    '0 * * * *',
    'Europe/Berlin',
    '2026-10-24T22:30:00Z',
    [
      '2026-10-24T23:00:00.000Z', // 01:00 CEST
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET
      '2026-10-25T02:00:00.000Z', // 03:00 CET
    ],
  ],
  [
    'Berlin hourly across spring forward: no real hour skipped',
    '0 * * * *',
    'Europe/Berlin',
    '2026-03-28T23:30:00Z',
    ['2026-03-29T00:00:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-29T02:00:00.000Z'],
  ],
  [
    'New York spring forward: 02:30 → 03:30 EDT',
    '30 2 * * *',
    'America/New_York',
    '2026-03-07T12:00:00Z',
    ['2026-03-08T07:30:00.000Z', '2026-03-09T06:30:00.000Z'],
  ],
  [
    'New York fall back: 01:30 fires once (EDT)',
    '30 1 * * *',
    'America/New_York',
    '2026-10-31T12:00:00Z',
    ['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z'],
  ],
  [
    'New York hourly across fall back: the repeated 01:00 hour fires twice',
    '0 * * * *',
    'America/New_York',
    '2026-11-01T04:30:00Z',
    ['2026-11-01T05:00:00.000Z', '2026-11-01T06:00:00.000Z', '2026-11-01T07:00:00.000Z'],
  ],
  [
    'Lord Howe spring forward (30 min): 02:00 → 02:30',
    '0 2 * * *',
    'Australia/Lord_Howe',
    '2026-10-02T12:00:00Z',
    ['2026-10-02T15:30:00.000Z', '2026-10-03T15:30:00.000Z', '2026-10-04T15:00:00.000Z'],
  ],
  [
    'Lord Howe hourly across spring forward',
    '0 * * * *',
    'Australia/Lord_Howe',
    '2026-10-03T13:00:00Z',
    [
      '2026-10-03T13:30:00.000Z', // 00:00 +10:30
      '2026-10-03T14:30:00.000Z', // 01:00 +10:30
      '2026-10-03T15:30:00.000Z', // 02:00 shifted to 02:30 +11
      '2026-10-03T16:00:00.000Z', // 03:00 +11
    ],
  ],
  [
    'Lord Howe fall back (30 min): 01:45 fires once',
    '45 1 * * *',
    'Australia/Lord_Howe',
    '2026-04-03T12:00:00Z',
    ['2026-04-03T14:45:00.000Z', '2026-04-04T14:45:00.000Z', '2026-04-05T15:15:00.000Z'],
  ],
  [
    'Lord Howe daily at midnight across fall back',
    '0 0 * * *',
    'Australia/Lord_Howe',
    '2026-04-02T12:00:00Z',
    [
      '2026-04-02T13:00:00.000Z',
      '2026-04-03T13:00:00.000Z',
      '2026-04-04T13:00:00.000Z',
      '2026-04-05T13:30:00.000Z',
    ],
  ],
  [
    'Santiago midnight spring forward: 00:00 does not exist, fires at 01:00',
    '0 0 * * *',
    'America/Santiago',
    '2026-09-04T12:00:00Z',
    ['2026-09-05T04:00:00.000Z', '2026-09-06T04:00:00.000Z', '2026-09-07T03:00:00.000Z'],
  ],
  [
    'Santiago fall back at midnight: 23:30 fires once',
    '30 23 * * *',
    'America/Santiago',
    '2026-04-03T12:00:00Z',
    ['2026-04-04T02:30:00.000Z', '2026-04-05T02:30:00.000Z', '2026-04-06T03:30:00.000Z'],
  ],
];

describe('cron across DST', () => {
  it.each(DST_CASES)('%s', (_name, expression, timezone, from, fires) => {
    expect(forward(expression, timezone, from, fires.length)).toEqual(fires);
    // Walking back from just after the last fire gives the same instants.
    const after = new Date(d(fires[fires.length - 1]!).getTime() + 1).toISOString();
    expect(backward(expression, timezone, after, fires.length)).toEqual(fires);
  });

  it.each(DST_CASES)(
    'data-interval and trigger-style runs: %s',
    (_name, expression, timezone, _from, fires) => {
      const startDate = new Date(d(fires[0]!).getTime() - 1).toISOString();
      const common = { schedule: expression, timezone, startDate, endDate: null, catchup: true };
      // Data intervals: [fire i, fire i+1), logical date = start, created at the end.
      const intervals: string[][] = [];
      let last: DataInterval | null = null;
      for (let i = 0; i < fires.length - 1; i++) {
        const info: NextRunInfo = nextRunForSpec({ ...common, timetable: null }, last, FAR_FUTURE)!;
        intervals.push(
          [info.logicalDate, info.dataInterval.start, info.dataInterval.end, info.runAfter].map(
            (x) => x.toISOString(),
          ),
        );
        last = info.dataInterval;
      }
      expect(intervals).toEqual(
        fires.slice(0, -1).map((f, i) => [f, f, fires[i + 1], fires[i + 1]]),
      );
      // Trigger style: logical date = run after = each fire time.
      const triggers: string[] = [];
      last = null;
      for (let i = 0; i < fires.length; i++) {
        const info: NextRunInfo = nextRunForSpec(
          { ...common, timetable: { name: 'cron_trigger', params: {} } },
          last,
          FAR_FUTURE,
        )!;
        expect(info.runAfter).toEqual(info.logicalDate);
        triggers.push(info.logicalDate.toISOString());
        last = info.dataInterval;
      }
      expect(triggers).toEqual(fires);
    },
  );

  it.each([
    ['Europe/Berlin', '2026-03-29'],
    ['Europe/Berlin', '2026-10-25'],
    ['America/New_York', '2026-03-08'],
    ['America/New_York', '2026-11-01'],
    ['Australia/Lord_Howe', '2026-10-04'],
    ['Australia/Lord_Howe', '2026-04-05'],
  ])('every 15 minutes in %s on %s: consecutive fires are 15 real minutes apart', (tz, day) => {
    const fires = forward('*/15 * * * *', tz, `${day}T00:00:00Z`, 4 * 30).map((s) =>
      d(s).getTime(),
    );
    for (let i = 1; i < fires.length; i++) expect(fires[i]! - fires[i - 1]!).toBe(900_000);
  });

  it('data intervals chain without gap or overlap across both Berlin transitions (catchup)', () => {
    for (const expression of ['30 2 * * *', '0 * * * *', '0 2 * * *']) {
      const schedule = parseSchedule(expression, 'Europe/Berlin');
      const runs = chain(
        schedule,
        { startDate: d('2026-03-27T00:00:00Z') },
        expression.startsWith('0 *') ? 60 : 5,
      );
      for (let i = 1; i < runs.length; i++) {
        expect(runs[i]!.dataInterval.start).toEqual(runs[i - 1]!.dataInterval.end);
        expect(runs[i]!.dataInterval.end.getTime()).toBeGreaterThan(
          runs[i]!.dataInterval.start.getTime(),
        );
      }
    }
    const fall = chain(
      parseSchedule('30 2 * * *', 'Europe/Berlin'),
      { startDate: d('2026-10-24T00:00:00Z') },
      3,
    );
    expect(fall.map(iso)).toEqual([
      {
        logicalDate: '2026-10-24T00:30:00.000Z',
        start: '2026-10-24T00:30:00.000Z',
        end: '2026-10-25T00:30:00.000Z',
        runAfter: '2026-10-25T00:30:00.000Z',
      },
      {
        logicalDate: '2026-10-25T00:30:00.000Z',
        start: '2026-10-25T00:30:00.000Z',
        end: '2026-10-26T01:30:00.000Z', // a 25-hour day
        runAfter: '2026-10-26T01:30:00.000Z',
      },
      {
        logicalDate: '2026-10-26T01:30:00.000Z',
        start: '2026-10-26T01:30:00.000Z',
        end: '2026-10-27T01:30:00.000Z',
        runAfter: '2026-10-27T01:30:00.000Z',
      },
    ]);
  });

  it('resolves wall-clock times like Temporal "compatible": gaps shift forward, overlaps take the first', () => {
    const wall = (s: string) => Date.parse(`${s}Z`);
    expect(resolveWallClock(wall('2026-03-29T02:30:00'), 'Europe/Berlin')).toEqual({
      instants: [],
      shifted: d('2026-03-29T01:30:00Z').getTime(),
    });
    expect(resolveWallClock(wall('2026-10-25T02:30:00'), 'Europe/Berlin')).toEqual({
      instants: [d('2026-10-25T00:30:00Z').getTime(), d('2026-10-25T01:30:00Z').getTime()],
      shifted: null,
    });
    expect(wallClockMs(d('2026-10-25T01:30:00Z').getTime(), 'Europe/Berlin')).toBe(
      wall('2026-10-25T02:30:00'),
    );
  });

  it('rejects cron expressions that never fire', () => {
    expect(() => parseSchedule('0 0 30 2 *')).toThrow(ScheduleError);
  });
});
