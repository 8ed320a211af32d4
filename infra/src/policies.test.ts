import { beforeAll, describe, expect, it } from 'vitest';
import { DEPLOYED_ENVIRONMENTS } from './config.ts';
import { checkPolicies, POLICIES } from './policies.ts';
import { type RecordedResource, type RenderedEnvironment, renderEnvironment } from './render.ts';

const rendered = {} as Record<(typeof DEPLOYED_ENVIRONMENTS)[number], RenderedEnvironment>;
beforeAll(async () => {
  for (const env of DEPLOYED_ENVIRONMENTS) rendered[env] = await renderEnvironment(env);
});

// biome-ignore lint/suspicious/noExplicitAny: the mutations reach into arbitrary resource inputs
type Obj = Record<string, any>;

const policiesBroken = (r: RenderedEnvironment) =>
  [...new Set(checkPolicies(r).map((v) => v.policy))].sort();

/** A copy of `env` with `mutate` applied to every resource of `type`. */
function broken(
  env: keyof typeof rendered,
  type: string,
  mutate: (inputs: Obj, r: RecordedResource) => void,
) {
  const copy = structuredClone(rendered[env]);
  const targets = copy.resources.filter((r) => r.type === type);
  if (targets.length === 0) throw new Error(`no ${type} in ${env}`);
  for (const r of targets) mutate(r.inputs as Obj, r);
  return copy;
}

const CLUSTER = 'gcp:container/cluster:Cluster';
const POOL = 'gcp:container/nodePool:NodePool';
const SQL = 'gcp:sql/databaseInstance:DatabaseInstance';
const DEPLOYMENT = 'kubernetes:apps/v1:Deployment';
const container = (d: Obj) => d.spec.template.spec.containers[0];

describe('policies', () => {
  it.each(DEPLOYED_ENVIRONMENTS)('%s complies with every policy', (env) => {
    expect(checkPolicies(rendered[env])).toEqual([]);
  });

  const violations: {
    policy: string;
    case: string;
    env: keyof typeof rendered;
    type: string;
    mutate: (i: Obj, r: RecordedResource) => void;
  }[] = [
    {
      policy: 'gke-private-nodes',
      case: 'public nodes',
      env: 'dev',
      type: CLUSTER,
      mutate: (i) => {
        i.privateClusterConfig.enablePrivateNodes = false;
      },
    },
    {
      policy: 'gke-workload-identity',
      case: 'no workload pool',
      env: 'qa',
      type: CLUSTER,
      mutate: (i) => {
        delete i.workloadIdentityConfig;
      },
    },
    {
      policy: 'gke-workload-identity',
      case: 'node pool exposes the VM metadata',
      env: 'prod',
      type: POOL,
      mutate: (i) => {
        i.nodeConfig.workloadMetadataConfig.mode = 'GCE_METADATA';
      },
    },
    {
      policy: 'gke-shielded-nodes',
      case: 'cluster without shielded nodes',
      env: 'dev',
      type: CLUSTER,
      mutate: (i) => {
        i.enableShieldedNodes = false;
      },
    },
    {
      policy: 'gke-shielded-nodes',
      case: 'pool without secure boot',
      env: 'prod',
      type: POOL,
      mutate: (i) => {
        i.nodeConfig.shieldedInstanceConfig.enableSecureBoot = false;
      },
    },
    {
      policy: 'gke-network-policy',
      case: 'network policy off',
      env: 'qa',
      type: CLUSTER,
      mutate: (i) => {
        i.networkPolicy.enabled = false;
      },
    },
    {
      policy: 'gke-release-channel',
      case: 'no release channel',
      env: 'prod',
      type: CLUSTER,
      mutate: (i) => {
        i.releaseChannel.channel = 'UNSPECIFIED';
      },
    },
    {
      policy: 'gke-control-plane-access',
      case: 'API open to the world',
      env: 'dev',
      type: CLUSTER,
      mutate: (i) => {
        i.masterAuthorizedNetworksConfig.cidrBlocks = [{ cidrBlock: '0.0.0.0/0' }];
      },
    },
    {
      policy: 'gke-control-plane-access',
      case: 'legacy ABAC',
      env: 'dev',
      type: CLUSTER,
      mutate: (i) => {
        i.enableLegacyAbac = true;
      },
    },
    {
      policy: 'gke-control-plane-access',
      case: 'client certificates',
      env: 'qa',
      type: CLUSTER,
      mutate: (i) => {
        i.masterAuth.clientCertificateConfig.issueClientCertificate = true;
      },
    },
    {
      policy: 'gke-logging-monitoring',
      case: 'workload logs off',
      env: 'prod',
      type: CLUSTER,
      mutate: (i) => {
        i.loggingConfig.enableComponents = ['SYSTEM_COMPONENTS'];
      },
    },
    {
      policy: 'gke-no-default-service-account',
      case: 'default compute account',
      env: 'dev',
      type: POOL,
      mutate: (i) => {
        i.nodeConfig.serviceAccount = '123456-compute@developer.gserviceaccount.com';
      },
    },
    {
      policy: 'gke-no-default-service-account',
      case: 'no account on the default pool',
      env: 'qa',
      type: CLUSTER,
      mutate: (i) => {
        delete i.nodeConfig.serviceAccount;
      },
    },
    {
      policy: 'sql-private-ip',
      case: 'public IP',
      env: 'prod',
      type: SQL,
      mutate: (i) => {
        i.settings.ipConfiguration.ipv4Enabled = true;
      },
    },
    {
      policy: 'sql-private-ip',
      case: 'TLS not required',
      env: 'dev',
      type: SQL,
      mutate: (i) => {
        i.settings.ipConfiguration.sslMode = 'ALLOW_UNENCRYPTED_AND_ENCRYPTED';
      },
    },
    {
      policy: 'sql-backups',
      case: 'backups off',
      env: 'qa',
      type: SQL,
      mutate: (i) => {
        i.settings.backupConfiguration.enabled = false;
      },
    },
    {
      policy: 'sql-backups',
      case: 'no point-in-time recovery',
      env: 'prod',
      type: SQL,
      mutate: (i) => {
        i.settings.backupConfiguration.pointInTimeRecoveryEnabled = false;
      },
    },
    {
      policy: 'bucket-uniform-access',
      case: 'fine-grained ACLs',
      env: 'dev',
      type: 'gcp:storage/bucket:Bucket',
      mutate: (i) => {
        i.uniformBucketLevelAccess = false;
      },
    },
    {
      policy: 'prod-protection',
      case: 'prod cluster deletable',
      env: 'prod',
      type: CLUSTER,
      mutate: (i) => {
        i.deletionProtection = false;
      },
    },
    {
      policy: 'team-namespace-quota',
      case: 'a team namespace without quota',
      env: 'qa',
      type: 'kubernetes:core/v1:ResourceQuota',
      mutate: (i, r) => {
        if (r.name === 'team-ml-quota') i.metadata.namespace = 'elsewhere';
      },
    },
    {
      policy: 'team-namespace-quota',
      case: 'a quota without a pod limit',
      env: 'dev',
      type: 'kubernetes:core/v1:ResourceQuota',
      mutate: (i) => {
        delete i.spec.hard.pods;
      },
    },
    {
      policy: 'namespace-default-deny',
      case: 'default-deny that allows egress',
      env: 'dev',
      type: 'kubernetes:networking.k8s.io/v1:NetworkPolicy',
      mutate: (i) => {
        if (i.metadata.name === 'default-deny') i.spec.policyTypes = ['Ingress'];
      },
    },
    {
      policy: 'non-root-containers',
      case: 'a container that may run as root',
      env: 'prod',
      type: DEPLOYMENT,
      mutate: (i) => {
        delete i.spec.template.spec.securityContext.runAsNonRoot;
        delete container(i).securityContext.runAsNonRoot;
      },
    },
    {
      policy: 'non-root-containers',
      case: 'privilege escalation in the migration Job',
      env: 'dev',
      type: 'kubernetes:batch/v1:Job',
      mutate: (i) => {
        container(i).securityContext.allowPrivilegeEscalation = true;
      },
    },
    {
      policy: 'deployment-probes',
      case: 'no readiness probe',
      env: 'qa',
      type: DEPLOYMENT,
      mutate: (i) => {
        delete container(i).readinessProbe;
      },
    },
    {
      policy: 'deployment-probes',
      case: 'no liveness probe',
      env: 'dev',
      type: DEPLOYMENT,
      mutate: (i) => {
        delete container(i).livenessProbe;
      },
    },
    {
      policy: 'container-resources',
      case: 'no memory limit',
      env: 'prod',
      type: DEPLOYMENT,
      mutate: (i) => {
        delete container(i).resources.limits;
      },
    },
    {
      policy: 'platform-availability',
      case: 'a single scheduler',
      env: 'dev',
      type: DEPLOYMENT,
      mutate: (i) => {
        i.spec.replicas = 1;
      },
    },
    {
      policy: 'worker-rbac-scoped',
      case: 'worker bound in the platform namespace',
      env: 'qa',
      type: 'kubernetes:rbac.authorization.k8s.io/v1:RoleBinding',
      mutate: (i) => {
        i.metadata.namespace = 'updraft';
      },
    },
    {
      policy: 'explicit-providers',
      case: 'a resource on the default provider',
      env: 'prod',
      type: 'gcp:storage/bucket:Bucket',
      mutate: (_i, r) => {
        r.provider = null;
      },
    },
    {
      policy: 'secrets-stay-secret',
      case: 'the database URL in plain text',
      env: 'dev',
      type: 'kubernetes:core/v1:Secret',
      mutate: (i) => {
        i.stringData = i.stringData.value;
      },
    },
  ];

  it.each(violations)('$policy fails on $case ($env)', ({ policy, env, type, mutate }) => {
    expect(policiesBroken(rendered[env])).toEqual([]);
    const violated = checkPolicies(broken(env, type, mutate));
    expect(violated.map((v) => v.policy)).toContain(policy);
    expect(violated.every((v) => v.policy === policy)).toBe(true);
  });

  it('every policy has at least one violation case', () => {
    const covered = new Set(violations.map((v) => v.policy));
    covered.add('prod-protection'); // also covered through config below
    expect(POLICIES.map((p) => p.id).filter((id) => !covered.has(id))).toEqual([]);
  });
});

describe('prod protection follows the config, and only prod requires it', () => {
  const editDatabase = (change: Record<string, unknown>) => (raw: Record<string, string>) => {
    raw['updraft:database'] = JSON.stringify({
      ...JSON.parse(raw['updraft:database'] ?? '{}'),
      ...change,
    });
  };

  it('prod without database deletion protection fails', async () => {
    const prod = await renderEnvironment('prod', {
      editConfig: editDatabase({ deletionProtection: false }),
    });
    expect(checkPolicies(prod)).toEqual([
      expect.objectContaining({ policy: 'prod-protection', resource: `${SQL}::database-postgres` }),
    ]);
  });

  it('prod without a highly available database fails', async () => {
    const prod = await renderEnvironment('prod', {
      editConfig: editDatabase({ highAvailability: false }),
    });
    expect(checkPolicies(prod).map((v) => v.message)).toEqual([
      'prod database must be REGIONAL (high availability)',
    ]);
  });

  it('dev may run without deletion protection or high availability', async () => {
    const dev = await renderEnvironment('dev', {
      editConfig: editDatabase({ deletionProtection: false, highAvailability: false }),
    });
    expect(checkPolicies(dev)).toEqual([]);
  });
});
