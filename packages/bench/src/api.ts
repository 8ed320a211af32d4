/**
 * W5: the API under load. With 100,000 runs in the database, latency (p50, p99) and requests per
 * second of listing a DAG's runs and listing a run's task instances, driven by autocannon (in its
 * own process) over loopback against the API served in this process.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createApp, serveApp } from '@updraft/api';
import { rowsOf } from '@updraft/db';
import { sql } from 'drizzle-orm';
import { fanOutDag } from './dags.ts';
import { createBenchEnv } from './env.ts';
import type { Reporter } from './report.ts';
import type { Sizes } from './sizes.ts';

const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

interface CannonResult {
  latency: { p50: number; p99: number; average: number };
  requests: { average: number };
  non2xx: number;
  errors: number;
}

function autocannon(url: string, seconds: number, connections: number): Promise<CannonResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [AUTOCANNON, '-j', '-c', String(connections), '-d', String(seconds), url],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 60) * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out) as CannonResult);
      } catch {
        reject(new Error(`autocannon exited ${code}: ${err.slice(-500)}`));
      }
    });
  });
}

export async function apiWorkload(report: Reporter, sizes: Sizes): Promise<void> {
  const env = await createBenchEnv('postgres');
  try {
    const dagId = 'api_dag';
    await env.writeDag(`${dagId}.ts`, fanOutDag(dagId, sizes.apiTasksPerRun, 1));
    await env.processor.sync();
    const { db } = env.db.handle;
    await db.execute(sql`insert into dag_runs (dag_id, run_id, dag_version_id, run_type, state, logical_date,
        data_interval_start, data_interval_end, triggered_by, queued_at, start_date, end_date)
      select d.dag_id, 'manual__' || g, d.latest_version_id, 'manual', 'success', x.ts, x.ts, x.ts, 'bench',
        x.ts, x.ts, x.ts + interval '1 second'
      from dags d, generate_series(1, ${sizes.apiRuns}) g,
        lateral (select timestamptz '2025-01-01' + g * interval '1 minute' as ts) x
      where d.dag_id = ${dagId}`);
    await db.execute(sql`insert into task_instances (dag_run_id, dag_id, run_id, task_id, state, try_number, operator,
        queued_at, start_date, end_date, duration_ms, updated_at)
      select r.id, r.dag_id, r.run_id, 't' || (g - 1), 'success', 1, 'function', r.start_date, r.start_date,
        r.end_date, 1000, r.end_date
      from dag_runs r, generate_series(1, ${sizes.apiTasksPerRun}) g where r.dag_id = ${dagId}`);
    await db.execute(sql`vacuum analyze dag_runs`);
    await db.execute(sql`vacuum analyze task_instances`);
    const [mid] = rowsOf<{ run_id: string }>(
      await db.execute(
        sql`select run_id from dag_runs where dag_id = ${dagId} order by id offset ${Math.floor(sizes.apiRuns / 2)} limit 1`,
      ),
    );
    if (!mid) throw new Error('no runs inserted');
    const app = createApp(env.resources, { component: 'api' });
    const server = await serveApp(app, { port: 0, hostname: '127.0.0.1' });
    try {
      const base = `http://127.0.0.1:${server.port}/api/v1/dags/${dagId}`;
      const targets = [
        { name: 'list runs', url: `${base}/dagRuns` },
        {
          name: "list a run's task instances",
          url: `${base}/dagRuns/${encodeURIComponent(mid.run_id)}/taskInstances`,
        },
      ];
      for (const t of targets) {
        const check = await fetch(t.url);
        if (check.status !== 200)
          throw new Error(`${t.url} answered ${check.status}: ${await check.text()}`);
        await check.arrayBuffer().catch(() => {});
        if (sizes.name !== 'tiny') await autocannon(t.url, 1, sizes.apiConnections); // warm-up
        const r = await autocannon(t.url, sizes.apiSeconds, sizes.apiConnections);
        const params = {
          runs_in_db: sizes.apiRuns,
          connections: sizes.apiConnections,
          seconds: sizes.apiSeconds,
          page: 'default (100)',
          non2xx: r.non2xx,
          errors: r.errors,
        };
        report.add(`W5 API ${t.name}`, 'latency p50', r.latency.p50, 'ms', params);
        report.add(`W5 API ${t.name}`, 'latency p99', r.latency.p99, 'ms', params);
        report.add(`W5 API ${t.name}`, 'requests per second', r.requests.average, '1/s', params);
      }
    } finally {
      await server.close();
    }
  } finally {
    await env.close();
  }
}
