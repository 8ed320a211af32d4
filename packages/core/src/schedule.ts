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

/**
 * The dates a run may have (logical date, backfill range): four-digit years. Earlier ones break
 * schedules (no cron fire before year 1) and the timestamp text of years below 100 reads back as
 * 19xx/20xx in JavaScript; nobody's data is that old.
 */
export const EARLIEST_RUN_DATE = new Date('1000-01-01T00:00:00Z');
export const LATEST_RUN_DATE = new Date('9999-12-31T23:59:59.999Z');

/** Why a run may not have this date (naming `what`), or null. */
export function runDateProblem(date: Date, what: string): string | null {
  if (Number.isNaN(date.getTime())) return `${what} is not a valid date`;
  if (date < EARLIEST_RUN_DATE || date > LATEST_RUN_DATE)
    return `${what} ${date.toISOString()} is outside the supported range, years 1000 to 9999`;
  return null;
}

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
    // Parse and find one fire time in wall-clock terms: "0 0 30 2 *" never fires.
    CronExpressionParser.parse(text, { tz: 'UTC', strict: false }).next();
  } catch (error) {
    throw new ScheduleError(`invalid cron expression "${text}": ${(error as Error).message}`);
  }
  return { kind: 'cron', expression: text, timezone };
}

// ---------------------------------------------------------------------------------------------
// Cron in local time, DST-correct.
//
// cron-parser walks the expression in wall-clock time; we let it do so in UTC (where wall clock and
// absolute time agree and there is no DST), and map each matching local wall time to instants
// ourselves. The rules (Vixie cron's, and Airflow's through pendulum):
//  - a wall time that does not exist (spring forward gap) fires once, shifted forward by the gap:
//    02:30 in Europe/Berlin on the last Sunday of March fires at 03:30 CEST (01:30 UTC, the instant
//    02:30 CET would have been). This is JavaScript Temporal's `disambiguation: 'compatible'`.
//  - a wall time that occurs twice (fall back) fires once, at its first occurrence, when the hour
//    field is restricted ("30 2 * * *"). When the hour field is "*" ("0 * * * *", "*/15 * * * *")
//    the schedule follows real time: both occurrences fire, so no real hour is doubled or skipped.
//  - fire times are a set: two wall times mapping to the same instant fire once.
// ---------------------------------------------------------------------------------------------

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Largest DST shift we must look around (real ones are 30 min to 2 h). */
const DST_SLACK = 3 * HOUR;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterOf(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timezone, f);
  }
  return f;
}

/** The local wall-clock time of an instant, as milliseconds of a "naive" UTC date. */
export function wallClockMs(instantMs: number, timezone: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatterOf(timezone).formatToParts(new Date(instantMs))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const ms = ((instantMs % 1000) + 1000) % 1000;
  return (
    Date.UTC(
      parts.year!,
      parts.month! - 1,
      parts.day!,
      parts.hour! % 24,
      parts.minute!,
      parts.second!,
    ) + ms
  );
}

function offsetMs(instantMs: number, timezone: string): number {
  return wallClockMs(instantMs, timezone) - instantMs;
}

/**
 * The instants whose local wall clock reads `wallMs`: one normally, two (earlier first) in a
 * fall-back overlap, none in a spring-forward gap (then `shifted` is the instant after the gap,
 * the wall time read with the offset before the transition).
 */
export function resolveWallClock(
  wallMs: number,
  timezone: string,
): { instants: number[]; shifted: number | null } {
  const offsets = new Set([
    offsetMs(wallMs - DAY, timezone),
    offsetMs(wallMs, timezone),
    offsetMs(wallMs + DAY, timezone),
  ]);
  const instants = [...offsets]
    .map((o) => wallMs - o)
    .filter((t) => wallClockMs(t, timezone) === wallMs)
    .sort((a, b) => a - b);
  const unique = instants.filter((t, i) => i === 0 || t !== instants[i - 1]);
  if (unique.length > 0) return { instants: unique, shifted: null };
  return { instants: [], shifted: wallMs - Math.min(...offsets) };
}

/** True when the UTC offset changes within a few hours of `t`. */
function nearTransition(t: number, timezone: string): boolean {
  const o = offsetMs(t, timezone);
  return (
    offsetMs(t - DST_SLACK - HOUR, timezone) !== o || offsetMs(t + DST_SLACK + HOUR, timezone) !== o
  );
}

export interface CronSpec {
  expression: string;
  timezone: string;
}

const followsRealTime = new Map<string, boolean>();

/** Hour field "*": the schedule follows real time across DST instead of the wall clock. */
function hourWildcard(expression: string): boolean {
  let v = followsRealTime.get(expression);
  if (v === undefined) {
    v = CronExpressionParser.parse(expression, { tz: 'UTC' }).fields.hour.values.length === 24;
    followsRealTime.set(expression, v);
  }
  return v;
}

/** The instants a matching wall time fires at (see the rules above). */
function firesOf(cron: CronSpec, wallMs: number, realTime: boolean): number[] {
  if (cron.timezone === 'UTC') return [wallMs];
  const { instants, shifted } = resolveWallClock(wallMs, cron.timezone);
  if (shifted !== null) return [shifted];
  return realTime ? instants : instants.slice(0, 1);
}

function wallIterator(cron: CronSpec, fromWallMs: number) {
  return CronExpressionParser.parse(cron.expression, {
    currentDate: new Date(fromWallMs),
    tz: 'UTC',
  });
}

/** First fire time strictly after `after`. */
export function cronNext(cron: CronSpec, after: Date): Date {
  const afterMs = after.getTime();
  const realTime = hourWildcard(cron.expression);
  const slack = cron.timezone !== 'UTC' && nearTransition(afterMs, cron.timezone) ? DST_SLACK : 0;
  const walls = wallIterator(cron, wallClockMs(afterMs, cron.timezone) - slack - 60_000);
  let best: number | null = null;
  let stopAt = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 100_000; i++) {
    const w = walls.next().getTime();
    if (w > stopAt) break;
    for (const t of firesOf(cron, w, realTime)) {
      if (t > afterMs && (best === null || t < best)) best = t;
    }
    if (best !== null && stopAt === Number.POSITIVE_INFINITY) {
      stopAt = w + (cron.timezone !== 'UTC' && nearTransition(best, cron.timezone) ? DST_SLACK : 0);
    }
  }
  if (best === null)
    throw new ScheduleError(
      `cron "${cron.expression}" has no fire time after ${after.toISOString()}`,
    );
  return new Date(best);
}

/** Last fire time strictly before `before`. */
export function cronPrev(cron: CronSpec, before: Date): Date {
  const beforeMs = before.getTime();
  const realTime = hourWildcard(cron.expression);
  const slack = cron.timezone !== 'UTC' && nearTransition(beforeMs, cron.timezone) ? DST_SLACK : 0;
  const walls = wallIterator(cron, wallClockMs(beforeMs, cron.timezone) + slack + 60_000);
  let best: number | null = null;
  let stopAt = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < 100_000; i++) {
    const w = walls.prev().getTime();
    if (w < stopAt) break;
    for (const t of firesOf(cron, w, realTime)) {
      if (t < beforeMs && (best === null || t > best)) best = t;
    }
    if (best !== null && stopAt === Number.NEGATIVE_INFINITY) {
      stopAt = w - (cron.timezone !== 'UTC' && nearTransition(best, cron.timezone) ? DST_SLACK : 0);
    }
  }
  if (best === null)
    throw new ScheduleError(
      `cron "${cron.expression}" has no fire time before ${before.toISOString()}`,
    );
  return new Date(best);
}

/** First fire time at or after `at`. */
export function cronAlignUp(cron: CronSpec, at: Date): Date {
  return cronNext(cron, new Date(at.getTime() - 1));
}

/** Last fire time at or before `at`. */
export function cronAlignDown(cron: CronSpec, at: Date): Date {
  return cronPrev(cron, new Date(at.getTime() + 1));
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
      // No start date: the latest interval that has ended, as Airflow does (not the one in
      // progress, which would leave a new DAG without a run until the next boundary).
      else start = cronPrev(schedule, cronAlignDown(schedule, opts.now));
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
