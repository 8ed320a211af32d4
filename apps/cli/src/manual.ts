/**
 * `updraft tasks clear|mark` and `updraft pools …`, through a running Updraft API (Airflow's
 * `airflow tasks clear -t -d -u -f -r` and `airflow pools list|set|delete`). The commands are
 * registered here so main.ts only hooks them in; their work is loaded on use.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { callApi, err, out } from './api-client.ts';

function printAffected(body: Record<string, unknown>, verb: string): void {
  const tis = (body.task_instances ?? []) as { task_id: string; map_index?: number }[];
  out(`${verb} ${tis.length} task instance(s)`);
  for (const t of tis)
    out(`  ${t.task_id}${t.map_index !== undefined && t.map_index >= 0 ? `[${t.map_index}]` : ''}`);
}

export async function tasksClear(opts: {
  apiUrl: string;
  dagId: string;
  runId: string;
  taskRegex?: string;
  downstream: boolean;
  upstream: boolean;
  onlyFailed: boolean;
  onlyRunning: boolean;
  dryRun: boolean;
}): Promise<number> {
  const base = `/api/v1/dags/${encodeURIComponent(opts.dagId)}`;
  let taskIds: string[] | undefined;
  if (opts.taskRegex) {
    // Like Airflow's -t: a regular expression over the DAG's task ids.
    const dag = await callApi(opts.apiUrl, base, { method: 'GET' });
    if (dag.status !== 200) {
      err(`clear failed (${dag.status}): ${String(dag.body.message)}`);
      return 1;
    }
    const re = new RegExp(opts.taskRegex);
    taskIds = (dag.body.tasks as { task_id: string }[])
      .map((t) => t.task_id)
      .filter((id) => re.test(id));
    if (taskIds.length === 0) {
      err(`no task of DAG "${opts.dagId}" matches /${opts.taskRegex}/`);
      return 1;
    }
  }
  const { status, body } = await callApi(opts.apiUrl, `${base}/clearTaskInstances`, {
    method: 'POST',
    body: JSON.stringify({
      dag_run_id: opts.runId,
      ...(taskIds && { task_ids: taskIds }),
      include_downstream: opts.downstream,
      include_upstream: opts.upstream,
      only_failed: opts.onlyFailed,
      only_running: opts.onlyRunning,
      dry_run: opts.dryRun,
    }),
  });
  if (status !== 200) {
    err(`clear failed (${status}): ${String(body.message)}`);
    return 1;
  }
  printAffected(body, opts.dryRun ? 'would clear' : 'cleared');
  return 0;
}

export async function tasksMark(opts: {
  apiUrl: string;
  dagId: string;
  runId: string;
  taskId: string;
  state: 'success' | 'failed';
  downstream: boolean;
  upstream: boolean;
  dryRun: boolean;
}): Promise<number> {
  const { status, body } = await callApi(
    opts.apiUrl,
    `/api/v1/dags/${encodeURIComponent(opts.dagId)}/updateTaskInstancesState`,
    {
      method: 'POST',
      body: JSON.stringify({
        dag_run_id: opts.runId,
        task_ids: [opts.taskId],
        new_state: opts.state,
        include_downstream: opts.downstream,
        include_upstream: opts.upstream,
        dry_run: opts.dryRun,
      }),
    },
  );
  if (status !== 200) {
    err(`mark failed (${status}): ${String(body.message)}`);
    return 1;
  }
  printAffected(body, opts.dryRun ? `would mark ${opts.state}` : `marked ${opts.state}`);
  return 0;
}

const slotsArg = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError('slots must be a non-negative integer');
  return n;
};

/** Adds `tasks clear` and `tasks mark` to the `tasks` command, and the `pools` command. */
export function addManualCommands(program: Command, tasks: Command, apiUrl: string): void {
  tasks
    .command('clear')
    .argument('<dag_id>')
    .requiredOption('--run-id <id>', 'the run whose task instances to clear')
    .option('-t, --task-regex <regex>', 'only tasks whose id matches')
    .option('-d, --downstream', 'also clear downstream tasks', false)
    .option('-u, --upstream', 'also clear upstream tasks', false)
    .option('-f, --only-failed', 'only failed (and upstream_failed) task instances', false)
    .option('-r, --only-running', 'only running task instances', false)
    .option('--dry-run', 'print what would be cleared, change nothing', false)
    .option('--api-url <url>', 'Updraft API base URL', apiUrl)
    .description('clear task instances of a run so they run again (through the API)')
    .action(async (dagId: string, o) => {
      process.exitCode = await tasksClear({
        apiUrl: o.apiUrl,
        dagId,
        runId: o.runId,
        taskRegex: o.taskRegex,
        downstream: o.downstream,
        upstream: o.upstream,
        onlyFailed: o.onlyFailed,
        onlyRunning: o.onlyRunning,
        dryRun: o.dryRun,
      });
    });

  tasks
    .command('mark')
    .argument('<dag_id>')
    .argument('<run_id>')
    .argument('<task_id>')
    .argument('<state>', 'success or failed')
    .option('-d, --downstream', 'also mark downstream tasks', false)
    .option('-u, --upstream', 'also mark upstream tasks', false)
    .option('--dry-run', 'print what would change, change nothing', false)
    .option('--api-url <url>', 'Updraft API base URL', apiUrl)
    .description('mark a task instance (and its upstream/downstream) success or failed')
    .action(async (dagId: string, runId: string, taskId: string, state: string, o) => {
      if (state !== 'success' && state !== 'failed') {
        err(`state must be "success" or "failed", not "${state}"`);
        process.exitCode = 1;
        return;
      }
      process.exitCode = await tasksMark({
        apiUrl: o.apiUrl,
        dagId,
        runId,
        taskId,
        state,
        downstream: o.downstream,
        upstream: o.upstream,
        dryRun: o.dryRun,
      });
    });

  const pools = program.command('pools').description('pools limit concurrent tasks across DAGs');
  pools
    .command('list')
    .option('--json', 'print JSON')
    .option('--api-url <url>', 'Updraft API base URL', apiUrl)
    .description('list pools with their slot usage')
    .action(async (o) => {
      const { poolsList } = await import('./pools.ts');
      process.exitCode = await poolsList({ apiUrl: o.apiUrl, json: Boolean(o.json) });
    });
  pools
    .command('set')
    .argument('<name>')
    .argument('<slots>', 'number of slots', slotsArg)
    .option('--description <text>', 'what the pool is for')
    .option('--include-deferred', 'deferred and rescheduling task instances occupy slots too')
    .option('--api-url <url>', 'Updraft API base URL', apiUrl)
    .description('create a pool or change its slots')
    .action(async (name: string, slots: number, o) => {
      const { poolsSet } = await import('./pools.ts');
      process.exitCode = await poolsSet({
        apiUrl: o.apiUrl,
        name,
        slots,
        ...(o.description !== undefined && { description: o.description }),
        ...(o.includeDeferred !== undefined && { includeDeferred: true }),
      });
    });
  pools
    .command('delete')
    .argument('<name>')
    .option('--api-url <url>', 'Updraft API base URL', apiUrl)
    .description('delete a pool (not default_pool)')
    .action(async (name: string, o) => {
      const { poolsDelete } = await import('./pools.ts');
      process.exitCode = await poolsDelete({ apiUrl: o.apiUrl, name });
    });
}
