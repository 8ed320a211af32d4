/**
 * Refreshes the warehouse's regional partitions once the upstream export has landed.
 * Shows a reschedule-mode sensor (holds no worker slot while it waits), a mapped task (one
 * instance per region, known only at run time), a pool shared with other DAGs (`warehouse`, two
 * slots, declared in teams.yaml) and a branch with a join.
 */
import { dag, param } from '@updraft/sdk';

export default dag(
  {
    id: 'warehouse_refresh',
    team: 'data-eng',
    description: 'Wait for the export, load each region into the warehouse, then report.',
    tags: ['example', 'warehouse'],
    schedule: '30 3 * * *',
    timezone: 'Europe/Berlin',
    startDate: '2026-01-01',
    params: {
      regions: param({ type: 'array', default: ['eu', 'us', 'apac'] }),
      fullReportAbove: param({ type: 'integer', minimum: 0, default: 1000 }),
    },
    defaults: { retries: 1, retryDelay: '5s' },
  },
  (d) => {
    // Stands in for an export owned by another system that lands about two seconds after the run
    // starts: each check frees the worker slot and the task waits up_for_reschedule in between.
    const exported = d.sensor.check(
      'wait_for_export',
      (ctx) => Date.now() >= ctx.logicalDate.getTime() + 2_000,
      { mode: 'reschedule', pokeInterval: '500ms', timeout: '1h' },
    );

    const regions = d.fn('list_regions', (ctx) => ctx.params.regions as string[]);
    exported.then(regions);

    // One instance per region; at most two run at once, whichever DAGs use the warehouse pool.
    const loaded = d.map(
      'load_region',
      regions,
      async (ctx) => {
        ctx.log(`loading region ${ctx.item} for ${ctx.ds}`);
        await new Promise((resolve) => setTimeout(resolve, 300));
        return { region: ctx.item, rows: 100 * (ctx.mapIndex + 1) };
      },
      { pool: 'warehouse' },
    );

    const choose = d.branch(
      'choose_report',
      async (ctx) => {
        const results = (await ctx.pull(loaded)) ?? [];
        const rows = results.reduce((sum, r) => sum + r.rows, 0);
        return rows > Number(ctx.params.fullReportAbove) ? 'full_report' : 'summary_report';
      },
      { upstream: [loaded] },
    );
    const full = d.shell('full_report', { command: 'echo "full report for {{ ds }}"' });
    const summary = d.shell('summary_report', { command: 'echo "summary for {{ ds }}"' });
    choose.then(full, summary);
    d.shell('publish', {
      command: 'echo "published {{ ds }}"',
      upstream: [full, summary],
      triggerRule: 'none_failed_min_one_success',
    });
  },
);
