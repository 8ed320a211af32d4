/**
 * updraft-scheduler: parses DAG files and runs the scheduling loop. Several replicas may run
 * against one database. Serves /healthz and /readyz on UPDRAFT_HEALTH_PORT.
 */
import { createHealthApp, serveApp } from '@updraft/api';
import {
  createLogger,
  DagProcessor,
  envFields,
  onShutdown,
  openEngine,
  parseEnv,
  releaseVersion,
  Scheduler,
} from '@updraft/engine';
import { z } from 'zod';

const config = parseEnv(
  z.object({
    UPDRAFT_ENV: envFields.UPDRAFT_ENV,
    UPDRAFT_VERSION: envFields.UPDRAFT_VERSION,
    LOG_LEVEL: envFields.LOG_LEVEL,
    DATABASE_URL: envFields.DATABASE_URL.unwrap(),
    UPDRAFT_TEAMS_FILE: envFields.UPDRAFT_TEAMS_FILE,
    UPDRAFT_DAGS_FOLDER: envFields.UPDRAFT_DAGS_FOLDER,
    UPDRAFT_HEALTH_PORT: envFields.UPDRAFT_HEALTH_PORT,
    UPDRAFT_DAGS_PAUSED_AT_CREATION: envFields.UPDRAFT_DAGS_PAUSED_AT_CREATION,
    UPDRAFT_DAG_SYNC_INTERVAL_MS: envFields.UPDRAFT_DAG_SYNC_INTERVAL_MS,
    UPDRAFT_SCHEDULER_LOOP_MS: envFields.UPDRAFT_SCHEDULER_LOOP_MS,
    UPDRAFT_ZOMBIE_THRESHOLD_MS: envFields.UPDRAFT_ZOMBIE_THRESHOLD_MS,
    UPDRAFT_DB_POOL_SIZE: envFields.UPDRAFT_DB_POOL_SIZE,
    UPDRAFT_DB_PREPARED_STATEMENTS: envFields.UPDRAFT_DB_PREPARED_STATEMENTS,
    UPDRAFT_TIMETABLE_PLUGINS: envFields.UPDRAFT_TIMETABLE_PLUGINS,
  }),
  process.env,
);

const version = releaseVersion(config.UPDRAFT_VERSION);
const logger = createLogger({
  level: config.LOG_LEVEL,
  component: 'scheduler',
  environment: config.UPDRAFT_ENV,
  version,
});
const resources = await openEngine({
  databaseUrl: config.DATABASE_URL,
  environment: config.UPDRAFT_ENV,
  logger,
  migrate: false,
  teamsFile: config.UPDRAFT_TEAMS_FILE,
  applicationName: 'updraft-scheduler',
  maxConnections: config.UPDRAFT_DB_POOL_SIZE,
  preparedStatements: config.UPDRAFT_DB_PREPARED_STATEMENTS,
  timetablePlugins: config.UPDRAFT_TIMETABLE_PLUGINS,
});
const processor = new DagProcessor(resources, {
  dagsFolder: config.UPDRAFT_DAGS_FOLDER,
  pauseNewDags: config.UPDRAFT_DAGS_PAUSED_AT_CREATION,
});
const scheduler = new Scheduler(resources, {
  loopIntervalMs: config.UPDRAFT_SCHEDULER_LOOP_MS,
  zombieThresholdMs: config.UPDRAFT_ZOMBIE_THRESHOLD_MS,
});

const sync = async () => {
  try {
    const report = await processor.sync();
    if (report.parsed > 0 || report.removedFiles > 0) logger.info(report, 'DAG files synced');
  } catch (error) {
    logger.error({ err: error }, 'DAG folder sync failed');
  }
};
await sync();
const syncTimer = setInterval(sync, config.UPDRAFT_DAG_SYNC_INTERVAL_MS);
await scheduler.start();

const stuckAfterMs = Math.max(60_000, config.UPDRAFT_SCHEDULER_LOOP_MS * 30);
const health = await serveApp(
  createHealthApp({
    component: 'scheduler',
    environment: config.UPDRAFT_ENV,
    version,
    database: resources.database,
    notReadyReason: () => {
      const last = scheduler.lastPassAt;
      return last && Date.now() - last.getTime() > stuckAfterMs
        ? `no scheduling pass since ${last.toISOString()}`
        : null;
    },
  }),
  { port: config.UPDRAFT_HEALTH_PORT, hostname: '0.0.0.0' },
);
logger.info({ healthPort: health.port }, 'scheduler ready');

onShutdown(logger, async () => {
  clearInterval(syncTimer);
  await scheduler.stop();
  await health.close();
  await resources.database.close();
});
