/**
 * Timetables: what decides when a DAG runs, behind one interface (Airflow's Timetable). The
 * built-in ones cover schedule strings (cron with data intervals, fixed intervals, @once, none),
 * cron in trigger style (Airflow's CronTriggerTimetable) and a list of events; a deployment
 * registers its own by name (like Airflow's timetable plugins) and a DAG refers to it as
 * `timetable: { name, params }`.
 *
 * A timetable is pure: given the last scheduled interval, the DAG's restrictions (start date, end
 * date, catchup) and now, it says which run comes next. The scheduler, the DAG processor and
 * backfills all go through it.
 */
import { z } from 'zod';
import type { DagSpec } from './dag.ts';
import { type DurationInput, parseDuration } from './duration.ts';
import {
  cronAlignDown,
  cronAlignUp,
  cronNext,
  type DataInterval,
  describeSchedule,
  manualRunInterval,
  type NextRunInfo,
  nextRunInfo,
  parseSchedule,
  type Schedule,
  ScheduleError,
} from './schedule.ts';

export type { DataInterval, NextRunInfo } from './schedule.ts';

/** A DAG's reference to a timetable, as stored in its spec. */
export const timetableRefSchema = z.strictObject({
  name: z
    .string()
    .regex(
      /^[A-Za-z0-9_.-]{1,100}$/,
      'timetable name must be 1-100 letters, digits, "_", "-" or "."',
    ),
  params: z.record(z.string(), z.unknown()).default({}),
});
export type TimetableRef = z.infer<typeof timetableRefSchema>;

export interface TimetableRestriction {
  /** The DAG's start date: nothing is scheduled before it. */
  earliest: Date | null;
  /** The DAG's end date: no run whose logical date is after it. */
  latest: Date | null;
  catchup: boolean;
}

export interface Timetable {
  /** Registered name ("cron", "cron_trigger", "delta", "once", "events", "none", or custom). */
  readonly name: string;
  /** Human description for the API, UI and CLI. */
  readonly summary: string;
  /** False for "none": it never schedules and cannot be backfilled. */
  readonly canSchedule: boolean;
  /** The next automated run after `last` (the latest scheduled or backfill interval), or null. */
  nextRunInfo(args: {
    last: DataInterval | null;
    restriction: TimetableRestriction;
    now: Date;
  }): NextRunInfo | null;
  /** The data interval of a manual run triggered at `runAfter`. */
  manualRunInterval(runAfter: Date): DataInterval;
}

export interface TimetableContext {
  /** The DAG's schedule string, if any (the cron of the built-in cron timetables). */
  schedule: string | null;
  timezone: string;
}

/** Builds a timetable from a DAG's params; throws (ScheduleError or any Error) on bad params. */
export type TimetableFactory = (
  params: Record<string, unknown>,
  ctx: TimetableContext,
) => Timetable;

export class TimetableError extends ScheduleError {}

/** Timetables by name. A deployment makes one, registers its own, and hands it to the engine. */
export class TimetableRegistry {
  readonly #factories = new Map<string, TimetableFactory>();

  /** A registry holding the built-in timetables. */
  static withBuiltins(): TimetableRegistry {
    const r = new TimetableRegistry();
    for (const [name, factory] of Object.entries(BUILTIN_FACTORIES)) r.register(name, factory);
    return r;
  }

  register(name: string, factory: TimetableFactory): this {
    if (!timetableRefSchema.shape.name.safeParse(name).success) {
      throw new TimetableError(`invalid timetable name "${name}"`);
    }
    this.#factories.set(name, factory);
    return this;
  }

  has(name: string): boolean {
    return this.#factories.has(name);
  }

  names(): string[] {
    return [...this.#factories.keys()].sort();
  }

  /** Builds the timetable a DAG refers to; TimetableError names the problem. */
  create(ref: TimetableRef, ctx: TimetableContext): Timetable {
    const factory = this.#factories.get(ref.name);
    if (!factory) {
      throw new TimetableError(
        `unknown timetable "${ref.name}"; registered timetables: ${this.names().join(', ')}`,
      );
    }
    try {
      return factory(ref.params ?? {}, ctx);
    } catch (error) {
      throw new TimetableError(`timetable "${ref.name}": ${(error as Error).message}`);
    }
  }
}

type TimetableSpec = Pick<DagSpec, 'schedule' | 'timezone'> & {
  timetable?: TimetableRef | null | undefined;
};

/**
 * The timetable of a DAG: its `timetable` reference, or else the built-in one its schedule string
 * names. Throws TimetableError for an unknown name or bad params.
 */
export function timetableOf(
  spec: TimetableSpec,
  registry: TimetableRegistry = builtinTimetables(),
): Timetable {
  const ctx = { schedule: spec.schedule ?? null, timezone: spec.timezone };
  if (spec.timetable) return registry.create(spec.timetable, ctx);
  return fromSchedule(parseSchedule(spec.schedule, spec.timezone));
}

export function restrictionOf(
  spec: Pick<DagSpec, 'startDate' | 'endDate' | 'catchup'>,
): TimetableRestriction {
  return {
    earliest: spec.startDate ? new Date(spec.startDate) : null,
    latest: spec.endDate ? new Date(spec.endDate) : null,
    catchup: spec.catchup,
  };
}

/** The next automated run of a DAG after its last scheduled interval. */
export function nextRunForSpec(
  spec: TimetableSpec & Pick<DagSpec, 'startDate' | 'endDate' | 'catchup'>,
  last: DataInterval | null,
  now: Date,
  registry: TimetableRegistry = builtinTimetables(),
): NextRunInfo | null {
  return timetableOf(spec, registry).nextRunInfo({ last, restriction: restrictionOf(spec), now });
}

/**
 * Every run a timetable schedules with a logical date in [from, to] (a backfill's intervals),
 * oldest first. Throws when there are more than `limit`.
 */
export function runInfosBetween(
  timetable: Timetable,
  from: Date,
  to: Date,
  limit = 10_000,
): NextRunInfo[] {
  const out: NextRunInfo[] = [];
  const restriction: TimetableRestriction = { earliest: from, latest: to, catchup: true };
  let last: DataInterval | null = null;
  let prev: Date | null = null;
  // "now" far in the future: a backfill may cover intervals that have not ended yet only if the
  // caller asks for them; runs are created regardless of now.
  const now = new Date(8.64e15);
  for (;;) {
    const info = timetable.nextRunInfo({ last, restriction, now });
    if (!info || info.logicalDate.getTime() > to.getTime()) break;
    if (prev && info.logicalDate.getTime() <= prev.getTime()) {
      throw new TimetableError(
        `timetable "${timetable.name}" did not advance after ${prev.toISOString()}`,
      );
    }
    prev = info.logicalDate;
    if (info.logicalDate.getTime() >= from.getTime()) out.push(info);
    if (out.length > limit) {
      throw new TimetableError(
        `more than ${limit} runs between ${from.toISOString()} and ${to.toISOString()}`,
      );
    }
    last = info.dataInterval;
  }
  return out;
}

function fromSchedule(schedule: Schedule): Timetable {
  const names = { none: 'none', once: 'once', cron: 'cron', interval: 'delta' } as const;
  return {
    name: names[schedule.kind],
    summary: describeSchedule(schedule),
    canSchedule: schedule.kind !== 'none',
    nextRunInfo: ({ last, restriction, now }) =>
      nextRunInfo(schedule, {
        startDate: restriction.earliest,
        endDate: restriction.latest,
        catchup: restriction.catchup,
        lastInterval: last,
        now,
      }),
    manualRunInterval: (at) => manualRunInterval(schedule, at),
  };
}

const max = (dates: Date[]): Date => new Date(Math.max(...dates.map((d) => d.getTime())));

const durationParam = z.number().int().min(0);

/**
 * Cron in trigger style (Airflow's CronTriggerTimetable): a run fires at each cron time; its
 * logical date is the fire time and its data interval is [fire - interval, fire] (zero-length by
 * default). With catchup off, the most recent fire time that has passed runs, then every later one.
 */
export function cronTriggerTimetable(cron: string, timezone: string, intervalMs = 0): Timetable {
  const schedule = parseSchedule(cron, timezone);
  if (schedule.kind !== 'cron') {
    throw new TimetableError(
      `trigger-style schedules need a cron expression or preset, not "${cron}"`,
    );
  }
  const interval = (fire: Date): DataInterval => ({
    start: new Date(fire.getTime() - intervalMs),
    end: fire,
  });
  return {
    name: 'cron_trigger',
    summary: `cron "${schedule.expression}" (${timezone}), trigger style${intervalMs ? `, interval ${intervalMs / 1000}s` : ''}`,
    canSchedule: true,
    nextRunInfo({ last, restriction, now }) {
      let fire: Date;
      if (restriction.catchup) {
        if (last) fire = cronNext(schedule, last.end);
        else if (restriction.earliest) fire = cronAlignUp(schedule, restriction.earliest);
        else fire = cronAlignDown(schedule, now);
      } else {
        const candidates = [cronAlignDown(schedule, now)];
        if (last) candidates.push(cronNext(schedule, last.end));
        if (restriction.earliest) candidates.push(cronAlignUp(schedule, restriction.earliest));
        fire = max(candidates);
      }
      if (restriction.latest && fire.getTime() > restriction.latest.getTime()) return null;
      return { logicalDate: fire, dataInterval: interval(fire), runAfter: fire };
    },
    // A manual run's logical date is when it was triggered (Airflow 3).
    manualRunInterval: (at) => interval(at),
  };
}

/**
 * Runs at a fixed list of instants (Airflow's EventsTimetable): logical date = run_after = the
 * event, zero-length data interval. With catchup off, past events other than the latest are
 * skipped.
 */
export function eventsTimetable(dates: readonly (string | Date)[]): Timetable {
  const events = [...new Set(dates.map((d) => new Date(d).getTime()))].sort((a, b) => a - b);
  const bad = dates.find((d) => Number.isNaN(new Date(d).getTime()));
  if (bad !== undefined)
    throw new TimetableError(`events: "${String(bad)}" is not an ISO-8601 date`);
  if (events.length === 0) throw new TimetableError('events: give at least one date');
  return {
    name: 'events',
    summary: `${events.length} events`,
    canSchedule: true,
    nextRunInfo({ last, restriction, now }) {
      let floor = Number.NEGATIVE_INFINITY;
      if (last) floor = Math.max(floor, last.end.getTime() + 1);
      if (restriction.earliest) floor = Math.max(floor, restriction.earliest.getTime());
      if (!restriction.catchup) {
        const passed = events.filter((e) => e <= now.getTime());
        if (passed.length > 0) floor = Math.max(floor, passed[passed.length - 1]!);
      }
      const next = events.find((e) => e >= floor);
      if (next === undefined) return null;
      if (restriction.latest && next > restriction.latest.getTime()) return null;
      const at = new Date(next);
      return { logicalDate: at, dataInterval: { start: at, end: at }, runAfter: at };
    },
    manualRunInterval: (at) => ({ start: at, end: at }),
  };
}

const cronParams = z.strictObject({ cron: z.string().optional() });
const cronTriggerParams = z.strictObject({
  cron: z.string().optional(),
  /** Data interval length before the fire time, in ms (default 0). */
  intervalMs: durationParam.optional(),
});
const deltaParams = z.strictObject({ everyMs: z.number().int().min(1000).optional() });
const eventsParams = z.strictObject({ dates: z.array(z.string()).min(1) });
const noParams = z.strictObject({});

function parseParams<T>(schema: z.ZodType<T>, params: Record<string, unknown>): T {
  const parsed = schema.safeParse(params);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TimetableError(
      `params${issue.path.length ? `.${issue.path.join('.')}` : ''}: ${issue.message}`,
    );
  }
  return parsed.data;
}

function cronOf(params: { cron?: string | undefined }, ctx: TimetableContext): string {
  const cron = params.cron ?? ctx.schedule;
  if (!cron) throw new TimetableError('needs a cron expression (params.cron or the DAG schedule)');
  return cron;
}

const BUILTIN_FACTORIES: Record<string, TimetableFactory> = {
  none: (params) => {
    parseParams(noParams, params);
    return fromSchedule({ kind: 'none' });
  },
  once: (params) => {
    parseParams(noParams, params);
    return fromSchedule({ kind: 'once' });
  },
  cron: (params, ctx) => {
    const p = parseParams(cronParams, params);
    const schedule = parseSchedule(cronOf(p, ctx), ctx.timezone);
    if (schedule.kind !== 'cron')
      throw new TimetableError('cron: needs a cron expression or preset');
    return fromSchedule(schedule);
  },
  cron_trigger: (params, ctx) => {
    const p = parseParams(cronTriggerParams, params);
    return cronTriggerTimetable(cronOf(p, ctx), ctx.timezone, p.intervalMs ?? 0);
  },
  delta: (params, ctx) => {
    const p = parseParams(deltaParams, params);
    if (p.everyMs) return fromSchedule({ kind: 'interval', everyMs: p.everyMs });
    const schedule = parseSchedule(ctx.schedule, ctx.timezone);
    if (schedule.kind !== 'interval')
      throw new TimetableError('delta: needs params.everyMs or an interval schedule such as "15m"');
    return fromSchedule(schedule);
  },
  events: (params) => eventsTimetable(parseParams(eventsParams, params).dates),
};

/** Whether a spec schedules runs at all (false: manual runs only). */
export function isScheduled(spec: TimetableSpec): boolean {
  if (spec.timetable) return spec.timetable.name !== 'none';
  return !(spec.schedule == null || spec.schedule === 'none' || spec.schedule === '@none');
}

/** A registry of the built-in timetables only (what DAG validation can check without a deployment's). */
export function builtinTimetables(): TimetableRegistry {
  return TimetableRegistry.withBuiltins();
}

/** How a DAG file writes its schedule (SDK and YAML). */
export type ScheduleInput =
  | string
  | null
  | {
      /** Cron expression or preset. */
      cron: string;
      /**
       * 'data_interval' (default): a run covers [fire, next fire) and starts at its end;
       * 'trigger': a run starts at the fire time, whose logical date it is (Airflow 3's default).
       */
      style?: 'data_interval' | 'trigger';
      /** Trigger style only: the data interval ends at the fire time and is this long ("1h"). */
      interval?: DurationInput;
    };

export interface TimetableInput {
  name: string;
  params?: Record<string, unknown>;
}

export const scheduleInputSchema = z.union([
  z.string(),
  z.null(),
  z.strictObject({
    cron: z.string(),
    style: z.enum(['data_interval', 'trigger']).optional(),
    interval: z.union([z.string(), z.number()]).optional(),
  }),
]);

/**
 * The spec fields (`schedule`, `timetable`) for what a DAG file wrote. Throws TimetableError with
 * the field name in `field`.
 */
export function scheduleFields(
  schedule: ScheduleInput | undefined,
  timetable: TimetableInput | undefined,
): { schedule: string | null; timetable: TimetableRef | null } {
  if (timetable) {
    if (schedule && typeof schedule !== 'string') {
      throw Object.assign(
        new TimetableError('give either a schedule object or a timetable, not both'),
        { field: 'timetable' },
      );
    }
    return {
      schedule: schedule ?? null,
      timetable: { name: timetable.name, params: timetable.params ?? {} },
    };
  }
  if (schedule == null || typeof schedule === 'string') {
    return { schedule: schedule ?? null, timetable: null };
  }
  if ((schedule.style ?? 'data_interval') === 'data_interval') {
    if (schedule.interval !== undefined) {
      throw Object.assign(
        new TimetableError('"interval" applies to trigger-style schedules only'),
        { field: 'schedule.interval' },
      );
    }
    return { schedule: schedule.cron, timetable: null };
  }
  let intervalMs = 0;
  if (schedule.interval !== undefined) {
    try {
      intervalMs = parseDuration(schedule.interval);
    } catch (error) {
      throw Object.assign(new TimetableError((error as Error).message), {
        field: 'schedule.interval',
      });
    }
  }
  return {
    schedule: schedule.cron,
    timetable: { name: 'cron_trigger', params: intervalMs ? { intervalMs } : {} },
  };
}

/**
 * Latest-only (Airflow 3's LatestOnlyOperator): a run is "latest" when now is within
 * [its data interval end, the fire time of the run after it]. Manual runs and runs of DAGs
 * without a schedule always count as latest; so does a run with no run after it.
 */
export function latestOnlyDecision(
  timetable: Timetable,
  run: { runType: string; dataIntervalStart: Date; dataIntervalEnd: Date },
  now: Date,
): { latest: boolean; reason: string } {
  if (run.runType === 'manual') return { latest: true, reason: 'manual runs are never skipped' };
  if (!timetable.canSchedule) {
    return { latest: true, reason: 'the DAG has no schedule' };
  }
  const next = timetable.nextRunInfo({
    last: { start: run.dataIntervalStart, end: run.dataIntervalEnd },
    restriction: { earliest: null, latest: null, catchup: true },
    now,
  });
  if (!next) return { latest: true, reason: 'no run comes after this one' };
  const left = run.dataIntervalEnd;
  const right = next.runAfter;
  const latest = left.getTime() <= now.getTime() && now.getTime() <= right.getTime();
  const window = `[${left.toISOString()}, ${right.toISOString()}]`;
  return {
    latest,
    reason: latest
      ? `now (${now.toISOString()}) is within ${window}: this is the latest run`
      : `now (${now.toISOString()}) is outside ${window}: not the latest run, skipping direct downstream tasks`,
  };
}

/** A DAG's schedule in words (its timetable's summary), for lists in the CLI and UI. */
export function describeTimetable(spec: TimetableSpec, registry?: TimetableRegistry): string {
  try {
    return timetableOf(spec, registry).summary;
  } catch {
    return spec.timetable ? `timetable "${spec.timetable.name}"` : 'invalid schedule';
  }
}
