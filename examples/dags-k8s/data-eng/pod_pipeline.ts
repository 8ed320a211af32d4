/**
 * Three Kubernetes pods passing results downstream. Each container writes its JSON result to
 * $UPDRAFT_RESULT_PATH (the pod's termination message, at most 4 KiB); a later pod reads it in a
 * templated field as {{ xcom.<task_id>.<field> }}.
 *
 * Runs on any cluster where the team's namespace exists (kind, GKE), and on the test server
 * (@updraft/kube-test-server), which really runs the `busybox` and `node` images' commands as
 * local processes. See "Kubernetes pods" in the README.
 */
import { dag } from '@updraft/sdk';

// The images run as root by default; pods must not (runAsNonRoot is Updraft's default).
const asNobody = { runAsUser: 65534, runAsGroup: 65534 };

export default dag(
  {
    id: 'pod_pipeline',
    team: 'data-eng',
    description: 'Count, double and report, one pod per step.',
    tags: ['example', 'kubernetes'],
    schedule: null,
    defaults: { retries: 1, retryDelay: '5s', timeout: '10m' },
  },
  (d) => {
    const count = d.k8sPod('count', {
      image: 'busybox:1.37',
      command: ['sh', '-c'],
      args: [
        'echo "counting rows for {{ ds }}"; echo \'{"rows": 21, "day": "{{ ds }}"}\' > "$UPDRAFT_RESULT_PATH"',
      ],
      resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '64Mi' } },
      securityContext: asNobody,
      startupTimeout: 120_000,
    });
    const double = d.k8sPod('double', {
      image: 'node:24-alpine',
      command: ['node', '-e'],
      args: [
        `const rows = Number(process.env.ROWS);
console.log('doubling ' + rows + ' rows of ' + process.env.DAY);
require('node:fs').writeFileSync(process.env.UPDRAFT_RESULT_PATH, JSON.stringify({ total: rows * 2 }));`,
      ],
      env: { ROWS: '{{ xcom.count.rows }}', DAY: '{{ xcom.count.day }}' },
      resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } },
      securityContext: asNobody,
      startupTimeout: 120_000,
    });
    const report = d.k8sPod('report', {
      image: 'busybox:1.37',
      command: ['sh', '-c'],
      args: [
        'echo "report for {{ ds }}: {{ xcom.double.total }} rows"; echo \'{"total": {{ xcom.double.total }}}\' > "$UPDRAFT_RESULT_PATH"',
      ],
      securityContext: asNobody,
      startupTimeout: 120_000,
    });
    count.then(double).then(report);
  },
);
