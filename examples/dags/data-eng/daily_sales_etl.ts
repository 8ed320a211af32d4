/**
 * A daily ETL: extract with a shell command, transform in TypeScript, load, then report.
 * Shows typed dependencies, typed XCom (ctx.pull), templated fields and retries.
 */
import { dag } from '@updraft/sdk';

export default dag(
  {
    id: 'daily_sales_etl',
    team: 'data-eng',
    description: 'Extract yesterday’s sales, aggregate them and load the totals.',
    tags: ['example', 'etl'],
    schedule: '0 2 * * *',
    timezone: 'Europe/Berlin',
    startDate: '2026-01-01',
    catchup: false,
    defaults: { retries: 2, retryDelay: '10s', timeout: '5m' },
  },
  (d) => {
    const extract = d.shell('extract', {
      command:
        'echo "extracting sales for {{ ds }}"; printf \'[{"sku":"a","qty":3},{"sku":"b","qty":5}]\'; echo',
    });
    const transform = d.fn('transform', async (ctx) => {
      const raw = await ctx.pull(extract);
      const rows = JSON.parse(raw ?? '[]') as { sku: string; qty: number }[];
      const total = rows.reduce((sum, r) => sum + r.qty, 0);
      ctx.log(`aggregated ${rows.length} rows for ${ctx.ds}: total ${total}`);
      return { day: ctx.ds, total, skus: rows.length };
    });
    const load = d.fn('load', async (ctx) => {
      const summary = await ctx.pull(transform);
      ctx.log(`loading ${JSON.stringify(summary)} into the warehouse`);
      return { loaded: true, total: summary?.total ?? 0 };
    });
    const report = d.shell('report', {
      command: 'echo "sales report for $UPDRAFT_DS is ready"',
      triggerRule: 'all_done',
    });
    extract.then(transform).then(load).then(report);
  },
);
