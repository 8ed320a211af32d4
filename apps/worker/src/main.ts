/**
 * updraft-worker: claims and runs task instances. Scale it out freely; on SIGTERM it stops
 * claiming and lets running tasks finish within UPDRAFT_SHUTDOWN_GRACE_MS.
 *
 * k8sPod tasks run when Kubernetes is configured (KUBECONFIG, UPDRAFT_KUBE_CONTEXT or
 * UPDRAFT_KUBE_IN_CLUSTER=true); a team's namespace comes from UPDRAFT_TEAMS_FILE, else from the
 * teams table. Without Kubernetes, k8sPod tasks fail at once, without retries, saying so.
 */
import { createHealthApp, serveApp } from '@updraft/api';
import {
  createLogger,
  createTaskPodExecutor,
  databaseUrlFromSecret,
  type Executor,
  envFields,
  loadTeamsFile,
  onShutdown,
  openEngine,
  parseEnv,
  releaseVersion,
  teamExecutorsFromTeams,
  Worker,
  type WorkerOptions,
} from '@updraft/engine';
import {
  createKubePodExecutor,
  kubeConfigured,
  namespacesFromDatabase,
  namespacesFromTeams,
  noKubernetesExecutor,
} from '@updraft/engine/k8s-pod';
import { z } from 'zod';

const config = parseEnv(
  z.object({
    UPDRAFT_ENV: envFields.UPDRAFT_ENV,
    UPDRAFT_VERSION: envFields.UPDRAFT_VERSION,
    LOG_LEVEL: envFields.LOG_LEVEL,
    DATABASE_URL: envFields.DATABASE_URL.unwrap(),
    UPDRAFT_HEALTH_PORT: envFields.UPDRAFT_HEALTH_PORT,
    UPDRAFT_WORKER_CONCURRENCY: envFields.UPDRAFT_WORKER_CONCURRENCY,
    UPDRAFT_WORKER_POLL_MS: envFields.UPDRAFT_WORKER_POLL_MS,
    UPDRAFT_SHUTDOWN_GRACE_MS: envFields.UPDRAFT_SHUTDOWN_GRACE_MS,
    UPDRAFT_DB_POOL_SIZE: envFields.UPDRAFT_DB_POOL_SIZE,
    UPDRAFT_DB_PREPARED_STATEMENTS: envFields.UPDRAFT_DB_PREPARED_STATEMENTS,
    UPDRAFT_TIMETABLE_PLUGINS: envFields.UPDRAFT_TIMETABLE_PLUGINS,
    UPDRAFT_TEAMS_FILE: envFields.UPDRAFT_TEAMS_FILE,
    KUBECONFIG: envFields.KUBECONFIG,
    UPDRAFT_KUBE_CONTEXT: envFields.UPDRAFT_KUBE_CONTEXT,
    UPDRAFT_KUBE_IN_CLUSTER: envFields.UPDRAFT_KUBE_IN_CLUSTER,
    UPDRAFT_TASK_RUNNER_IMAGE: envFields.UPDRAFT_TASK_RUNNER_IMAGE,
    UPDRAFT_TASK_RUNNER_CLI: envFields.UPDRAFT_TASK_RUNNER_CLI,
    UPDRAFT_TASK_POD_DATABASE_SECRET: envFields.UPDRAFT_TASK_POD_DATABASE_SECRET,
  }),
  process.env,
);

const version = releaseVersion(config.UPDRAFT_VERSION);
const logger = createLogger({
  level: config.LOG_LEVEL,
  component: 'worker',
  environment: config.UPDRAFT_ENV,
  version,
});
const resources = await openEngine({
  databaseUrl: config.DATABASE_URL,
  environment: config.UPDRAFT_ENV,
  logger,
  migrate: false,
  applicationName: 'updraft-worker',
  maxConnections: config.UPDRAFT_DB_POOL_SIZE,
  preparedStatements: config.UPDRAFT_DB_PREPARED_STATEMENTS,
  timetablePlugins: config.UPDRAFT_TIMETABLE_PLUGINS,
});

const kube = {
  kubeconfigPath: config.KUBECONFIG,
  context: config.UPDRAFT_KUBE_CONTEXT,
  inCluster: config.UPDRAFT_KUBE_IN_CLUSTER,
};
let podExecutor: Executor = noKubernetesExecutor;
let taskPods: WorkerOptions['taskPods'];
if (kubeConfigured(kube)) {
  const teams = config.UPDRAFT_TEAMS_FILE
    ? (await loadTeamsFile(config.UPDRAFT_TEAMS_FILE)).teams
    : undefined;
  const namespaceOf = teams ? namespacesFromTeams(teams) : namespacesFromDatabase(resources);
  const pods = await createKubePodExecutor({ ...kube, namespaceOf, logger });
  podExecutor = pods.executor;
  taskPods = {
    executor: createTaskPodExecutor({
      podExecutor,
      image: config.UPDRAFT_TASK_RUNNER_IMAGE,
      cliEntry: config.UPDRAFT_TASK_RUNNER_CLI,
      functionEnv: databaseUrlFromSecret(config.UPDRAFT_TASK_POD_DATABASE_SECRET),
    }),
    ...(teams && { teamDefault: teamExecutorsFromTeams(teams) }),
  };
  logger.info({ context: pods.context, server: pods.server }, 'k8sPod tasks enabled');
} else {
  logger.info('k8sPod tasks disabled: no Kubernetes configured');
}

const worker = new Worker(resources, {
  concurrency: config.UPDRAFT_WORKER_CONCURRENCY,
  pollIntervalMs: config.UPDRAFT_WORKER_POLL_MS,
  shutdownGraceMs: config.UPDRAFT_SHUTDOWN_GRACE_MS,
  executors: { k8sPod: podExecutor },
  ...(taskPods && { taskPods }),
});
await worker.start();
const health = await serveApp(
  createHealthApp({
    component: 'worker',
    environment: config.UPDRAFT_ENV,
    version,
    database: resources.database,
  }),
  { port: config.UPDRAFT_HEALTH_PORT, hostname: '0.0.0.0' },
);
logger.info({ healthPort: health.port }, 'worker ready');

onShutdown(logger, async () => {
  await worker.stop();
  await health.close();
  await resources.database.close();
});
