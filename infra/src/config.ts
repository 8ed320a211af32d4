/**
 * The one place that reads and validates stack configuration.
 *
 * Everything that may differ between dev, QA and prod lives in `environments/<env>/`:
 * - `Pulumi.<env>.yaml` — the Pulumi stack settings file, keys in the `updraft:` namespace
 *   (sizes, replica counts, domains, network ranges) plus the two secrets, set with
 *   `pulumi config set --secret`;
 * - `teams.yaml` — the teams the environment hosts (schema owned by `@updraft/core/environment`).
 *
 * `loadEnvironmentConfig` is pure: it takes the raw key → string map that Pulumi hands a program
 * (structured values arrive as JSON strings) and the text of `teams.yaml`, and returns a typed
 * config or throws a `ConfigError` whose message names the environment and every bad key.
 */
import { type Team, teamsFileSchema } from '@updraft/core/environment';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export const CONFIG_NAMESPACE = 'updraft';
export const DEPLOYED_ENVIRONMENTS = ['dev', 'qa', 'prod'] as const;
export type DeployedEnvironment = (typeof DEPLOYED_ENVIRONMENTS)[number];
/** Config keys whose values are secrets: wrapped in `pulumi.secret` and never printed. */
export const SECRET_KEYS = ['dbPassword', 'secretKey'] as const;

export class ConfigError extends Error {
  readonly environment: string;
  readonly issues: readonly string[];
  constructor(environment: string, issues: readonly string[]) {
    super(
      `Invalid infrastructure config for environment "${environment}":\n${issues.map((i) => `  - ${i}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.environment = environment;
    this.issues = issues;
  }
}

// --- value helpers: Pulumi passes top-level scalars as strings, nested ones keep their JSON type.
const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v),
    z.number().int().min(min).max(max),
  );
const boolean = z.preprocess(
  (v) => (v === 'true' ? true : v === 'false' ? false : v),
  z.boolean({ error: 'must be true or false' }),
);
const cidr = z
  .string()
  .regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'must be an IPv4 CIDR like "10.0.0.0/20"')
  .refine(
    (v) => {
      const [ip = '', bits = ''] = v.split('/');
      return ip.split('.').every((o) => Number(o) <= 255) && Number(bits) <= 32;
    },
    { error: 'must be a valid IPv4 CIDR' },
  );
const quantity = z
  .string()
  .regex(
    /^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$/,
    'must be a Kubernetes quantity like "500m" or "1Gi"',
  );
const resources = z.strictObject({
  requests: z.strictObject({ cpu: quantity, memory: quantity }),
  limits: z.strictObject({ cpu: quantity.optional(), memory: quantity }),
});
const machineType = z
  .string()
  .regex(/^[a-z0-9]+-[a-z0-9-]+$/, 'must be a machine type like "e2-standard-4"');

/** The schema of every `updraft:` key. Unknown keys are rejected so that typos fail loudly. */
export const stackConfigSchema = z.strictObject({
  /** GCP project id the environment lives in (one project per environment). */
  gcpProject: z
    .string()
    .regex(
      /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/,
      'must be a GCP project id (6-30 lowercase letters, digits, dashes)',
    ),
  region: z.string().regex(/^[a-z]+-[a-z]+\d+$/, 'must be a GCP region like "europe-west1"'),
  /** Region (regional cluster, the default) or zone (zonal cluster) of the GKE control plane. */
  clusterLocation: z
    .string()
    .regex(/^[a-z]+-[a-z]+\d+(-[a-z])?$/, 'must be a GCP region or zone')
    .optional(),
  /** Public hostname of the API; a Google-managed certificate is issued for it. */
  domain: z
    .string()
    .regex(
      /^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$/,
      'must be a DNS name like "updraft.example.com"',
    ),
  network: z.strictObject({
    subnetCidr: cidr,
    podsCidr: cidr,
    servicesCidr: cidr,
    /** /28 for the GKE control plane's private endpoint. */
    masterCidr: cidr.refine((v) => v.endsWith('/28'), { error: 'must be a /28' }),
    /** Range reserved for private services access (Cloud SQL private IP). */
    privateServicesCidr: cidr,
  }),
  /** Who may reach the Kubernetes API (office / VPN / CI egress ranges). */
  masterAuthorizedNetworks: z
    .array(z.strictObject({ name: z.string().min(1), cidr }))
    .min(1, 'must list at least one network allowed to reach the Kubernetes API'),
  cluster: z.strictObject({
    releaseChannel: z.enum(['RAPID', 'REGULAR', 'STABLE']),
    deletionProtection: boolean,
  }),
  systemPool: z.strictObject({
    machineType,
    nodesPerZone: integer(1, 10),
    diskSizeGb: integer(20, 2000),
  }),
  taskPool: z
    .strictObject({
      machineType,
      minNodesPerZone: integer(0, 100),
      maxNodesPerZone: integer(1, 1000),
      spot: boolean,
      diskSizeGb: integer(20, 2000),
    })
    .refine((p) => p.maxNodesPerZone >= p.minNodesPerZone, {
      error: 'maxNodesPerZone must be >= minNodesPerZone',
      path: ['maxNodesPerZone'],
    }),
  database: z.strictObject({
    tier: z.string().regex(/^db-[a-z0-9-]+$/, 'must be a Cloud SQL tier like "db-custom-2-7680"'),
    postgresVersion: z.enum(['POSTGRES_15', 'POSTGRES_16', 'POSTGRES_17']),
    diskSizeGb: integer(10, 65536),
    highAvailability: boolean,
    deletionProtection: boolean,
    retainedBackups: integer(1, 365),
    transactionLogRetentionDays: integer(1, 7),
  }),
  taskLogs: z.strictObject({
    versioning: boolean,
    retentionDays: integer(1, 3650),
  }),
  apps: z.strictObject({
    /** Image tag deployed for scheduler, worker, api and the migration Job. */
    imageTag: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be a lowercase image tag'),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']),
    dagsFolder: z.string().startsWith('/', 'must be an absolute path'),
    scheduler: z.strictObject({ replicas: integer(2, 10), resources }),
    worker: z
      .strictObject({
        minReplicas: integer(1, 100),
        maxReplicas: integer(1, 500),
        concurrency: integer(1, 1000),
        resources,
      })
      .refine((w) => w.maxReplicas >= w.minReplicas, {
        error: 'maxReplicas must be >= minReplicas',
        path: ['maxReplicas'],
      }),
    api: z.strictObject({ replicas: integer(2, 50), resources }),
    migrate: z.strictObject({ resources }),
  }),
  /** LimitRange defaults for teams whose teams.yaml entry sets no defaultContainerResources. */
  teamDefaults: z.strictObject({ cpu: quantity, memory: quantity }),
  dbPassword: z.string().min(16, 'must be at least 16 characters (set it with --secret)'),
  secretKey: z.string().min(32, 'must be at least 32 characters (set it with --secret)'),
});
export type StackConfig = z.infer<typeof stackConfigSchema>;

export interface EnvironmentConfig extends Omit<StackConfig, 'clusterLocation'> {
  env: DeployedEnvironment;
  clusterLocation: string;
  teams: Team[];
}

function parseValue(raw: string): unknown {
  const t = raw.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return JSON.parse(t);
    } catch {
      return raw; // the schema reports the wrong type with the key's name
    }
  }
  return raw;
}

const formatPath = (prefix: string, path: readonly PropertyKey[]) =>
  path.length === 0
    ? prefix
    : `${prefix}${prefix.endsWith(':') ? '' : '.'}${path.map(String).join('.')}`;

/**
 * Validates the raw Pulumi config (`{ "updraft:region": "europe-west1", ... }`) and the text of
 * `environments/<env>/teams.yaml`. Keys in other namespaces (`gcp:`, `pulumi:`) are ignored.
 */
export function loadEnvironmentConfig(
  environment: string,
  rawConfig: Readonly<Record<string, string>>,
  teamsYaml: string,
): EnvironmentConfig {
  const envCheck = z.enum(DEPLOYED_ENVIRONMENTS).safeParse(environment);
  if (!envCheck.success) {
    throw new ConfigError(environment, [
      `stack name: must be one of ${DEPLOYED_ENVIRONMENTS.join(', ')} (the stack is named after its environment)`,
    ]);
  }
  const env = envCheck.data;
  const issues: string[] = [];

  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rawConfig)) {
    const [ns, ...rest] = key.split(':');
    if (ns !== CONFIG_NAMESPACE) continue;
    values[rest.join(':')] = parseValue(value);
  }
  const parsed = stackConfigSchema.safeParse(values);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) {
          issues.push(`${formatPath(`${CONFIG_NAMESPACE}:`, [...issue.path, k])}: unknown key`);
        }
        continue;
      }
      const missing = issue.code === 'invalid_type' && issue.message.includes('received undefined');
      issues.push(
        `${formatPath(`${CONFIG_NAMESPACE}:`, issue.path)}: ${missing ? 'is required' : issue.message}`,
      );
    }
  }

  let teams: Team[] = [];
  const teamsFile = `environments/${env}/teams.yaml`;
  let teamsDoc: unknown;
  try {
    teamsDoc = parseYaml(teamsYaml);
  } catch (err) {
    issues.push(`${teamsFile}: not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  if (teamsDoc !== undefined) {
    const t = teamsFileSchema.safeParse(teamsDoc);
    if (t.success) teams = t.data.teams;
    else
      for (const i of t.error.issues)
        issues.push(`${teamsFile}: ${i.path.join('.')}: ${i.message}`);
  }

  if (issues.length > 0 || !parsed.success) throw new ConfigError(env, issues);
  const { clusterLocation, ...rest } = parsed.data;
  const namespaces = new Set<string>();
  for (const team of teams) {
    if (team.namespace === PLATFORM_NAMESPACE || namespaces.has(team.namespace)) {
      issues.push(
        `${teamsFile}: team "${team.id}": namespace "${team.namespace}" is already in use`,
      );
    }
    namespaces.add(team.namespace);
  }
  if (issues.length > 0) throw new ConfigError(env, issues);
  return { ...rest, env, clusterLocation: clusterLocation ?? rest.region, teams };
}

/** Namespace of the platform itself (scheduler, worker, api). */
export const PLATFORM_NAMESPACE = 'updraft';
