/**
 * Pieces of the apps' environment schemas. Each app declares its own zod schema from these and
 * parses process.env once at start-up; a bad variable stops the process with a message naming it.
 */
import { readFileSync } from 'node:fs';
import { environmentNameSchema } from '@updraft/core/environment';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const envFields = {
  UPDRAFT_ENV: environmentNameSchema.default('local'),
  /** The release this process runs (the platform sets the image tag); see releaseVersion. */
  UPDRAFT_VERSION: z
    .string()
    .optional()
    // Empty is unset (a templated manifest may leave it so).
    .transform((v) => v || undefined)
    .pipe(
      z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/, 'must be a release name such as an image tag')
        .optional(),
    ),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  UPDRAFT_TEAMS_FILE: z.string().min(1).optional(),
  UPDRAFT_DAGS_FOLDER: z.string().min(1),
  UPDRAFT_HEALTH_PORT: z.coerce.number().int().min(0).max(65535).default(8081),
  UPDRAFT_DAGS_PAUSED_AT_CREATION: bool.default(true),
  UPDRAFT_DAG_SYNC_INTERVAL_MS: z.coerce.number().int().min(100).default(5000),
  UPDRAFT_SCHEDULER_LOOP_MS: z.coerce.number().int().min(10).default(1000),
  UPDRAFT_ZOMBIE_THRESHOLD_MS: z.coerce.number().int().min(1000).default(60_000),
  UPDRAFT_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1024).default(16),
  UPDRAFT_WORKER_POLL_MS: z.coerce.number().int().min(10).default(2000),
  UPDRAFT_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(30_000),
  UPDRAFT_DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  /**
   * Named prepared statements (one round trip per statement, planned once per connection). Turn
   * off behind a pooler that cannot carry them (PgBouncer in transaction mode before 1.21).
   */
  UPDRAFT_DB_PREPARED_STATEMENTS: bool.default(true),
  /** Comma-separated timetable plugin modules (docs/concepts/schedules.md). */
  UPDRAFT_TIMETABLE_PLUGINS: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    ),
  /** A kubeconfig file: enables k8sPod tasks on workers. */
  KUBECONFIG: z
    .string()
    .optional()
    .transform((v) => v || undefined),
  /** A context of the kubeconfig (default its current-context); also enables k8sPod tasks. */
  UPDRAFT_KUBE_CONTEXT: z
    .string()
    .optional()
    .transform((v) => v || undefined),
  /** Use the pod's service account (a worker running in the cluster). */
  UPDRAFT_KUBE_IN_CLUSTER: bool.default(false),
  /** Image of task pods (shell and function tasks run with executor 'pod'). */
  UPDRAFT_TASK_RUNNER_IMAGE: z.string().min(1).default('updraft/task-runner:0.1.0'),
  /** Path of the updraft CLI inside the task-runner image. */
  UPDRAFT_TASK_RUNNER_CLI: z.string().min(1).default('/app/apps/cli/src/main.ts'),
  /** "secret/key" of the Kubernetes Secret holding DATABASE_URL for function tasks in pods. */
  UPDRAFT_TASK_POD_DATABASE_SECRET: z
    .string()
    .regex(/^[a-z0-9][-a-z0-9.]*\/[-._a-zA-Z0-9]+$/, 'must be "<secret name>/<key>"')
    .optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
} as const;

export class ConfigError extends Error {}

const PACKAGE_VERSION: string = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
).version;

/**
 * The release a process reports in /healthz and on every log line: UPDRAFT_VERSION where it is
 * set (the platform sets the image tag), else the version of the packages it runs from source.
 */
export function releaseVersion(configured: string | undefined): string {
  return configured ?? PACKAGE_VERSION;
}

/** Parses an environment with `schema`; throws ConfigError listing every bad variable. */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined>,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = issue.path.join('.');
    const value = env[name];
    const shown =
      value === undefined
        ? 'not set'
        : name.includes('URL') || name.includes('SECRET')
          ? 'set'
          : `"${value}"`;
    return `  ${name} (${shown}): ${issue.message}`;
  });
  return ((): never => {
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  })();
}
