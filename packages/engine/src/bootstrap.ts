/**
 * Shared start-up pieces for the apps: a logger that names the component and environment, reading
 * the environment's teams file, and opening the database with the engine's resources.
 */
import { readFile } from 'node:fs/promises';
import { type EnvironmentName, type TeamsFile, teamsFileSchema } from '@updraft/core/environment';
import {
  type DatabaseHandle,
  databaseError,
  migrateDatabase,
  openDatabase,
  waitForDatabase,
} from '@updraft/db';
import pino, { type Logger, type LoggerOptions as LoggerOptionsOfPino } from 'pino';
import { parse } from 'yaml';
import { declarePools } from './pools.ts';
import { EngineEvents, type EngineResources, systemClock } from './resources.ts';
import { syncTeams } from './teams.ts';
import { loadTimetablePlugins } from './timetables.ts';

export interface LoggerOptions {
  level: string;
  component: string;
  environment: EnvironmentName;
  /** The release (releaseVersion), on every line so logs of a rollout tell old pods from new. */
  version?: string | undefined;
  /** Human-readable output (standalone on a terminal). */
  pretty?: boolean;
  /** Write to stderr, leaving stdout to a command's own output (`dags test`). */
  stderr?: boolean;
}

/** Every log line carries component, environment and release; secrets are redacted by key. */
export function createLogger(opts: LoggerOptions): Logger {
  const options: LoggerOptionsOfPino = {
    level: opts.level,
    base: {
      component: opts.component,
      environment: opts.environment,
      ...(opts.version && { version: opts.version }),
    },
    redact: {
      // At the top of a line's object and one level down (`{ err }`, `{ config }`).
      paths: [
        'password',
        'token',
        'secret',
        'authorization',
        'databaseUrl',
        'DATABASE_URL',
      ].flatMap((key) => [key, `*.${key}`]),
      censor: '***',
    },
    ...(opts.pretty && {
      transport: {
        target: 'pino-pretty',
        options: {
          colorize: true,
          ignore: 'pid,hostname,component,version',
          translateTime: 'HH:MM:ss',
          ...(opts.stderr && { destination: 2 }),
        },
      },
    }),
  };
  return opts.stderr && !opts.pretty ? pino(options, pino.destination(2)) : pino(options);
}

export async function loadTeamsFile(path: string): Promise<TeamsFile> {
  let raw: unknown;
  try {
    raw = parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read teams file ${path}: ${(error as Error).message}`);
  }
  const result = teamsFileSchema.safeParse(raw);
  if (!result.success) {
    throw new Error(
      `invalid teams file ${path}: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return result.data;
}

export interface OpenEngineOptions {
  databaseUrl?: string | undefined;
  /** PGlite data directory when no database URL is given. */
  dataDir?: string | undefined;
  environment: EnvironmentName;
  logger: Logger;
  /** Apply migrations (standalone and tests); production runs `updraft db migrate` as a Job. */
  migrate: boolean;
  teamsFile?: string | undefined;
  applicationName?: string;
  maxConnections?: number;
  /** Named prepared statements on PostgreSQL (default true; UPDRAFT_DB_PREPARED_STATEMENTS). */
  preparedStatements?: boolean;
  /** Timetable plugin modules (UPDRAFT_TIMETABLE_PLUGINS; docs/concepts/schedules.md). */
  timetablePlugins?: readonly string[];
  /** How long to wait for a PostgreSQL that does not answer yet before giving up (default 2 min). */
  startupWaitMs?: number;
}

/** Removes the password from a database URL for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

export async function openEngine(opts: OpenEngineOptions): Promise<EngineResources> {
  const where = opts.databaseUrl
    ? redactUrl(opts.databaseUrl)
    : `PGlite at ${opts.dataDir ?? 'memory'}`;
  let opened: DatabaseHandle | undefined;
  try {
    opened = await openDatabase({
      url: opts.databaseUrl,
      dataDir: opts.dataDir,
      applicationName: opts.applicationName,
      maxConnections: opts.maxConnections,
      preparedStatements: opts.preparedStatements,
    });
    // PostgreSQL may not answer yet (a cluster coming up, a failover): wait for it.
    if (opened.kind === 'postgres') {
      await waitForDatabase(opened, {
        timeoutMs: opts.startupWaitMs ?? 120_000,
        onRetry: (error, retryInMs) =>
          opts.logger.warn(
            { database: where, reason: databaseError(error).message, retryInMs },
            'waiting for the database',
          ),
      });
    }
  } catch (error) {
    await opened?.close().catch(() => {});
    throw new Error(`cannot open the database (${where}): ${(error as Error).message}`);
  }
  const database = opened;
  if (opts.migrate) await migrateDatabase(database);
  const resources: EngineResources = {
    database,
    clock: systemClock,
    logger: opts.logger,
    events: new EngineEvents(),
    environment: opts.environment,
  };
  if (opts.timetablePlugins && opts.timetablePlugins.length > 0) {
    resources.timetables = await loadTimetablePlugins(opts.timetablePlugins);
  }
  if (opts.teamsFile) {
    const teams = await loadTeamsFile(opts.teamsFile);
    await syncTeams(resources, teams.teams);
    await declarePools(database.db, teams.pools);
  }
  return resources;
}

/**
 * Runs `stop` on the first SIGTERM or SIGINT, then exits (0 when it finished, 1 when it failed).
 * A second signal ends the process at once.
 */
export function onShutdown(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      stop().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}
