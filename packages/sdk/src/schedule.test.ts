/** Schedules, timetables and latest-only as DAG files write them (TypeScript and YAML). */
import { DagValidationError } from '@updraft/core/dag';
import { describe, expect, it } from 'vitest';
import { type DagOptions, dag } from './index.ts';
import { dagFromYaml } from './yaml.ts';

const specOf = (o: Partial<DagOptions>) =>
  dag({ id: 'd', team: 't', ...o }, (d) => {
    d.shell('a', { command: 'true' });
  }).toSpec();

describe('schedule and timetable options', () => {
  it.each<[string, Partial<DagOptions>, { schedule: string | null; timetable: unknown }]>([
    ['none', {}, { schedule: null, timetable: null }],
    [
      'cron string (data intervals)',
      { schedule: '0 6 * * *' },
      { schedule: '0 6 * * *', timetable: null },
    ],
    [
      'cron object, data_interval style',
      { schedule: { cron: '@daily', style: 'data_interval' } },
      { schedule: '@daily', timetable: null },
    ],
    [
      'trigger style',
      { schedule: { cron: '0 6 * * *', style: 'trigger' } },
      { schedule: '0 6 * * *', timetable: { name: 'cron_trigger', params: {} } },
    ],
    [
      'trigger style with an interval',
      { schedule: { cron: '0 6 * * *', style: 'trigger', interval: '1h' } },
      {
        schedule: '0 6 * * *',
        timetable: { name: 'cron_trigger', params: { intervalMs: 3_600_000 } },
      },
    ],
    [
      'a timetable by name',
      { timetable: { name: 'events', params: { dates: ['2026-01-01T00:00:00Z'] } } },
      {
        schedule: null,
        timetable: { name: 'events', params: { dates: ['2026-01-01T00:00:00Z'] } },
      },
    ],
    [
      'a custom timetable (checked against the registry when loaded)',
      { timetable: { name: 'business_days' } },
      { schedule: null, timetable: { name: 'business_days', params: {} } },
    ],
  ])('%s', (_name, o, expected) => {
    const spec = specOf(o);
    expect({ schedule: spec.schedule, timetable: spec.timetable }).toEqual(expected);
  });

  it.each<[string, Partial<DagOptions>, RegExp]>([
    [
      'an interval on a data-interval schedule',
      { schedule: { cron: '@daily', interval: '1h' } },
      /DAG "d": field "schedule.interval": "interval" applies to trigger-style schedules only/,
    ],
    [
      'a bad interval',
      { schedule: { cron: '@daily', style: 'trigger', interval: 'soon' } },
      /field "schedule.interval"/,
    ],
    [
      'a bad trigger cron',
      { schedule: { cron: '15m', style: 'trigger' } },
      /field "timetable": .*trigger-style schedules need a cron expression/,
    ],
    [
      'bad params of a built-in timetable',
      { timetable: { name: 'events', params: { dates: [] } } },
      /field "timetable": timetable "events": params.dates/,
    ],
  ])('refuses %s, naming the field', (_name, o, message) => {
    expect(() => specOf(o)).toThrow(DagValidationError);
    expect(() => specOf(o)).toThrow(message);
  });
});

describe('latestOnly', () => {
  it('is a function task with control latest_only and no function to run', () => {
    const d = dag({ id: 'l', team: 't', schedule: '@daily' }, (d) => {
      d.latestOnly('latest_only').then(d.shell('notify', { command: 'true' }));
    });
    const spec = d.toSpec();
    expect(spec.tasks[0]).toMatchObject({
      taskId: 'latest_only',
      type: 'function',
      config: { control: 'latest_only' },
    });
    expect(d.functionOf('latest_only')).toBeUndefined();
  });

  it('YAML: latestOnly task, trigger-style schedule object and a timetable', () => {
    const d = dagFromYaml(
      `
id: y
team: t
schedule: { cron: "0 6 * * *", style: trigger }
tasks:
  - id: gate
    latestOnly: true
  - id: notify
    upstream: [gate]
    shell: "true"
`,
      'y.yaml',
    );
    const spec = d.toSpec();
    expect(spec.timetable).toEqual({ name: 'cron_trigger', params: {} });
    expect(spec.tasks.map((t) => [t.taskId, t.type, t.config.control ?? null])).toEqual([
      ['gate', 'function', 'latest_only'],
      ['notify', 'shell', null],
    ]);
    const events = dagFromYaml(
      `
id: e
team: t
timetable: { name: events, params: { dates: ["2026-01-01T00:00:00Z"] } }
tasks:
  - id: a
    shell: "true"
`,
      'e.yaml',
    ).toSpec();
    expect(events.timetable).toEqual({
      name: 'events',
      params: { dates: ['2026-01-01T00:00:00Z'] },
    });
  });
});
