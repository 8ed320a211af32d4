import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { EnvironmentConfig } from '../config.ts';
import { COMPONENT_TYPES, physicalName } from './naming.ts';
import { type Network, PODS_RANGE, SERVICES_RANGE } from './network.ts';

/** Node label and taint that keep team task pods on the task pool and off the system pool. */
export const TASK_POOL_LABEL = { key: 'updraft.dev/pool', value: 'tasks' } as const;
export const TASK_POOL_TAINT = { ...TASK_POOL_LABEL, effect: 'NO_SCHEDULE' } as const;
export const NODE_POOL_LABEL = 'cloud.google.com/gke-nodepool';

const OAUTH_SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];

/** Settings every node (pool) gets: own service account, shielded VM, GKE metadata server. */
function hardenedNodeConfig(serviceAccount: pulumi.Input<string>) {
  return {
    serviceAccount,
    oauthScopes: OAUTH_SCOPES,
    imageType: 'COS_CONTAINERD',
    shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
    workloadMetadataConfig: { mode: 'GKE_METADATA' },
    metadata: { 'disable-legacy-endpoints': 'true' },
  };
}

/** Private GKE cluster with a system pool and an autoscaling (optionally spot) task pool. */
export class Cluster extends pulumi.ComponentResource {
  readonly cluster: gcp.container.Cluster;
  readonly systemPool: gcp.container.NodePool;
  readonly taskPool: gcp.container.NodePool;
  readonly systemPoolName: string;
  readonly taskPoolName: string;
  /** kubeconfig using gke-gcloud-auth-plugin; secret because it names the private endpoint. */
  readonly kubeconfig: pulumi.Output<string>;

  constructor(
    name: string,
    args: { cfg: EnvironmentConfig; network: Network; nodeServiceAccount: pulumi.Input<string> },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(COMPONENT_TYPES.cluster, name, {}, opts);
    const { cfg, network, nodeServiceAccount } = args;
    const parent = { parent: this };
    const clusterName = physicalName(cfg, 'gke');

    this.cluster = new gcp.container.Cluster(
      `${name}-gke`,
      {
        name: clusterName,
        location: cfg.clusterLocation,
        network: network.network.id,
        subnetwork: network.subnet.id,
        networkingMode: 'VPC_NATIVE',
        ipAllocationPolicy: {
          clusterSecondaryRangeName: PODS_RANGE,
          servicesSecondaryRangeName: SERVICES_RANGE,
        },
        // Node pools are managed separately; the default pool is created hardened, then removed.
        removeDefaultNodePool: true,
        initialNodeCount: 1,
        nodeConfig: hardenedNodeConfig(nodeServiceAccount),
        privateClusterConfig: {
          enablePrivateNodes: true,
          enablePrivateEndpoint: false,
          masterIpv4CidrBlock: cfg.network.masterCidr,
          masterGlobalAccessConfig: { enabled: true },
        },
        masterAuthorizedNetworksConfig: {
          gcpPublicCidrsAccessEnabled: false,
          cidrBlocks: cfg.masterAuthorizedNetworks.map((m) => ({
            displayName: m.name,
            cidrBlock: m.cidr,
          })),
        },
        masterAuth: { clientCertificateConfig: { issueClientCertificate: false } },
        enableLegacyAbac: false,
        releaseChannel: { channel: cfg.cluster.releaseChannel },
        workloadIdentityConfig: { workloadPool: `${cfg.gcpProject}.svc.id.goog` },
        enableShieldedNodes: true,
        networkPolicy: { enabled: true, provider: 'CALICO' },
        addonsConfig: {
          networkPolicyConfig: { disabled: false },
          httpLoadBalancing: { disabled: false },
          horizontalPodAutoscaling: { disabled: false },
        },
        loggingConfig: { enableComponents: ['SYSTEM_COMPONENTS', 'WORKLOADS'] },
        monitoringConfig: {
          enableComponents: ['SYSTEM_COMPONENTS'],
          managedPrometheus: { enabled: true },
        },
        maintenancePolicy: { dailyMaintenanceWindow: { startTime: '03:00' } },
        deletionProtection: cfg.cluster.deletionProtection,
      },
      parent,
    );

    this.systemPoolName = 'system';
    this.systemPool = new gcp.container.NodePool(
      `${name}-system-pool`,
      {
        name: this.systemPoolName,
        cluster: this.cluster.id,
        location: cfg.clusterLocation,
        nodeCount: cfg.systemPool.nodesPerZone,
        management: { autoRepair: true, autoUpgrade: true },
        upgradeSettings: { maxSurge: 1, maxUnavailable: 0 },
        nodeConfig: {
          ...hardenedNodeConfig(nodeServiceAccount),
          machineType: cfg.systemPool.machineType,
          diskSizeGb: cfg.systemPool.diskSizeGb,
          diskType: 'pd-balanced',
          labels: { 'updraft.dev/pool': 'system' },
        },
      },
      parent,
    );

    this.taskPoolName = 'tasks';
    this.taskPool = new gcp.container.NodePool(
      `${name}-task-pool`,
      {
        name: this.taskPoolName,
        cluster: this.cluster.id,
        location: cfg.clusterLocation,
        initialNodeCount: cfg.taskPool.minNodesPerZone,
        autoscaling: {
          minNodeCount: cfg.taskPool.minNodesPerZone,
          maxNodeCount: cfg.taskPool.maxNodesPerZone,
        },
        management: { autoRepair: true, autoUpgrade: true },
        upgradeSettings: { maxSurge: 1, maxUnavailable: 0 },
        nodeConfig: {
          ...hardenedNodeConfig(nodeServiceAccount),
          machineType: cfg.taskPool.machineType,
          diskSizeGb: cfg.taskPool.diskSizeGb,
          diskType: 'pd-balanced',
          spot: cfg.taskPool.spot,
          labels: { [TASK_POOL_LABEL.key]: TASK_POOL_LABEL.value },
          taints: [TASK_POOL_TAINT],
        },
      },
      { parent: this, ignoreChanges: ['initialNodeCount'] },
    );

    this.kubeconfig = pulumi.secret(
      pulumi
        .all([this.cluster.name, this.cluster.endpoint, this.cluster.masterAuth])
        .apply(([clusterName, endpoint, auth]) =>
          kubeconfigFor(clusterName, endpoint, auth.clusterCaCertificate ?? ''),
        ),
    );

    this.registerOutputs({ clusterName: this.cluster.name });
  }
}

/** A kubeconfig that authenticates with `gke-gcloud-auth-plugin` (no static credentials). */
export function kubeconfigFor(
  clusterName: string,
  endpoint: string,
  caCertificate: string,
): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: clusterName,
        cluster: { server: `https://${endpoint}`, 'certificate-authority-data': caCertificate },
      },
    ],
    contexts: [{ name: clusterName, context: { cluster: clusterName, user: clusterName } }],
    'current-context': clusterName,
    users: [
      {
        name: clusterName,
        user: {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1beta1',
            command: 'gke-gcloud-auth-plugin',
            provideClusterInfo: true,
            installHint:
              'Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin',
          },
        },
      },
    ],
  });
}
