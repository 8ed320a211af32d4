/**
 * updraft-worker: claims and runs task instances. Scale it out freely; on SIGTERM it stops
 * claiming and lets running tasks finish within UPDRAFT_SHUTDOWN_GRACE_MS.
 */
import { createHealthApp, serveApp } from '@updraft/api';
import { createLogger, envFields, openEngine, parseEnv, Worker } from '@updraft/engine';
import { z } from 'zod';

const config = parseEnv(
  z.object({
    UPDRAFT_ENV: envFields.UPDRAFT_ENV,
    LOG_LEVEL: envFields.LOG_LEVEL,
    DATABASE_URL: envFields.DATABASE_URL.unwrap(),
    UPDRAFT_HEALTH_PORT: envFields.UPDRAFT_HEALTH_PORT,
    UPDRAFT_WORKER_CONCURRENCY: envFields.UPDRAFT_WORKER_CONCURRENCY,
    UPDRAFT_WORKER_POLL_MS: envFields.UPDRAFT_WORKER_POLL_MS,
    UPDRAFT_SHUTDOWN_GRACE_MS: envFields.UPDRAFT_SHUTDOWN_GRACE_MS,
    UPDRAFT_DB_POOL_SIZE: envFields.UPDRAFT_DB_POOL_SIZE,
  }),
  process.env,
);

const logger = createLogger({
  level: config.LOG_LEVEL,
  component: 'worker',
  environment: config.UPDRAFT_ENV,
});
const resources = await openEngine({
  databaseUrl: config.DATABASE_URL,
  environment: config.UPDRAFT_ENV,
  logger,
  migrate: false,
  applicationName: 'updraft-worker',
  maxConnections: config.UPDRAFT_DB_POOL_SIZE,
});
const worker = new Worker(resources, {
  concurrency: config.UPDRAFT_WORKER_CONCURRENCY,
  pollIntervalMs: config.UPDRAFT_WORKER_POLL_MS,
  shutdownGraceMs: config.UPDRAFT_SHUTDOWN_GRACE_MS,
});
await worker.start();
const health = await serveApp(
  createHealthApp({
    component: 'worker',
    environment: config.UPDRAFT_ENV,
    database: resources.database,
  }),
  { port: config.UPDRAFT_HEALTH_PORT, hostname: '0.0.0.0' },
);
logger.info({ healthPort: health.port }, 'worker ready');

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, async () => {
    logger.info({ signal }, 'shutting down');
    await worker.stop();
    await health.close();
    await resources.database.close();
    process.exit(0);
  });
}
