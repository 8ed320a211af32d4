/**
 * Security and operability policies over a rendered environment (the same graph `pulumi up`
 * would send to the engine). Each policy returns its violations; none means compliant.
 * Run by the tests for every environment and by `pnpm infra check --env <env>`.
 */
import { SECRET_SIG, unwrapSecrets } from './graph.ts';
import type { RecordedResource, RenderedEnvironment } from './render.ts';

export interface Violation {
  policy: string;
  resource: string;
  message: string;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const get = (v: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((acc, k) => obj(acc)[k], v);

const T = {
  cluster: 'gcp:container/cluster:Cluster',
  nodePool: 'gcp:container/nodePool:NodePool',
  sql: 'gcp:sql/databaseInstance:DatabaseInstance',
  bucket: 'gcp:storage/bucket:Bucket',
  namespace: 'kubernetes:core/v1:Namespace',
  quota: 'kubernetes:core/v1:ResourceQuota',
  limitRange: 'kubernetes:core/v1:LimitRange',
  networkPolicy: 'kubernetes:networking.k8s.io/v1:NetworkPolicy',
  deployment: 'kubernetes:apps/v1:Deployment',
  job: 'kubernetes:batch/v1:Job',
  pdb: 'kubernetes:policy/v1:PodDisruptionBudget',
  clusterRoleBinding: 'kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding',
  roleBinding: 'kubernetes:rbac.authorization.k8s.io/v1:RoleBinding',
} as const;
const WORKLOAD_TYPES = new Set<string>([
  T.deployment,
  T.job,
  'kubernetes:apps/v1:StatefulSet',
  'kubernetes:apps/v1:DaemonSet',
  'kubernetes:batch/v1:CronJob',
]);

interface Ctx {
  env: string;
  resources: (RecordedResource & { in: Obj })[];
  of(type: string): (RecordedResource & { in: Obj })[];
  secrets: string[];
}

type Policy = {
  id: string;
  description: string;
  check(ctx: Ctx, fail: (r: RecordedResource, m: string) => void): void;
};

/** Node configs of the cluster (the default pool it creates) and of every node pool. */
function nodeConfigs(ctx: Ctx) {
  return [...ctx.of(T.cluster), ...ctx.of(T.nodePool)].map((r) => ({
    r,
    nc: obj(r.in.nodeConfig),
  }));
}

function podSpecOf(r: { type: string; in: Obj }): Obj {
  if (r.type === 'kubernetes:batch/v1:CronJob')
    return obj(get(r.in, 'spec', 'jobTemplate', 'spec', 'template', 'spec'));
  return obj(get(r.in, 'spec', 'template', 'spec'));
}

export const POLICIES: Policy[] = [
  {
    id: 'gke-private-nodes',
    description: 'GKE nodes have no public IPs',
    check(ctx, fail) {
      for (const r of ctx.of(T.cluster)) {
        if (get(r.in, 'privateClusterConfig', 'enablePrivateNodes') !== true)
          fail(r, 'privateClusterConfig.enablePrivateNodes must be true');
      }
    },
  },
  {
    id: 'gke-workload-identity',
    description: 'Workload identity on the cluster and the GKE metadata server on every node',
    check(ctx, fail) {
      for (const r of ctx.of(T.cluster)) {
        const pool = get(r.in, 'workloadIdentityConfig', 'workloadPool');
        if (typeof pool !== 'string' || !pool.endsWith('.svc.id.goog'))
          fail(r, 'workloadIdentityConfig.workloadPool must be <project>.svc.id.goog');
      }
      for (const { r, nc } of nodeConfigs(ctx)) {
        if (get(nc, 'workloadMetadataConfig', 'mode') !== 'GKE_METADATA')
          fail(r, 'nodeConfig.workloadMetadataConfig.mode must be GKE_METADATA');
      }
    },
  },
  {
    id: 'gke-shielded-nodes',
    description: 'Shielded nodes with secure boot and integrity monitoring',
    check(ctx, fail) {
      for (const r of ctx.of(T.cluster))
        if (r.in.enableShieldedNodes !== true) fail(r, 'enableShieldedNodes must be true');
      for (const { r, nc } of nodeConfigs(ctx)) {
        const s = obj(nc.shieldedInstanceConfig);
        if (s.enableSecureBoot !== true || s.enableIntegrityMonitoring !== true) {
          fail(r, 'nodeConfig.shieldedInstanceConfig needs secure boot and integrity monitoring');
        }
      }
    },
  },
  {
    id: 'gke-network-policy',
    description: 'NetworkPolicy enforcement is on',
    check(ctx, fail) {
      for (const r of ctx.of(T.cluster)) {
        if (
          get(r.in, 'networkPolicy', 'enabled') !== true ||
          get(r.in, 'addonsConfig', 'networkPolicyConfig', 'disabled') !== false
        ) {
          fail(r, 'networkPolicy.enabled and the networkPolicyConfig add-on must be on');
        }
      }
    },
  },
  {
    id: 'gke-release-channel',
    description: 'The cluster follows a release channel',
    check(ctx, fail) {
      for (const r of ctx.of(T.cluster)) {
        if (
          !['RAPID', 'REGULAR', 'STABLE'].includes(String(get(r.in, 'releaseChannel', 'channel')))
        )
          fail(r, 'releaseChannel.channel must be RAPID, REGULAR or STABLE');
      }
    },
  },
  {
    id: 'gke-control-plane-access',
    description: 'Master authorized networks; no legacy ABAC, basic auth or client certificates',
    check(ctx, fail) {
      for (const r of ctx.of(T.cluster)) {
        const blocks = arr(get(r.in, 'masterAuthorizedNetworksConfig', 'cidrBlocks'));
        if (blocks.length === 0)
          fail(r, 'masterAuthorizedNetworksConfig.cidrBlocks must list the allowed networks');
        if (blocks.some((b) => get(b, 'cidrBlock') === '0.0.0.0/0'))
          fail(r, 'master authorized networks must not include 0.0.0.0/0');
        if (r.in.enableLegacyAbac === true) fail(r, 'enableLegacyAbac must be false');
        const auth = obj(r.in.masterAuth);
        if (get(auth, 'clientCertificateConfig', 'issueClientCertificate') !== false)
          fail(r, 'masterAuth must not issue client certificates');
        if (auth.username !== undefined || auth.password !== undefined)
          fail(r, 'masterAuth must not use basic auth');
      }
    },
  },
  {
    id: 'gke-logging-monitoring',
    description: 'Cloud Logging (system + workloads) and Cloud Monitoring are on',
    check(ctx, fail) {
      for (const r of ctx.of(T.cluster)) {
        const logs = arr(get(r.in, 'loggingConfig', 'enableComponents'));
        const metrics = arr(get(r.in, 'monitoringConfig', 'enableComponents'));
        if (!logs.includes('SYSTEM_COMPONENTS') || !logs.includes('WORKLOADS'))
          fail(r, 'loggingConfig must enable SYSTEM_COMPONENTS and WORKLOADS');
        if (!metrics.includes('SYSTEM_COMPONENTS'))
          fail(r, 'monitoringConfig must enable SYSTEM_COMPONENTS');
        if (r.in.loggingService === 'none' || r.in.monitoringService === 'none')
          fail(r, 'logging/monitoring service must not be "none"');
      }
    },
  },
  {
    id: 'gke-no-default-service-account',
    description: 'Nodes run as a dedicated service account, never the default compute account',
    check(ctx, fail) {
      for (const { r, nc } of nodeConfigs(ctx)) {
        const sa = nc.serviceAccount;
        if (
          typeof sa !== 'string' ||
          sa === '' ||
          sa === 'default' ||
          sa.endsWith('-compute@developer.gserviceaccount.com')
        ) {
          fail(r, 'nodeConfig.serviceAccount must be a dedicated service account');
        }
      }
    },
  },
  {
    id: 'sql-private-ip',
    description: 'Cloud SQL has only a private IP and requires TLS',
    check(ctx, fail) {
      for (const r of ctx.of(T.sql)) {
        const ip = obj(get(r.in, 'settings', 'ipConfiguration'));
        if (ip.ipv4Enabled !== false)
          fail(r, 'settings.ipConfiguration.ipv4Enabled must be false (no public IP)');
        if (typeof ip.privateNetwork !== 'string' || ip.privateNetwork === '')
          fail(r, 'settings.ipConfiguration.privateNetwork must be set');
        if (!['ENCRYPTED_ONLY', 'TRUSTED_CLIENT_CERTIFICATE_REQUIRED'].includes(String(ip.sslMode)))
          fail(r, 'settings.ipConfiguration.sslMode must require TLS');
      }
    },
  },
  {
    id: 'sql-backups',
    description: 'Cloud SQL backups and point-in-time recovery are on',
    check(ctx, fail) {
      for (const r of ctx.of(T.sql)) {
        const b = obj(get(r.in, 'settings', 'backupConfiguration'));
        if (b.enabled !== true) fail(r, 'settings.backupConfiguration.enabled must be true');
        if (b.pointInTimeRecoveryEnabled !== true)
          fail(r, 'settings.backupConfiguration.pointInTimeRecoveryEnabled must be true');
      }
    },
  },
  {
    id: 'bucket-uniform-access',
    description: 'Buckets use uniform bucket-level access and block public access',
    check(ctx, fail) {
      for (const r of ctx.of(T.bucket)) {
        if (r.in.uniformBucketLevelAccess !== true)
          fail(r, 'uniformBucketLevelAccess must be true');
        if (r.in.publicAccessPrevention !== 'enforced')
          fail(r, 'publicAccessPrevention must be "enforced"');
      }
    },
  },
  {
    id: 'prod-protection',
    description: 'In prod: deletion protection on cluster and database, database highly available',
    check(ctx, fail) {
      if (ctx.env !== 'prod') return;
      for (const r of ctx.of(T.sql)) {
        if (
          r.in.deletionProtection !== true ||
          get(r.in, 'settings', 'deletionProtectionEnabled') !== true
        ) {
          fail(r, 'prod database needs deletionProtection and settings.deletionProtectionEnabled');
        }
        if (get(r.in, 'settings', 'availabilityType') !== 'REGIONAL')
          fail(r, 'prod database must be REGIONAL (high availability)');
      }
      for (const r of ctx.of(T.cluster))
        if (r.in.deletionProtection !== true) fail(r, 'prod cluster needs deletionProtection');
    },
  },
  {
    id: 'team-namespace-quota',
    description: 'Every team namespace has a ResourceQuota and a LimitRange',
    check(ctx, fail) {
      const inNs = (type: string, ns: unknown) =>
        ctx.of(type).filter((x) => get(x.in, 'metadata', 'namespace') === ns);
      for (const r of ctx.of(T.namespace)) {
        if (get(r.in, 'metadata', 'labels', 'updraft.dev/team') === undefined) continue;
        const ns = get(r.in, 'metadata', 'name');
        const quotas = inNs(T.quota, ns);
        const hard = obj(get(quotas[0]?.in, 'spec', 'hard'));
        if (
          !['requests.cpu', 'requests.memory', 'pods'].every((k) => typeof hard[k] === 'string')
        ) {
          fail(
            r,
            `namespace ${String(ns)} needs a ResourceQuota on requests.cpu, requests.memory and pods`,
          );
        }
        if (inNs(T.limitRange, ns).length === 0)
          fail(r, `namespace ${String(ns)} needs a LimitRange`);
      }
    },
  },
  {
    id: 'namespace-default-deny',
    description: 'Every namespace denies all ingress and egress by default',
    check(ctx, fail) {
      for (const r of ctx.of(T.namespace)) {
        const ns = get(r.in, 'metadata', 'name');
        const denies = ctx.of(T.networkPolicy).some((p) => {
          const spec = obj(p.in.spec);
          const types = arr(spec.policyTypes);
          return (
            get(p.in, 'metadata', 'namespace') === ns &&
            Object.keys(obj(spec.podSelector)).length === 0 &&
            types.includes('Ingress') &&
            types.includes('Egress') &&
            spec.ingress === undefined &&
            spec.egress === undefined
          );
        });
        if (!denies) fail(r, `namespace ${String(ns)} needs a default-deny NetworkPolicy`);
      }
    },
  },
  {
    id: 'non-root-containers',
    description: 'Workload containers run as non-root without privilege escalation',
    check(ctx, fail) {
      for (const r of ctx.resources.filter((x) => WORKLOAD_TYPES.has(x.type))) {
        const spec = podSpecOf(r);
        const podNonRoot = get(spec, 'securityContext', 'runAsNonRoot') === true;
        for (const c of [...arr(spec.containers), ...arr(spec.initContainers)]) {
          const sc = obj(get(c, 'securityContext'));
          const name = String(get(c, 'name'));
          if (!(sc.runAsNonRoot === true || (podNonRoot && sc.runAsNonRoot !== false)))
            fail(r, `container ${name} must run as non-root`);
          if (sc.runAsUser === 0) fail(r, `container ${name} must not run as uid 0`);
          if (sc.allowPrivilegeEscalation !== false)
            fail(r, `container ${name} must set allowPrivilegeEscalation: false`);
          if (sc.privileged === true) fail(r, `container ${name} must not be privileged`);
        }
        if (get(spec, 'securityContext', 'runAsUser') === 0) fail(r, 'pod must not run as uid 0');
      }
    },
  },
  {
    id: 'deployment-probes',
    description: 'Every Deployment container has liveness and readiness probes',
    check(ctx, fail) {
      for (const r of ctx.of(T.deployment)) {
        for (const c of arr(podSpecOf(r).containers)) {
          if (get(c, 'livenessProbe') === undefined)
            fail(r, `container ${String(get(c, 'name'))} needs a livenessProbe`);
          if (get(c, 'readinessProbe') === undefined)
            fail(r, `container ${String(get(c, 'name'))} needs a readinessProbe`);
        }
      }
    },
  },
  {
    id: 'container-resources',
    description: 'Every workload container requests CPU and memory and limits memory',
    check(ctx, fail) {
      for (const r of ctx.resources.filter((x) => WORKLOAD_TYPES.has(x.type))) {
        for (const c of arr(podSpecOf(r).containers)) {
          const res = obj(get(c, 'resources'));
          if (
            get(res, 'requests', 'cpu') === undefined ||
            get(res, 'requests', 'memory') === undefined ||
            get(res, 'limits', 'memory') === undefined
          ) {
            fail(
              r,
              `container ${String(get(c, 'name'))} needs cpu/memory requests and a memory limit`,
            );
          }
        }
      }
    },
  },
  {
    id: 'platform-availability',
    description: 'At least two schedulers and api replicas, a PodDisruptionBudget per Deployment',
    check(ctx, fail) {
      for (const r of ctx.of(T.deployment)) {
        const name = String(get(r.in, 'metadata', 'name'));
        const replicas = get(r.in, 'spec', 'replicas');
        if (
          ['updraft-scheduler', 'updraft-api'].includes(name) &&
          !(typeof replicas === 'number' && replicas >= 2)
        ) {
          fail(r, `${name} needs at least 2 replicas`);
        }
        const hasPdb = ctx.of(T.pdb).some((p) => get(p.in, 'metadata', 'name') === name);
        if (!hasPdb) fail(r, `${name} needs a PodDisruptionBudget`);
      }
    },
  },
  {
    id: 'worker-rbac-scoped',
    description: 'The worker is granted pod access only in team namespaces, never cluster-wide',
    check(ctx, fail) {
      const teamNamespaces = new Set(
        ctx
          .of(T.namespace)
          .filter((n) => get(n.in, 'metadata', 'labels', 'updraft.dev/team') !== undefined)
          .map((n) => get(n.in, 'metadata', 'name')),
      );
      const isWorker = (s: unknown) =>
        get(s, 'kind') === 'ServiceAccount' && get(s, 'name') === 'updraft-worker';
      for (const r of ctx.of(T.clusterRoleBinding)) {
        if (arr(r.in.subjects).some(isWorker))
          fail(r, 'the worker must not have a ClusterRoleBinding');
      }
      for (const r of ctx.of(T.roleBinding)) {
        if (
          arr(r.in.subjects).some(isWorker) &&
          !teamNamespaces.has(get(r.in, 'metadata', 'namespace'))
        ) {
          fail(r, 'the worker may be bound only in team namespaces');
        }
      }
    },
  },
  {
    id: 'explicit-providers',
    description: 'Every cloud and Kubernetes resource uses the environment’s explicit provider',
    check(ctx, fail) {
      for (const r of ctx.resources) {
        if (!r.custom || r.type.startsWith('pulumi:providers:')) continue;
        if (r.provider === null || r.provider.includes('::default'))
          fail(r, 'must use an explicit provider, not a default one');
      }
    },
  },
  {
    id: 'secrets-stay-secret',
    description: 'Secret config values appear only inside secret-marked inputs',
    check(ctx, fail) {
      const leaks = (v: unknown): boolean => {
        if (typeof v === 'object' && v !== null && SECRET_SIG in v) return false;
        if (typeof v === 'string') return ctx.secrets.some((s) => v.includes(s));
        if (Array.isArray(v)) return v.some(leaks);
        if (typeof v === 'object' && v !== null) return Object.values(v).some(leaks);
        return false;
      };
      for (const r of ctx.resources)
        if (leaks(r.inputs)) fail(r, 'an input holds a secret value in plain text');
    },
  },
];

/** Runs every policy on a rendered environment. */
export function checkPolicies(rendered: RenderedEnvironment): Violation[] {
  const resources = rendered.resources.map((r) => ({ ...r, in: obj(unwrapSecrets(r.inputs)) }));
  const ctx: Ctx = {
    env: rendered.env,
    resources,
    of: (type) => resources.filter((r) => r.type === type),
    secrets: [rendered.config.dbPassword, rendered.config.secretKey],
  };
  const violations: Violation[] = [];
  for (const policy of POLICIES) {
    policy.check(ctx, (r, message) =>
      violations.push({ policy: policy.id, resource: `${r.type}::${r.name}`, message }),
    );
  }
  return violations;
}
