/**
 * dev, QA and prod are the same program: same resources, same settings, differing only in names
 * and in the values each environment's config sets on purpose (graph.ts CONFIG_DRIVEN).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { DEPLOYED_ENVIRONMENTS } from './config.ts';
import { readTeamsYaml } from './environment-files.ts';
import { compareEnvironments, typeCounts, unwrapSecrets } from './graph.ts';
import { type RenderedEnvironment, renderEnvironment } from './render.ts';

const rendered = {} as Record<(typeof DEPLOYED_ENVIRONMENTS)[number], RenderedEnvironment>;

beforeAll(async () => {
  for (const env of DEPLOYED_ENVIRONMENTS) rendered[env] = await renderEnvironment(env);
});

type Obj = Record<string, unknown>;
const byType = (r: RenderedEnvironment, type: string) =>
  r.resources.filter((x) => x.type === type).map((x) => unwrapSecrets(x.inputs) as Obj);
const at = (v: unknown, ...path: string[]) =>
  path.reduce<unknown>((acc, k) => (acc as Obj | undefined)?.[k], v);

/** The security-relevant settings of an environment, as one comparable value. */
function securityProfile(r: RenderedEnvironment) {
  const cluster = byType(r, 'gcp:container/cluster:Cluster')[0];
  const pools = byType(r, 'gcp:container/nodePool:NodePool');
  const sql = byType(r, 'gcp:sql/databaseInstance:DatabaseInstance')[0];
  const nodeSecurity = (nc: unknown) => ({
    shielded: at(nc, 'shieldedInstanceConfig'),
    metadata: at(nc, 'workloadMetadataConfig', 'mode'),
    dedicatedAccount: String(at(nc, 'serviceAccount')).startsWith(`updraft-${r.env}-gke-nodes@`),
    legacyEndpoints: at(nc, 'metadata', 'disable-legacy-endpoints'),
  });
  return {
    cluster: {
      privateNodes: at(cluster, 'privateClusterConfig', 'enablePrivateNodes'),
      privateEndpoint: at(cluster, 'privateClusterConfig', 'enablePrivateEndpoint'),
      workloadIdentity:
        at(cluster, 'workloadIdentityConfig', 'workloadPool') ===
        `${r.config.gcpProject}.svc.id.goog`,
      shieldedNodes: at(cluster, 'enableShieldedNodes'),
      networkPolicy: at(cluster, 'networkPolicy'),
      onReleaseChannel: at(cluster, 'releaseChannel', 'channel') !== 'UNSPECIFIED',
      legacyAbac: at(cluster, 'enableLegacyAbac'),
      masterAuth: at(cluster, 'masterAuth'),
      authorizedNetworksOn: Array.isArray(
        at(cluster, 'masterAuthorizedNetworksConfig', 'cidrBlocks'),
      ),
      publicCidrsAccess: at(
        cluster,
        'masterAuthorizedNetworksConfig',
        'gcpPublicCidrsAccessEnabled',
      ),
      logging: at(cluster, 'loggingConfig'),
      monitoring: at(cluster, 'monitoringConfig'),
      defaultPool: nodeSecurity(at(cluster, 'nodeConfig')),
    },
    nodePools: pools.map((p) => ({
      name: p.name,
      taints: at(p, 'nodeConfig', 'taints'),
      ...nodeSecurity(p.nodeConfig),
    })),
    database: {
      ip: at(sql, 'settings', 'ipConfiguration', 'ipv4Enabled'),
      ssl: at(sql, 'settings', 'ipConfiguration', 'sslMode'),
      backups: at(sql, 'settings', 'backupConfiguration', 'enabled'),
      pitr: at(sql, 'settings', 'backupConfiguration', 'pointInTimeRecoveryEnabled'),
    },
    buckets: byType(r, 'gcp:storage/bucket:Bucket').map((b) => [
      b.uniformBucketLevelAccess,
      b.publicAccessPrevention,
    ]),
    iam: r.resources
      .filter((x) => /IAMMember|IamMember/.test(x.type))
      .map((x) => `${x.name} ${String(x.inputs.role)}`)
      .sort(),
    namespaces: byType(r, 'kubernetes:core/v1:Namespace')
      .map((n) => at(n, 'metadata', 'labels', 'pod-security.kubernetes.io/enforce'))
      .sort(),
    networkPolicies:
      byType(r, 'kubernetes:networking.k8s.io/v1:NetworkPolicy').length /
      (r.config.teams.length + 1),
    workloads: [
      ...byType(r, 'kubernetes:apps/v1:Deployment'),
      ...byType(r, 'kubernetes:batch/v1:Job'),
    ].map((w) => ({
      pod: at(w, 'spec', 'template', 'spec', 'securityContext'),
      token: at(w, 'spec', 'template', 'spec', 'automountServiceAccountToken'),
      containers: (at(w, 'spec', 'template', 'spec', 'containers') as Obj[]).map(
        (c) => c.securityContext,
      ),
    })),
  };
}

describe('every environment renders', () => {
  it.each(DEPLOYED_ENVIRONMENTS)('%s has its outputs', (env) => {
    const { outputs, config } = rendered[env];
    expect(outputs.apiUrl).toBe(`https://${config.domain}`);
    expect(outputs.clusterName).toBe(`updraft-${env}-gke`);
    expect(outputs.databaseConnectionName).toBe(
      `${config.gcpProject}:${config.region}:updraft-${env}-postgres`,
    );
    expect(rendered[env].resources.length).toBeGreaterThan(50);
  });

  it.each(DEPLOYED_ENVIRONMENTS)(
    '%s: every app runs the configured image tag and reports it as its release',
    (env) => {
      const tag = rendered[env].config.apps.imageTag;
      const config = byType(rendered[env], 'kubernetes:core/v1:ConfigMap').find(
        (c) => at(c, 'metadata', 'name') === 'updraft-config',
      );
      expect(at(config, 'data', 'UPDRAFT_VERSION')).toBe(tag);
      const deployments = byType(rendered[env], 'kubernetes:apps/v1:Deployment');
      expect(deployments.length).toBeGreaterThanOrEqual(3);
      for (const d of deployments) {
        const [container] = at(d, 'spec', 'template', 'spec', 'containers') as Obj[];
        expect(String(container?.image)).toMatch(new RegExp(`:${tag.replaceAll('.', '\\.')}$`));
        expect(container?.envFrom).toContainEqual({ configMapRef: { name: 'updraft-config' } });
      }
    },
  );

  it.each(DEPLOYED_ENVIRONMENTS)('%s: every resource belongs to a unit component', (env) => {
    const expectedParent: Record<string, string> = {
      'updraft:infra:Team': 'updraft:infra:Platform',
      'pulumi:providers:kubernetes': 'updraft:infra:Cluster',
    };
    for (const r of rendered[env].resources) {
      const what = `${r.type} ${r.name}`;
      if (r.type === 'updraft:infra:Environment' || r.type === 'pulumi:providers:gcp') {
        expect(r.parentType, what).toBeNull();
      } else if (r.type in expectedParent) {
        expect(r.parentType, what).toBe(expectedParent[r.type]);
      } else if (r.type.startsWith('updraft:infra:')) {
        expect(r.parentType, what).toBe('updraft:infra:Environment');
      } else {
        expect(r.parentType, what).toMatch(
          /^updraft:infra:(Network|Cluster|Database|Storage|Secrets|Identity|Platform|Team)$/,
        );
      }
    }
  });
});

describe('dev, qa and prod are identical', () => {
  it('have the same resource types and counts, per-team resources following the team list', () => {
    const counts = DEPLOYED_ENVIRONMENTS.map((env) => typeCounts(rendered[env]));
    const [dev, ...others] = counts;
    for (const c of others) {
      expect(c.platform).toEqual(dev?.platform);
      expect(c.perTeam).toEqual(dev?.perTeam);
    }
    for (const env of DEPLOYED_ENVIRONMENTS) {
      const perTeam = Object.values(typeCounts(rendered[env]).perTeam).reduce((a, b) => a + b, 0);
      const teamResources = rendered[env].resources.filter(
        (r) => r.parentType === 'updraft:infra:Team' || r.type === 'updraft:infra:Team',
      );
      expect(teamResources.length).toBe(perTeam * rendered[env].config.teams.length);
    }
  });

  it.each([
    ['dev', 'qa'],
    ['dev', 'prod'],
    ['qa', 'prod'],
  ] as const)('%s and %s differ only in names and config-driven values', (a, b) => {
    expect(compareEnvironments(rendered[a], rendered[b])).toEqual([]);
  });

  it('have the same security settings', () => {
    const dev = securityProfile(rendered.dev);
    expect(securityProfile(rendered.qa)).toEqual(dev);
    expect(securityProfile(rendered.prod)).toEqual(dev);
    // Sanity: the profile holds real values, not undefined everywhere.
    expect(dev.cluster.privateNodes).toBe(true);
    expect(dev.database.pitr).toBe(true);
    expect(dev.iam.length).toBeGreaterThan(5);
  });
});

describe('the comparison catches drift', () => {
  const clone = (r: RenderedEnvironment): RenderedEnvironment => structuredClone(r);
  const find = (r: RenderedEnvironment, type: string) => {
    const x = r.resources.find((res) => res.type === type);
    if (!x) throw new Error(`no ${type}`);
    return x;
  };

  it('a security setting changed in one environment', () => {
    const prod = clone(rendered.prod);
    find(prod, 'gcp:container/cluster:Cluster').inputs.enableShieldedNodes = false;
    expect(compareEnvironments(rendered.dev, prod)).toEqual([
      {
        resource: 'gcp:container/cluster:Cluster::cluster-gke',
        problem: 'input enableShieldedNodes differs between dev and prod',
      },
    ]);
  });

  it('a setting that is not config-driven changed deep inside a Deployment', () => {
    const qa = clone(rendered.qa);
    const d = find(qa, 'kubernetes:apps/v1:Deployment').inputs as {
      spec: { template: { spec: { containers: { livenessProbe: Obj }[] } } };
    };
    const c = d.spec.template.spec.containers[0];
    if (c) c.livenessProbe.periodSeconds = 60;
    const drift = compareEnvironments(rendered.dev, qa);
    expect(drift).toHaveLength(1);
    expect(drift[0]?.problem).toMatch(
      /spec\.template\.spec\.containers\.0\.livenessProbe\.periodSeconds differs/,
    );
  });

  it('a resource only one environment has', () => {
    const qa = clone(rendered.qa);
    const extra = structuredClone(find(qa, 'gcp:storage/bucket:Bucket'));
    extra.name = 'storage-scratch';
    qa.resources.push(extra);
    expect(compareEnvironments(rendered.dev, qa)).toEqual([
      {
        resource: 'gcp:storage/bucket:Bucket::storage-scratch',
        problem: 'exists in environment qa but not in environment dev',
      },
    ]);
  });

  it('a team that is treated differently from the others', () => {
    const dev = clone(rendered.dev);
    const quota = dev.resources.find((r) => r.name === 'team-ml-allow-dns');
    if (!quota) throw new Error('no team-ml-allow-dns');
    quota.inputs.spec = { podSelector: {}, policyTypes: ['Egress'], egress: [{}] };
    const drift = compareEnvironments(dev, rendered.qa);
    expect(drift.length).toBeGreaterThan(0);
    expect(drift[0]?.problem).toMatch(/teams dev\/data-eng and dev\/ml/);
  });

  it('config-driven differences are not drift, and a different team list is allowed', async () => {
    const teams = `${readTeamsYaml('qa')}
  - id: finance
    name: Finance
    namespace: team-finance
    quota: { cpu: "4", memory: 8Gi, pods: 20 }
`;
    const qa = await renderEnvironment('qa', {
      teamsYaml: teams,
      editConfig: (raw) => {
        const pool = JSON.parse(raw['updraft:taskPool'] ?? '{}') as Obj;
        raw['updraft:taskPool'] = JSON.stringify({
          ...pool,
          machineType: 'c3-standard-22',
          spot: false,
        });
      },
    });
    expect(qa.config.teams).toHaveLength(4);
    expect(compareEnvironments(rendered.dev, qa)).toEqual([]);
    expect(typeCounts(qa).perTeam).toEqual(typeCounts(rendered.dev).perTeam);
  });
});
