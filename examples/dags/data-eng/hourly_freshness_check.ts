/** An hourly check that shows a shell sensor-style probe and the none_failed_min_one_success rule. */
import { dag } from '@updraft/sdk';

export default dag(
  {
    id: 'hourly_freshness_check',
    team: 'data-eng',
    description: 'Check that the upstream tables were refreshed in the last hour.',
    tags: ['example', 'quality'],
    schedule: '@hourly',
    startDate: '2026-01-01',
    maxActiveRuns: 1,
  },
  (d) => {
    const orders = d.shell('check_orders', { command: 'echo "orders table is fresh"' });
    const customers = d.shell('check_customers', { command: 'echo "customers table is fresh"' });
    d.shell('summarize', {
      command:
        'echo "all freshness checks done for {{ data_interval_start }} - {{ data_interval_end }}"',
      upstream: [orders, customers],
      triggerRule: 'none_failed_min_one_success',
    });
  },
);
