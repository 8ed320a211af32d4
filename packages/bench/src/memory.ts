/**
 * W6: peak resident memory of `updraft standalone` (scheduler, worker and API in one process),
 * idle and while it works through workload 3 (triggered over its HTTP API). Read from
 * /proc/<pid>/status: VmHWM is the peak resident set, VmRSS the current one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, freePort } from '@updraft/db/testing';
import { fanOutDag } from './dags.ts';
import { PACKAGE_DIR, sleep } from './env.ts';
import type { Reporter } from './report.ts';
import type { Sizes } from './sizes.ts';

// What `pnpm start` and the installed `updraft` command run (with Node's compile cache).
const CLI = fileURLToPath(new URL('../../../apps/cli/bin/updraft.js', import.meta.url));

export async function memoryOf(pid: number): Promise<{ rssMb: number; hwmMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

/**
 * Resident memory of a process and all its descendants, summed (MB): the standalone creates a new
 * embedded database in a child process, whose memory its own VmHWM does not show.
 */
export async function treeRssMb(pid: number): Promise<number> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …; comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)!.push(Number(entry));
  }
  let total = 0;
  for (const stack = [pid]; stack.length > 0; ) {
    const next = stack.pop()!;
    total += await memoryOf(next).then(
      (m) => m.rssMb,
      () => 0,
    );
    stack.push(...(children.get(next) ?? []));
  }
  return total;
}

interface Standalone {
  child: ChildProcess;
  base: string;
  /** Peak of treeRssMb from the start until now, sampled every 50 ms; stops the sampling. */
  treePeakMb(): number;
  stop(): Promise<void>;
}

async function startStandalone(
  dir: string,
  databaseUrl: string | undefined,
  concurrency: number,
): Promise<Standalone> {
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    LOG_LEVEL: 'warn',
    UPDRAFT_ENV: 'local',
  };
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  const child = spawn(
    process.execPath,
    [
      CLI,
      'standalone',
      '--port',
      String(port),
      '--data-dir',
      join(dir, 'data'),
      '--dags-folder',
      join(dir, 'dags'),
      '--concurrency',
      String(concurrency),
      '--log-format',
      'json',
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (d) => {
    output = (output + d).slice(-4000);
  });
  child.stderr?.on('data', (d) => {
    output = (output + d).slice(-4000);
  });
  const base = `http://127.0.0.1:${port}`;
  let treePeak = 0;
  let sampling = false;
  const sampler = setInterval(() => {
    if (sampling || !child.pid) return;
    sampling = true;
    treeRssMb(child.pid)
      .then((mb) => {
        treePeak = Math.max(treePeak, mb);
      })
      .finally(() => {
        sampling = false;
      });
  }, 50);
  const stop = async () => {
    clearInterval(sampler);
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`standalone exited ${child.exitCode}: ${output}`);
    try {
      const res = await fetch(`${base}/readyz`).catch(() => fetch(`${base}/healthz`));
      if (res.status === 200) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`standalone did not become ready: ${output}`);
    }
    await sleep(100);
  }
  const treePeakMb = () => {
    // Reading every process's status is not free: no sampling while a workload is measured.
    clearInterval(sampler);
    return treePeak;
  };
  return { child, base, treePeakMb, stop };
}

/** Works through workload 3's runs on a running standalone, sampling its RSS, and reports the peak. */
async function reportUnderLoad(
  report: Reporter,
  s: Standalone,
  dagId: string,
  sizes: Sizes,
  concurrency: number,
  database: string,
  idleRssMb: number,
): Promise<void> {
  const pid = s.child.pid ?? 0;
  let peakRss = idleRssMb;
  const started = Date.now();
  for (let r = 0; r < sizes.fanOutRuns; r++) {
    const res = await fetch(`${s.base}/api/v1/dags/${dagId}/dagRuns`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dag_run_id: `mem_${r}` }),
    });
    if (res.status !== 200) throw new Error(`trigger answered ${res.status}: ${await res.text()}`);
  }
  const deadline = Date.now() + 600_000;
  for (;;) {
    peakRss = Math.max(peakRss, (await memoryOf(pid)).rssMb);
    const res = await fetch(`${s.base}/api/v1/dags/${dagId}/dagRuns?limit=1000`);
    const body = (await res.json()) as { dag_runs: { state: string }[] };
    const done = body.dag_runs.filter((r) => r.state === 'success' || r.state === 'failed').length;
    if (done >= sizes.fanOutRuns) break;
    if (Date.now() > deadline) throw new Error(`standalone on ${database}: load did not finish`);
    await sleep(250);
  }
  const loaded = await memoryOf(pid);
  report.add('W6 memory', 'standalone under workload 3, peak RSS', loaded.hwmMb, 'MB', {
    database,
    concurrency,
    task_instances: sizes.fanOutRuns * sizes.fanOutWidth,
    sampled_peak_rss_mb: Math.round(peakRss),
    seconds: Math.round((Date.now() - started) / 100) / 10,
  });
}

export async function memoryWorkload(report: Reporter, sizes: Sizes): Promise<void> {
  const dir = await mkdtemp(join(PACKAGE_DIR, '.tmp-standalone-'));
  const concurrency = sizes.concurrencies[0] ?? 32;
  const dagId = `mem_fanout_${sizes.fanOutWidth}`;
  /** Gives a standalone's directory (see startStandalone) workload 3's DAG file. */
  const addDag = async (standaloneDir: string) => {
    await mkdir(join(standaloneDir, 'dags'), { recursive: true });
    await writeFile(
      join(standaloneDir, 'dags', `${dagId}.ts`),
      fanOutDag(dagId, sizes.fanOutWidth, sizes.fanOutRuns, 'data-eng'),
    );
  };
  await addDag(dir);
  try {
    if (sizes.pgliteIdle || process.env.UPDRAFT_BENCH_PGLITE === '1') {
      await addDag(join(dir, 'pglite'));
      // The first start creates the database (PGlite runs initdb in a second WASM instance: a
      // one-time peak); the restart on the same data directory is the steady state, and then
      // works through workload 3 (standalone's default database under load).
      for (const start of ['first start (creates the database)', 'restart'] as const) {
        const s = await startStandalone(join(dir, 'pglite'), undefined, concurrency);
        try {
          await sleep(sizes.idleSeconds * 1000);
          const m = await memoryOf(s.child.pid ?? 0);
          const params = {
            database: 'PGlite (embedded)',
            start,
            idle_s: sizes.idleSeconds,
            dags: 1,
          };
          report.add('W6 memory', 'standalone idle, peak RSS', m.hwmMb, 'MB', params);
          report.add('W6 memory', 'standalone idle, RSS', m.rssMb, 'MB', params);
          report.add(
            'W6 memory',
            'standalone start-up, peak RSS with its child processes (sampled)',
            s.treePeakMb(),
            'MB',
            params,
          );
          if (start === 'restart')
            await reportUnderLoad(
              report,
              s,
              dagId,
              sizes,
              concurrency,
              'PGlite (embedded)',
              m.rssMb,
            );
        } finally {
          await s.stop();
        }
      }
    }
    const db = await createTestDatabase('postgres');
    try {
      const s = await startStandalone(dir, db.url, concurrency);
      try {
        const pid = s.child.pid ?? 0;
        await sleep(sizes.idleSeconds * 1000);
        const idle = await memoryOf(pid);
        const idleParams = { database: 'PostgreSQL', idle_s: sizes.idleSeconds, dags: 1 };
        report.add('W6 memory', 'standalone idle, peak RSS', idle.hwmMb, 'MB', idleParams);
        report.add('W6 memory', 'standalone idle, RSS', idle.rssMb, 'MB', idleParams);
        report.add(
          'W6 memory',
          'standalone start-up, peak RSS with its child processes (sampled)',
          s.treePeakMb(),
          'MB',
          idleParams,
        );
        await reportUnderLoad(report, s, dagId, sizes, concurrency, 'PostgreSQL', idle.rssMb);
      } finally {
        await s.stop();
      }
    } finally {
      await db.drop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
