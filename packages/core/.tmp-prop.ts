import { CronExpressionParser } from 'cron-parser';
import { manualRunInterval, nextRunInfo, parseSchedule } from './src/schedule.ts';

let bad = 0,
  checked = 0;
for (const tz of [
  'Europe/Berlin',
  'America/New_York',
  'UTC',
  'Australia/Sydney',
  'America/Santiago',
  'Asia/Tehran',
])
  for (const expr of [
    '0 2 * * *',
    '30 1 * * *',
    '30 2 * * *',
    '0 * * * *',
    '*/15 * * * *',
    '0 0 * * 0',
    '0 3 1 * *',
    '0 0 * * *',
    '59 23 * * *',
    '0 1,2,3 * * *',
  ]) {
    for (const from of [
      '2026-03-01T00:00:00Z',
      '2026-10-20T00:00:00Z',
      '2026-03-25T00:00:00Z',
      '2026-04-01T00:00:00Z',
      '2026-09-01T00:00:00Z',
    ]) {
      const s = parseSchedule(expr, tz) as { kind: 'cron'; expression: string; timezone: string };
      let it;
      try {
        it = CronExpressionParser.parse(expr, { currentDate: new Date(from), tz });
      } catch {
        continue;
      }
      const chain: number[] = [];
      try {
        for (let i = 0; i < 400; i++) chain.push(it.next().toDate().getTime());
      } catch {
        console.log('skip', tz, expr);
        continue;
      }
      for (let k = 0; k < 300; k++) {
        const before = chain[5]! + Math.floor(((chain[chain.length - 1]! - chain[5]!) * k) / 300);
        const expected = chain.filter((t) => t <= before).at(-1)!;
        let got, gotStart;
        try {
          got = manualRunInterval(s, new Date(before)).end.getTime();
          gotStart = manualRunInterval(s, new Date(before)).start.getTime();
        } catch (e) {
          bad++;
          console.log('THROW', tz, expr, (e as Error).message);
          continue;
        }
        const expStart = chain[chain.indexOf(expected) - 1]!;
        checked++;
        if (got !== expected || gotStart !== expStart) {
          bad++;
          if (bad < 10)
            console.log(
              'BAD',
              tz,
              expr,
              new Date(before).toISOString(),
              new Date(got).toISOString(),
              new Date(expected).toISOString(),
              new Date(gotStart).toISOString(),
              new Date(expStart).toISOString(),
            );
        }
      }
    }
  }
console.log({ checked, bad });
const t0 = performance.now();
const s = parseSchedule('* * * * *', 'Europe/Berlin');
for (let i = 0; i < 100; i++)
  nextRunInfo(s, {
    startDate: new Date('2026-01-01T00:00:00Z'),
    endDate: null,
    catchup: false,
    lastInterval: null,
    now: new Date(1767225600000 + i * 7_000_000),
  });
console.log('ms per nextRunInfo (every minute, catchup=false)', (performance.now() - t0) / 100);
