/**
 * `updraft backfill create|list|get|pause|unpause|cancel`, through a running Updraft API (Airflow
 * 3's `airflow backfill create --dag-id --from-date --to-date --reprocess-behavior
 * --max-active-runs --run-backwards --dag-run-conf --dry-run`). Registered here so main.ts only
 * hooks them in.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { callApi, err, out } from './api-client.ts';
import { jsonObject } from './args.ts';

interface BackfillJson {
  id: number;
  dag_id: string;
  from_date: string;
  to_date: string;
  reprocess_behavior: string;
  max_active_runs: number;
  run_backwards: boolean;
  is_paused: boolean;
  completed_at: string | null;
  dag_run_counts?: Record<string, number>;
}

interface PlannedRun {
  logical_date: string;
  action: string;
  dag_run_id?: string;
  reason?: string;
}

const stateOf = (b: BackfillJson) =>
  b.completed_at ? 'completed' : b.is_paused ? 'paused' : 'running';

function table(rows: BackfillJson[]): void {
  const header = ['id', 'dag_id', 'from', 'to', 'reprocess', 'max_active_runs', 'state'];
  const cells = rows.map((b) => [
    String(b.id),
    b.dag_id,
    b.from_date,
    b.to_date,
    b.reprocess_behavior,
    String(b.max_active_runs),
    stateOf(b),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  for (const r of [header, ...cells])
    out(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

/** The plan in the order its runs go: newest first for a backwards backfill. */
function printPlan(runs: PlannedRun[], backwards: boolean): void {
  for (const r of backwards ? [...runs].reverse() : runs) {
    const what =
      r.action === 'create'
        ? 'new run'
        : r.action === 'reprocess'
          ? `re-run ${r.dag_run_id}`
          : `skip (${r.reason})`;
    out(`  ${r.logical_date}  ${what}`);
  }
}

function failed(what: string, res: { status: number; body: Record<string, unknown> }): number {
  err(`${what} failed (${res.status}): ${String(res.body.message)}`);
  return 1;
}

export async function backfillCreate(opts: {
  apiUrl: string;
  dagId: string;
  from: string;
  to: string;
  reprocess: string;
  maxActiveRuns?: number;
  backwards: boolean;
  conf?: Record<string, unknown>;
  dryRun: boolean;
  json: boolean;
}): Promise<number> {
  const body = {
    dag_id: opts.dagId,
    from_date: opts.from,
    to_date: opts.to,
    reprocess_behavior: opts.reprocess,
    run_backwards: opts.backwards,
    ...(opts.maxActiveRuns !== undefined && { max_active_runs: opts.maxActiveRuns }),
    ...(opts.conf && { dag_run_conf: opts.conf }),
  };
  const res = await callApi(opts.apiUrl, `/api/v1/backfills${opts.dryRun ? '/dry_run' : ''}`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  if (res.status !== 200 && res.status !== 201) return failed('backfill', res);
  if (opts.json) {
    out(JSON.stringify(res.body));
    return 0;
  }
  if (opts.dryRun) {
    const runs = res.body.backfills as PlannedRun[];
    out(
      `dry run: ${runs.length} interval(s) of DAG "${opts.dagId}"${opts.backwards ? ', newest first' : ''}`,
    );
    printPlan(runs, opts.backwards);
    return 0;
  }
  const b = res.body as unknown as BackfillJson & { dag_runs: PlannedRun[] };
  out(
    `backfill ${b.id} created for DAG "${b.dag_id}" (${b.dag_runs.filter((r) => r.action !== 'skip').length} run(s), at most ${b.max_active_runs} at once${b.run_backwards ? ', newest first' : ''})`,
  );
  printPlan(b.dag_runs, b.run_backwards);
  return 0;
}

export async function backfillList(opts: {
  apiUrl: string;
  dagId?: string;
  json: boolean;
}): Promise<number> {
  const q = opts.dagId ? `?dag_id=${encodeURIComponent(opts.dagId)}` : '';
  const res = await callApi(opts.apiUrl, `/api/v1/backfills${q}`, { method: 'GET' });
  if (res.status !== 200) return failed('listing backfills', res);
  if (opts.json) out(JSON.stringify(res.body.backfills));
  else table(res.body.backfills as BackfillJson[]);
  return 0;
}

export async function backfillAction(opts: {
  apiUrl: string;
  id: number;
  action: 'get' | 'pause' | 'unpause' | 'cancel';
  json: boolean;
}): Promise<number> {
  const res =
    opts.action === 'get'
      ? await callApi(opts.apiUrl, `/api/v1/backfills/${opts.id}`, { method: 'GET' })
      : await callApi(opts.apiUrl, `/api/v1/backfills/${opts.id}/${opts.action}`, {
          method: 'POST',
        });
  if (res.status !== 200) return failed(`backfill ${opts.action}`, res);
  const b = res.body as unknown as BackfillJson;
  if (opts.json) out(JSON.stringify(b));
  else {
    table([b]);
    if (b.dag_run_counts) {
      out(
        `runs: ${
          Object.entries(b.dag_run_counts)
            .map(([state, n]) => `${n} ${state}`)
            .join(', ') || 'none'
        }`,
      );
    }
  }
  return 0;
}

const positiveInt = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};

const isoDate = (name: string) => (value: string) => {
  if (Number.isNaN(Date.parse(value)))
    throw new InvalidArgumentError(`${name} must be an ISO-8601 date such as 2026-01-01`);
  return value;
};

/** Registers `updraft backfill …`. */
export function addBackfillCommands(program: Command, defaultApiUrl: string): void {
  const backfill = program
    .command('backfill')
    .description('runs for past intervals of a scheduled DAG, through a running Updraft API');
  backfill
    .command('create')
    .argument('<dag_id>')
    .description(
      "create runs for the DAG's intervals with a logical date between --from and --to (inclusive)",
    )
    .requiredOption('--from <date>', 'first logical date (ISO-8601)', isoDate('--from'))
    .requiredOption('--to <date>', 'last logical date (ISO-8601)', isoDate('--to'))
    .addOption(
      new Option('--reprocess <behaviour>', 'what to do with intervals that already have a run')
        .choices(['none', 'failed', 'completed'])
        .default('none'),
    )
    .option(
      '--max-active-runs <n>',
      "runs of this backfill at once (independent of the DAG's max_active_runs; default 10)",
      positiveInt('--max-active-runs'),
    )
    .option('--backwards', 'newest interval first', false)
    .option('--conf <json>', 'conf for every run (a JSON object)', jsonObject)
    .option('--dry-run', 'only show what would be run', false)
    .option('--json', 'print JSON', false)
    .option('--api-url <url>', 'Updraft API base URL', defaultApiUrl)
    .action(async (dagId: string, o) => {
      process.exitCode = await backfillCreate({
        apiUrl: o.apiUrl,
        dagId,
        from: o.from,
        to: o.to,
        reprocess: o.reprocess,
        maxActiveRuns: o.maxActiveRuns,
        backwards: o.backwards,
        conf: o.conf,
        dryRun: o.dryRun,
        json: o.json,
      });
    });
  backfill
    .command('list')
    .description('list backfills, newest first')
    .option('--dag-id <dag_id>', 'only this DAG')
    .option('--json', 'print JSON', false)
    .option('--api-url <url>', 'Updraft API base URL', defaultApiUrl)
    .action(async (o) => {
      process.exitCode = await backfillList({ apiUrl: o.apiUrl, dagId: o.dagId, json: o.json });
    });
  for (const action of ['get', 'pause', 'unpause', 'cancel'] as const) {
    backfill
      .command(action)
      .argument('<id>', 'backfill id', positiveInt('id'))
      .description(
        {
          get: 'show a backfill and how many of its runs are in each state',
          pause: 'start no new runs of the backfill (running ones finish)',
          unpause: 'resume a paused backfill',
          cancel: 'stop a backfill: its queued runs fail, running ones finish',
        }[action],
      )
      .option('--json', 'print JSON', false)
      .option('--api-url <url>', 'Updraft API base URL', defaultApiUrl)
      .action(async (id: number, o) => {
        process.exitCode = await backfillAction({ apiUrl: o.apiUrl, id, action, json: o.json });
      });
  }
}
