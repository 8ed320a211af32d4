/** updraft-api: the REST API and web UI. Stateless; scale it behind a load balancer. */
import { createApp, serveApp } from '@updraft/api';
import {
  createLogger,
  envFields,
  onShutdown,
  openEngine,
  parseEnv,
  releaseVersion,
} from '@updraft/engine';
import { z } from 'zod';

const config = parseEnv(
  z.object({
    UPDRAFT_ENV: envFields.UPDRAFT_ENV,
    UPDRAFT_VERSION: envFields.UPDRAFT_VERSION,
    LOG_LEVEL: envFields.LOG_LEVEL,
    DATABASE_URL: envFields.DATABASE_URL.unwrap(),
    UPDRAFT_TEAMS_FILE: envFields.UPDRAFT_TEAMS_FILE,
    PORT: envFields.PORT,
    HOST: envFields.HOST,
    UPDRAFT_DB_POOL_SIZE: envFields.UPDRAFT_DB_POOL_SIZE,
    UPDRAFT_DB_PREPARED_STATEMENTS: envFields.UPDRAFT_DB_PREPARED_STATEMENTS,
    UPDRAFT_TIMETABLE_PLUGINS: envFields.UPDRAFT_TIMETABLE_PLUGINS,
  }),
  process.env,
);

const version = releaseVersion(config.UPDRAFT_VERSION);
const logger = createLogger({
  level: config.LOG_LEVEL,
  component: 'api',
  environment: config.UPDRAFT_ENV,
  version,
});
const resources = await openEngine({
  databaseUrl: config.DATABASE_URL,
  environment: config.UPDRAFT_ENV,
  logger,
  migrate: false,
  teamsFile: config.UPDRAFT_TEAMS_FILE,
  applicationName: 'updraft-api',
  maxConnections: config.UPDRAFT_DB_POOL_SIZE,
  preparedStatements: config.UPDRAFT_DB_PREPARED_STATEMENTS,
  timetablePlugins: config.UPDRAFT_TIMETABLE_PLUGINS,
});
const server = await serveApp(createApp(resources, { component: 'api', version }), {
  port: config.PORT,
  hostname: config.HOST,
});
logger.info({ port: server.port }, 'api ready');

onShutdown(logger, async () => {
  await server.close();
  await resources.database.close();
});
