/**
 * Standalone: scheduler, worker, DAG processor and API in one process, on embedded PGlite (data kept
 * in a directory across restarts) or on PostgreSQL when DATABASE_URL is set. For laptops and demos.
 */
import { resolve } from 'node:path';
import { createApp, serveApp } from '@updraft/api';
import type { EnvironmentName } from '@updraft/core/environment';
import {
  createLogger,
  createTaskPodExecutor,
  DagProcessor,
  type Executor,
  loadTeamsFile,
  openEngine,
  redactUrl,
  Scheduler,
  teamExecutorsFromTeams,
  Worker,
  type WorkerOptions,
} from '@updraft/engine';
import {
  createKubePodExecutor,
  type KubeSettings,
  kubeConfigured,
  namespacesFromTeams,
  noKubernetesExecutor,
} from '@updraft/engine/k8s-pod';
import type { Level } from 'pino';

export interface StandaloneOptions {
  port: number;
  host: string;
  dataDir: string;
  dagsFolder: string;
  teamsFile: string;
  databaseUrl: string | undefined;
  environment: EnvironmentName;
  /** The release reported by /healthz and on every log line (releaseVersion). */
  version?: string;
  logLevel: Level | 'silent';
  workerConcurrency: number;
  syncIntervalMs: number;
  pretty: boolean;
  /** Kubernetes for k8sPod tasks (KUBECONFIG, UPDRAFT_KUBE_CONTEXT, UPDRAFT_KUBE_IN_CLUSTER). */
  kube?: KubeSettings;
  /** Image and CLI path of task pods (tasks with executor 'pod'). */
  taskRunnerImage?: string;
  taskRunnerCli?: string;
}

export async function runStandalone(
  opts: StandaloneOptions,
): Promise<{ stop(): Promise<void>; port: number }> {
  const logger = createLogger({
    level: opts.logLevel,
    component: 'standalone',
    environment: opts.environment,
    version: opts.version,
    pretty: opts.pretty,
  });
  const dataDir = resolve(opts.dataDir);
  const dagsFolder = resolve(opts.dagsFolder);
  const resources = await openEngine({
    databaseUrl: opts.databaseUrl,
    dataDir: `${dataDir}/pgdata`,
    environment: opts.environment,
    logger,
    migrate: true,
    teamsFile: opts.teamsFile,
    applicationName: 'updraft-standalone',
  });
  const processor = new DagProcessor(resources, {
    dagsFolder,
    pauseNewDags: false,
    parseTimeoutMs: 30_000,
  });
  const scheduler = new Scheduler(resources, { loopIntervalMs: 1000, zombieThresholdMs: 30_000 });
  let podExecutor: Executor = noKubernetesExecutor;
  let taskPods: WorkerOptions['taskPods'];
  if (opts.kube && kubeConfigured(opts.kube)) {
    const teams = (await loadTeamsFile(opts.teamsFile)).teams;
    const pods = await createKubePodExecutor({
      ...opts.kube,
      namespaceOf: namespacesFromTeams(teams),
      logger,
    });
    podExecutor = pods.executor;
    // Function tasks in pods reach the database themselves: only possible on PostgreSQL.
    taskPods = {
      executor: createTaskPodExecutor({
        podExecutor,
        image: opts.taskRunnerImage ?? 'updraft/task-runner:0.1.0',
        cliEntry: opts.taskRunnerCli ?? '/app/apps/cli/src/main.ts',
        functionEnv: opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {},
      }),
      teamDefault: teamExecutorsFromTeams(teams),
    };
    logger.info({ context: pods.context, server: pods.server }, 'k8sPod tasks enabled');
  }
  const worker = new Worker(resources, {
    executors: { k8sPod: podExecutor },
    ...(taskPods && { taskPods }),
    concurrency: opts.workerConcurrency,
    heartbeatIntervalMs: 5000,
    shutdownGraceMs: 10_000,
  });

  let syncing = false;
  let synced = false;
  const sync = async () => {
    if (syncing) return;
    syncing = true;
    try {
      const report = await processor.sync();
      if (report.parsed > 0 || report.removedFiles > 0) logger.info(report, 'DAG files synced');
    } catch (error) {
      logger.error({ err: error }, 'DAG folder sync failed');
    } finally {
      syncing = false;
      synced = true;
    }
  };
  // The port first: if it is taken (another standalone, most likely), nothing has been read or
  // run yet, and the process ends with the reason. The API then serves while the DAG folder is
  // read for the first time (a file that hangs takes its full parse timeout); /readyz says so.
  let server: Awaited<ReturnType<typeof serveApp>>;
  try {
    server = await serveApp(
      createApp(resources, {
        component: 'standalone',
        ...(opts.version && { version: opts.version }),
        notReadyReason: () => (synced ? null : 'reading the DAG folder for the first time'),
      }),
      { port: opts.port, hostname: opts.host },
    );
  } catch (error) {
    await resources.database.close().catch(() => {});
    const taken = (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
    throw new Error(
      `cannot serve on http://${opts.host}:${opts.port}: ${taken ? 'the port is in use (another Updraft standalone?); choose another with --port' : (error as Error).message}`,
    );
  }
  await sync();
  const syncTimer = setInterval(sync, opts.syncIntervalMs);
  await scheduler.start();
  await worker.start();
  logger.info(
    {
      url: `http://${opts.host}:${server.port}`,
      database: opts.databaseUrl ? redactUrl(opts.databaseUrl) : `PGlite in ${dataDir}/pgdata`,
      dagsFolder,
    },
    `Updraft standalone (${opts.environment}) is up on http://${opts.host}:${server.port}`,
  );

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      logger.info('stopping');
      clearInterval(syncTimer);
      await server.close();
      await worker.stop();
      await scheduler.stop();
      await resources.database.close();
      logger.info('stopped');
      logger.flush?.();
    })();
    return stopping;
  };
  return { stop, port: server.port };
}
