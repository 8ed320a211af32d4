/**
 * Schedules and Airflow's data-interval semantics, as pure functions of (schedule, dates, now).
 *
 * A scheduled run covers a data interval [start, end). It is created once the interval has ended
 * (run_after = end) and its logical date is the interval start. Cron schedules are evaluated in
 * the DAG's IANA timezone, so "0 2 * * *" in Europe/Berlin stays at 02:00 local across DST.
 */
import { CronExpressionParser } from 'cron-parser';
import { parseDuration } from './duration.ts';

export const SCHEDULE_PRESETS = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
} as const;

export type Schedule =
  | { kind: 'none' }
  | { kind: 'once' }
  | { kind: 'cron'; expression: string; timezone: string }
  | { kind: 'interval'; everyMs: number };

export interface DataInterval {
  start: Date;
  end: Date;
}

export interface NextRunInfo {
  logicalDate: Date;
  dataInterval: DataInterval;
  /** The run may be created at or after this instant. */
  runAfter: Date;
}

export class ScheduleError extends Error {}

export function isValidTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses a schedule as written in a DAG: null/"none" (manual only), "@once", a preset, a 5-field
 * cron expression, or a fixed interval such as "15m". Throws ScheduleError naming the problem.
 */
export function parseSchedule(input: string | null | undefined, timezone = 'UTC'): Schedule {
  if (input == null || input === 'none' || input === '@none') return { kind: 'none' };
  const text = input.trim();
  if (text === '@once') return { kind: 'once' };
  if (!isValidTimezone(timezone)) {
    throw new ScheduleError(
      `unknown timezone "${timezone}"; use an IANA name like "Europe/Berlin"`,
    );
  }
  if (text.startsWith('@')) {
    const expression = SCHEDULE_PRESETS[text as keyof typeof SCHEDULE_PRESETS];
    if (!expression) {
      throw new ScheduleError(
        `unknown schedule preset "${text}"; known presets: ${[...Object.keys(SCHEDULE_PRESETS), '@once'].join(', ')}`,
      );
    }
    return { kind: 'cron', expression, timezone };
  }
  if (/^\d/.test(text) && !/\s/.test(text)) {
    let everyMs: number;
    try {
      everyMs = parseDuration(text);
    } catch (error) {
      throw new ScheduleError((error as Error).message);
    }
    if (everyMs < 1000) throw new ScheduleError(`schedule interval "${text}" is shorter than 1s`);
    return { kind: 'interval', everyMs };
  }
  const fields = text.split(/\s+/);
  if (fields.length !== 5) {
    throw new ScheduleError(
      `cron expression "${text}" has ${fields.length} fields; Updraft uses 5 (minute hour day-of-month month day-of-week)`,
    );
  }
  try {
    CronExpressionParser.parse(text, { tz: timezone, strict: false });
  } catch (error) {
    throw new ScheduleError(`invalid cron expression "${text}": ${(error as Error).message}`);
  }
  return { kind: 'cron', expression: text, timezone };
}

/** First fire time strictly after `after`. */
function cronNext(schedule: { expression: string; timezone: string }, after: Date): Date {
  return CronExpressionParser.parse(schedule.expression, {
    currentDate: after,
    tz: schedule.timezone,
  })
    .next()
    .toDate();
}

/**
 * Last fire time strictly before `before`, as the sequence of cronNext sees it. cron-parser's own
 * prev() disagrees with next() across DST: it skips a fire that next() moves out of a
 * spring-forward gap (02:00 → 03:00) and returns both passes of a repeated fall-back hour, which
 * skipped or doubled a day. So step back twice (and up to an hour for DST slack), then walk forward.
 */
function cronPrev(schedule: { expression: string; timezone: string }, before: Date): Date {
  const back = CronExpressionParser.parse(schedule.expression, {
    currentDate: before,
    tz: schedule.timezone,
  });
  back.prev();
  const twoBack = back.prev().toDate().getTime();
  const anchor = new Date(twoBack - Math.min(3_600_000, before.getTime() - twoBack));
  const forward = CronExpressionParser.parse(schedule.expression, {
    currentDate: anchor,
    tz: schedule.timezone,
  });
  let last = forward.next().toDate();
  for (
    let next = forward.next().toDate();
    next.getTime() < before.getTime();
    next = forward.next().toDate()
  ) {
    last = next;
  }
  return last;
}

/** First fire time at or after `at`. */
function cronAlignUp(schedule: { expression: string; timezone: string }, at: Date): Date {
  return cronNext(schedule, new Date(at.getTime() - 1));
}

/** Last fire time at or before `at`. */
function cronAlignDown(schedule: { expression: string; timezone: string }, at: Date): Date {
  return cronPrev(schedule, new Date(at.getTime() + 1));
}

export interface NextRunOptions {
  startDate: Date | null;
  endDate: Date | null;
  catchup: boolean;
  /** Data interval of the latest scheduled (not manual) run, if any. */
  lastInterval: DataInterval | null;
  now: Date;
}

/**
 * The next scheduled run after `lastInterval`, following Airflow's timetables: with catchup every
 * interval since the start date gets a run; without it, scheduling skips ahead to the latest
 * interval that has already ended. Returns null when nothing more will ever be scheduled.
 */
export function nextRunInfo(schedule: Schedule, opts: NextRunOptions): NextRunInfo | null {
  const info = nextRunInfoUnbounded(schedule, opts);
  if (!info) return null;
  if (opts.endDate && info.dataInterval.start.getTime() > opts.endDate.getTime()) return null;
  return info;
}

function nextRunInfoUnbounded(schedule: Schedule, opts: NextRunOptions): NextRunInfo | null {
  switch (schedule.kind) {
    case 'none':
      return null;
    case 'once': {
      if (opts.lastInterval || !opts.startDate) return null;
      const at = opts.startDate;
      return { logicalDate: at, dataInterval: { start: at, end: at }, runAfter: at };
    }
    case 'cron': {
      let start: Date;
      if (opts.lastInterval) start = cronAlignUp(schedule, opts.lastInterval.end);
      else if (opts.startDate) start = cronAlignUp(schedule, opts.startDate);
      else start = cronAlignDown(schedule, opts.now);
      if (!opts.catchup) {
        // Skip to the latest interval that has fully ended by now.
        const latestEnd = cronAlignDown(schedule, opts.now);
        const latestStart = cronPrev(schedule, latestEnd);
        if (latestStart.getTime() > start.getTime()) start = latestStart;
      }
      const end = cronNext(schedule, start);
      return { logicalDate: start, dataInterval: { start, end }, runAfter: end };
    }
    case 'interval': {
      const every = schedule.everyMs;
      let start: Date;
      if (opts.lastInterval) start = opts.lastInterval.end;
      else if (opts.startDate) start = opts.startDate;
      else start = new Date(opts.now.getTime() - every);
      if (!opts.catchup) {
        const anchor = opts.startDate?.getTime() ?? start.getTime();
        const elapsed = Math.floor((opts.now.getTime() - anchor) / every);
        const latestStart = anchor + (elapsed - 1) * every;
        if (latestStart > start.getTime()) start = new Date(latestStart);
      }
      const end = new Date(start.getTime() + every);
      return { logicalDate: start, dataInterval: { start, end }, runAfter: end };
    }
  }
}

/**
 * Data interval recorded on a manual run triggered at `at`: the latest interval that has ended by
 * then, as Airflow does; for unscheduled DAGs an empty interval at the trigger time.
 */
export function manualRunInterval(schedule: Schedule, at: Date): DataInterval {
  switch (schedule.kind) {
    case 'cron': {
      const end = cronAlignDown(schedule, at);
      return { start: cronPrev(schedule, end), end };
    }
    case 'interval':
      return { start: new Date(at.getTime() - schedule.everyMs), end: at };
    case 'once':
    case 'none':
      return { start: at, end: at };
  }
}

/** Human description used by the API and UI. */
export function describeSchedule(schedule: Schedule): string {
  switch (schedule.kind) {
    case 'none':
      return 'manual only';
    case 'once':
      return 'once';
    case 'cron':
      return `cron "${schedule.expression}" (${schedule.timezone})`;
    case 'interval':
      return `every ${schedule.everyMs / 1000}s`;
  }
}
