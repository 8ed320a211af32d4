/**
 * Comparing environments: normalise each rendered resource (environment name, project and
 * domain replaced by placeholders, secrets blanked, team ids abstracted), then diff the graphs.
 * A difference is accepted only at a path listed in CONFIG_DRIVEN — the values an environment's
 * config sets on purpose. Anything else is drift.
 */

import { COMPONENT_TYPES } from './components/naming.ts';
import type { EnvironmentConfig } from './config.ts';
import type { RecordedResource, RenderedEnvironment } from './render.ts';

/** Marker Pulumi puts on secret values in serialized inputs. */
export const SECRET_SIG = '4dabf18193072939515e22adb298388d';

export function isSecretValue(v: unknown): v is { value: unknown } {
  return typeof v === 'object' && v !== null && SECRET_SIG in v;
}

/** Removes secret wrappers, keeping the values (for policies that inspect inputs). */
export function unwrapSecrets(v: unknown): unknown {
  if (isSecretValue(v)) return unwrapSecrets(v.value);
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  }
  return v;
}

/**
 * Paths (per resource type) whose values come from the environment's config and so may differ.
 * A path is a list of keys; `*` matches any one key or array index; a pattern also covers
 * everything below it.
 */
export const CONFIG_DRIVEN: Record<string, string[][]> = {
  'gcp:compute/subnetwork:Subnetwork': [['ipCidrRange'], ['secondaryIpRanges', '*', 'ipCidrRange']],
  'gcp:compute/globalAddress:GlobalAddress': [['address'], ['prefixLength']],
  'gcp:container/cluster:Cluster': [
    ['location'],
    ['privateClusterConfig', 'masterIpv4CidrBlock'],
    ['masterAuthorizedNetworksConfig', 'cidrBlocks'],
    ['releaseChannel', 'channel'],
    ['deletionProtection'],
  ],
  'gcp:container/nodePool:NodePool': [
    ['location'],
    ['nodeCount'],
    ['initialNodeCount'],
    ['autoscaling'],
    ['nodeConfig', 'machineType'],
    ['nodeConfig', 'diskSizeGb'],
    ['nodeConfig', 'spot'],
  ],
  'gcp:sql/databaseInstance:DatabaseInstance': [
    ['region'],
    ['databaseVersion'],
    ['deletionProtection'],
    ['settings', 'tier'],
    ['settings', 'diskSize'],
    ['settings', 'availabilityType'],
    ['settings', 'deletionProtectionEnabled'],
    ['settings', 'backupConfiguration', 'transactionLogRetentionDays'],
    ['settings', 'backupConfiguration', 'backupRetentionSettings', 'retainedBackups'],
  ],
  'gcp:storage/bucket:Bucket': [
    ['location'],
    ['versioning', 'enabled'],
    ['lifecycleRules', '0', 'condition', 'age'],
  ],
  'kubernetes:core/v1:ConfigMap': [
    ['data', 'LOG_LEVEL'],
    ['data', 'UPDRAFT_VERSION'],
    ['data', 'UPDRAFT_WORKER_CONCURRENCY'],
    ['data', 'UPDRAFT_DAGS_FOLDER'],
    ['data', 'teams.yaml'],
  ],
  'kubernetes:apps/v1:Deployment': [
    ['spec', 'replicas'],
    ['spec', 'template', 'metadata', 'annotations', 'updraft.dev/config-hash'],
    ['spec', 'template', 'spec', 'containers', '*', 'image'],
    ['spec', 'template', 'spec', 'containers', '*', 'resources'],
  ],
  'kubernetes:batch/v1:Job': [
    ['metadata', 'name'],
    ['spec', 'template', 'spec', 'containers', '*', 'image'],
    ['spec', 'template', 'spec', 'containers', '*', 'resources'],
  ],
  'kubernetes:autoscaling/v2:HorizontalPodAutoscaler': [
    ['spec', 'minReplicas'],
    ['spec', 'maxReplicas'],
  ],
  'kubernetes:networking.k8s.io/v1:NetworkPolicy': [
    ['spec', 'egress', '*', 'to', '*', 'ipBlock', 'cidr'],
  ],
  'kubernetes:core/v1:ResourceQuota': [['spec', 'hard']],
  'kubernetes:core/v1:LimitRange': [
    ['spec', 'limits', '*', 'default'],
    ['spec', 'limits', '*', 'defaultRequest'],
  ],
};

export interface NormalizedResource {
  /** `type::name` with placeholders; the same resource in every environment has the same key. */
  key: string;
  type: string;
  /** Team id when the resource belongs to a Team component, else null. */
  team: string | null;
  inputs: unknown;
}

function substituter(cfg: EnvironmentConfig, teamId: string | null) {
  const pairs: [RegExp, string][] = [
    [new RegExp(escapeRegExp(cfg.gcpProject), 'g'), '<project>'],
    [new RegExp(escapeRegExp(cfg.domain), 'g'), '<domain>'],
    [new RegExp(`(?<![a-z0-9.])${escapeRegExp(cfg.env)}(?![a-z0-9])`, 'g'), '<env>'],
  ];
  const team = teamId === null ? undefined : cfg.teams.find((t) => t.id === teamId);
  if (team) {
    pairs.unshift([new RegExp(escapeRegExp(team.namespace), 'g'), '<team-namespace>']);
    pairs.push([new RegExp(`(?<![a-z0-9])${escapeRegExp(team.id)}(?![a-z0-9])`, 'g'), '<team>']);
    pairs.push([new RegExp(`^${escapeRegExp(team.name)}$`, 'g'), '<team-name>']);
  }
  return (s: string) => pairs.reduce((acc, [re, to]) => acc.replace(re, to), s);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function mapDeep(v: unknown, f: (s: string) => string): unknown {
  if (isSecretValue(v)) return '<secret>';
  if (typeof v === 'string') return f(v);
  if (Array.isArray(v)) return v.map((x) => mapDeep(x, f));
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [f(k), mapDeep(x, f)]));
  }
  return v;
}

/** The team a resource belongs to (a Team component or one of its children), or null. */
export function teamOf(r: RecordedResource, cfg: EnvironmentConfig): string | null {
  const inTeam = r.type === COMPONENT_TYPES.team || r.parentType === COMPONENT_TYPES.team;
  if (!inTeam) return null;
  const team = cfg.teams.find(
    (t) => r.name === `team-${t.id}` || r.name.startsWith(`team-${t.id}-`),
  );
  if (!team) throw new Error(`cannot tell the team of ${r.type} ${r.name}`);
  return team.id;
}

export function normalize(rendered: RenderedEnvironment): NormalizedResource[] {
  return rendered.resources.map((r) => {
    const team = teamOf(r, rendered.config);
    const f = substituter(rendered.config, team);
    return {
      key: `${r.type}::${f(r.name)}`,
      type: r.type,
      team,
      inputs: mapDeep(r.inputs, f),
    };
  });
}

/** Paths (lists of keys) where two values differ. */
export function diffPaths(a: unknown, b: unknown, path: string[] = []): string[][] {
  if (Object.is(a, b)) return [];
  const bothArrays = Array.isArray(a) && Array.isArray(b);
  const bothObjects =
    typeof a === 'object' &&
    a !== null &&
    typeof b === 'object' &&
    b !== null &&
    !Array.isArray(a) &&
    !Array.isArray(b);
  if (bothArrays) {
    if (a.length !== b.length) return [path];
    return a.flatMap((x, i) => diffPaths(x, b[i], [...path, String(i)]));
  }
  if (bothObjects) {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort();
    return keys.flatMap((k) => diffPaths(ao[k], bo[k], [...path, k]));
  }
  return [path];
}

function allowed(type: string, path: string[]): boolean {
  return (CONFIG_DRIVEN[type] ?? []).some(
    (pattern) =>
      pattern.length <= path.length && pattern.every((p, i) => p === '*' || p === path[i]),
  );
}

export interface Drift {
  /** Which resource (normalized key) and which inputs path. */
  resource: string;
  problem: string;
}

/**
 * Compares two environments. Non-team resources must match one to one; every team in both
 * environments must have the same set of resources as the first team of `a`. Returns the drift.
 */
export function compareEnvironments(a: RenderedEnvironment, b: RenderedEnvironment): Drift[] {
  const na = normalize(a);
  const nb = normalize(b);
  const drift: Drift[] = [];
  const where = (env: string) => `environment ${env}`;

  const platformA = new Map(na.filter((r) => r.team === null).map((r) => [r.key, r]));
  const platformB = new Map(nb.filter((r) => r.team === null).map((r) => [r.key, r]));
  for (const [key, ra] of platformA) {
    const rb = platformB.get(key);
    if (!rb) {
      drift.push({
        resource: key,
        problem: `exists in ${where(a.env)} but not in ${where(b.env)}`,
      });
      continue;
    }
    for (const path of diffPaths(ra.inputs, rb.inputs)) {
      if (!allowed(ra.type, path)) {
        drift.push({
          resource: key,
          problem: `input ${path.join('.') || '(root)'} differs between ${a.env} and ${b.env}`,
        });
      }
    }
  }
  for (const key of platformB.keys()) {
    if (!platformA.has(key))
      drift.push({
        resource: key,
        problem: `exists in ${where(b.env)} but not in ${where(a.env)}`,
      });
  }

  // Per-team resources follow each environment's team list, but every team gets the same set.
  const byTeam = (rs: NormalizedResource[], env: string) => {
    const m = new Map<string, Map<string, NormalizedResource>>();
    for (const r of rs) {
      if (r.team === null) continue;
      const k = `${env}/${r.team}`;
      if (!m.has(k)) m.set(k, new Map());
      m.get(k)?.set(r.key, r);
    }
    return m;
  };
  const teams = [...byTeam(na, a.env), ...byTeam(nb, b.env)];
  const reference = teams[0];
  if (reference) {
    const [refName, refSet] = reference;
    for (const [name, set] of teams.slice(1)) {
      for (const [key, r] of refSet) {
        const other = set.get(key);
        if (!other) {
          drift.push({ resource: key, problem: `team ${refName} has it, team ${name} does not` });
          continue;
        }
        for (const path of diffPaths(r.inputs, other.inputs)) {
          if (!allowed(r.type, path)) {
            drift.push({
              resource: key,
              problem: `input ${path.join('.')} differs between teams ${refName} and ${name}`,
            });
          }
        }
      }
      for (const key of set.keys()) {
        if (!refSet.has(key))
          drift.push({ resource: key, problem: `team ${name} has it, team ${refName} does not` });
      }
    }
  }
  return drift;
}

/** Resource count per type, with per-team resources counted per team. */
export function typeCounts(rendered: RenderedEnvironment): {
  platform: Record<string, number>;
  perTeam: Record<string, number>;
} {
  const platform: Record<string, number> = {};
  const perTeam: Record<string, number> = {};
  const teams = rendered.config.teams.length;
  for (const r of rendered.resources) {
    const target = teamOf(r, rendered.config) === null ? platform : perTeam;
    target[r.type] = (target[r.type] ?? 0) + 1;
  }
  for (const k of Object.keys(perTeam)) perTeam[k] = (perTeam[k] ?? 0) / teams;
  return { platform, perTeam };
}
