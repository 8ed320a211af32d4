/**
 * The `updraft` command. Thin: each subcommand parses its options and calls into the packages.
 */

import { envFields, parseEnv, releaseVersion } from '@updraft/engine/config';
import { Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { jsonObject } from './args.ts';
import { addBackfillCommands } from './backfill.ts';
import { addManualCommands } from './manual.ts';
import { EXAMPLE_DAGS, EXAMPLE_TEAMS } from './paths.ts';

// Commands load their modules on use, so `--help` and light commands start fast.
const dagsCommands = () => import('./dags.ts');

const env = parseEnv(
  z.object({
    UPDRAFT_ENV: envFields.UPDRAFT_ENV,
    UPDRAFT_VERSION: envFields.UPDRAFT_VERSION,
    LOG_LEVEL: envFields.LOG_LEVEL,
    DATABASE_URL: envFields.DATABASE_URL,
    UPDRAFT_DAGS_FOLDER: z.string().min(1).default(EXAMPLE_DAGS),
    UPDRAFT_TEAMS_FILE: z.string().min(1).default(EXAMPLE_TEAMS),
    UPDRAFT_DATA_DIR: z.string().min(1).default('.updraft'),
    UPDRAFT_WORKER_CONCURRENCY: envFields.UPDRAFT_WORKER_CONCURRENCY,
    UPDRAFT_API_URL: z.url().default('http://127.0.0.1:8080'),
    UPDRAFT_TASK_RUNNER_IMAGE: envFields.UPDRAFT_TASK_RUNNER_IMAGE,
    UPDRAFT_TASK_RUNNER_CLI: envFields.UPDRAFT_TASK_RUNNER_CLI,
    PORT: envFields.PORT,
    KUBECONFIG: envFields.KUBECONFIG,
    UPDRAFT_KUBE_CONTEXT: envFields.UPDRAFT_KUBE_CONTEXT,
    UPDRAFT_KUBE_IN_CLUSTER: envFields.UPDRAFT_KUBE_IN_CLUSTER,
    HOST: z.string().default('127.0.0.1'),
  }),
  process.env,
);

const int = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};

const program = new Command()
  .name('updraft')
  .description('Updraft: DAG workflows on PostgreSQL and Kubernetes.')
  .showHelpAfterError();

program
  .command('standalone')
  .description(
    'run scheduler, worker and API (with the web UI) in one process on embedded PGlite, or on DATABASE_URL',
  )
  .option('--port <port>', 'HTTP port', int('port'), env.PORT)
  .option('--host <host>', 'address to listen on', env.HOST)
  .option(
    '--data-dir <dir>',
    'where PGlite keeps its data (ignored with DATABASE_URL)',
    env.UPDRAFT_DATA_DIR,
  )
  .option(
    '--dags-folder <dir>',
    'folder of DAG files, reloaded when files change',
    env.UPDRAFT_DAGS_FOLDER,
  )
  .option(
    '--teams-file <file>',
    'teams.yaml declaring the teams that own DAGs',
    env.UPDRAFT_TEAMS_FILE,
  )
  .option(
    '--concurrency <n>',
    'worker concurrency',
    int('concurrency'),
    env.UPDRAFT_WORKER_CONCURRENCY,
  )
  .addOption(
    new Option('--log-format <format>', 'log format')
      .choices(['pretty', 'json'])
      .default(process.stdout.isTTY ? 'pretty' : 'json'),
  )
  .action(async (o) => {
    // Re-executes once with memory flags (see memory.ts) before loading the engine.
    (await import('./memory.ts')).reexecWithStandaloneFlags(!env.DATABASE_URL);
    const { runStandalone } = await import('./standalone.ts');
    const standalone = await runStandalone({
      port: o.port,
      host: o.host,
      dataDir: o.dataDir,
      dagsFolder: o.dagsFolder,
      teamsFile: o.teamsFile,
      databaseUrl: env.DATABASE_URL,
      environment: env.UPDRAFT_ENV,
      version: releaseVersion(env.UPDRAFT_VERSION),
      logLevel: env.LOG_LEVEL,
      workerConcurrency: o.concurrency,
      syncIntervalMs: 1000,
      pretty: o.logFormat === 'pretty',
      kube: {
        kubeconfigPath: env.KUBECONFIG,
        context: env.UPDRAFT_KUBE_CONTEXT,
        inCluster: env.UPDRAFT_KUBE_IN_CLUSTER,
      },
      taskRunnerImage: env.UPDRAFT_TASK_RUNNER_IMAGE,
      taskRunnerCli: env.UPDRAFT_TASK_RUNNER_CLI,
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        void standalone.stop().then(() => process.exit(0));
      });
    }
  });

const db = program.command('db').description('database maintenance');
db.command('migrate')
  .description('apply database migrations (DATABASE_URL, or the standalone PGlite data directory)')
  .option(
    '--data-dir <dir>',
    'PGlite data directory when DATABASE_URL is not set',
    env.UPDRAFT_DATA_DIR,
  )
  .action(async (o) => {
    const { dbMigrate } = await import('./db.ts');
    await dbMigrate({ databaseUrl: env.DATABASE_URL, dataDir: `${o.dataDir}/pgdata` });
  });

const dags = program.command('dags').description('work with DAGs');
dags
  .command('list')
  .description('load the DAG files of a folder and list their DAGs and import errors')
  .option('--dags-folder <dir>', 'folder of DAG files', env.UPDRAFT_DAGS_FOLDER)
  .option(
    '--teams-file <file>',
    'teams.yaml (DAGs of other teams are refused)',
    env.UPDRAFT_TEAMS_FILE,
  )
  .option('--json', 'print JSON')
  .action(async (o) => {
    const { dagsList } = await dagsCommands();
    process.exitCode = await dagsList({
      dagsFolder: o.dagsFolder,
      teamsFile: o.teamsFile,
      json: Boolean(o.json),
    });
  });

dags
  .command('test')
  .argument('<dag_id>', 'the DAG to run')
  .description(
    'run one DAG run in this process on a throwaway database, printing each task state and log',
  )
  .option('--dags-folder <dir>', 'folder of DAG files', env.UPDRAFT_DAGS_FOLDER)
  .option('--teams-file <file>', 'teams.yaml', env.UPDRAFT_TEAMS_FILE)
  .option('--conf <json>', 'run conf (a JSON object)', jsonObject)
  .option('--timeout <seconds>', 'give up after this many seconds', int('timeout'), 600)
  .action(async (dagId: string, o) => {
    const { dagsTest } = await dagsCommands();
    process.exitCode = await dagsTest({
      dagId,
      dagsFolder: o.dagsFolder,
      teamsFile: o.teamsFile,
      conf: o.conf ?? {},
      timeoutMs: o.timeout * 1000,
    });
  });

dags
  .command('trigger')
  .argument('<dag_id>', 'the DAG to trigger')
  .description('trigger a run through a running Updraft API')
  .option('--conf <json>', 'run conf (a JSON object)', jsonObject)
  .option('--run-id <id>', 'run id (default: generated)')
  .option('--api-url <url>', 'Updraft API base URL', env.UPDRAFT_API_URL)
  .action(async (dagId: string, o) => {
    const { dagsTrigger } = await dagsCommands();
    process.exitCode = await dagsTrigger({ dagId, apiUrl: o.apiUrl, conf: o.conf, runId: o.runId });
  });

for (const [name, paused] of [
  ['pause', true],
  ['unpause', false],
] as const) {
  dags
    .command(name)
    .argument('<dag_id>')
    .description(`${name} a DAG through a running Updraft API`)
    .option('--api-url <url>', 'Updraft API base URL', env.UPDRAFT_API_URL)
    .action(async (dagId: string, o) => {
      const { setPausedViaApi } = await dagsCommands();
      process.exitCode = await setPausedViaApi({ dagId, apiUrl: o.apiUrl, paused });
    });
}

const tasks = program
  .command('tasks')
  .description('clear or mark task instances; task-runner commands (used inside task pods)');
addManualCommands(program, tasks, env.UPDRAFT_API_URL);
addBackfillCommands(program, env.UPDRAFT_API_URL);
tasks
  .command('run')
  .argument('<task_instance_id>', 'the task instance to run', int('task instance id'))
  .requiredOption('--try <n>', 'the try this pod runs', int('try'))
  .description(
    'run one function task here (inside a task-runner pod): needs DATABASE_URL; writes the result to $UPDRAFT_RESULT_PATH',
  )
  .action(async (taskInstanceId: number, o) => {
    const { runTaskHere } = await import('./tasks.ts');
    process.exitCode = await runTaskHere({
      taskInstanceId,
      tryNumber: o.try,
      databaseUrl: env.DATABASE_URL,
      environment: env.UPDRAFT_ENV,
    });
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`updraft: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
