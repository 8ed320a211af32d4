/**
 * The whole environment as one function of its validated config, so that dev, QA and prod are
 * the same program and tests can render several stacks in one process.
 */
import * as gcp from '@pulumi/gcp';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { Cluster } from './components/cluster.ts';
import { Database } from './components/database.ts';
import { Identity } from './components/identity.ts';
import { COMPONENT_TYPES, defaultLabels, physicalName } from './components/naming.ts';
import { Network } from './components/network.ts';
import { Platform } from './components/platform.ts';
import { Secrets } from './components/secrets.ts';
import { Storage } from './components/storage.ts';
import type { EnvironmentConfig } from './config.ts';

export interface EnvironmentOutputs {
  apiUrl: pulumi.Output<string>;
  apiIpAddress: pulumi.Output<string>;
  clusterName: pulumi.Output<string>;
  clusterLocation: string;
  databaseConnectionName: pulumi.Output<string>;
  registryUrl: pulumi.Output<string>;
  taskLogsBucket: pulumi.Output<string>;
  kubeconfig: pulumi.Output<string>;
}

/** Root component of an environment; every unit is its child. */
export class UpdraftEnvironment extends pulumi.ComponentResource {
  readonly outputs: EnvironmentOutputs;

  constructor(cfg: EnvironmentConfig, opts: pulumi.ComponentResourceOptions) {
    const name = physicalName(cfg, 'environment');
    super(COMPONENT_TYPES.environment, name, {}, opts);
    const parent = { parent: this };

    const network = new Network('network', cfg, parent);
    const storage = new Storage('storage', cfg, parent);
    const secrets = new Secrets('secrets', cfg, parent);
    const identity = new Identity('identity', { cfg, storage }, parent);
    const cluster = new Cluster(
      'cluster',
      { cfg, network, nodeServiceAccount: identity.nodeAccount.email },
      { parent: this, dependsOn: [identity] },
    );
    const database = new Database(
      'database',
      { cfg, network, password: secrets.dbPasswordValue },
      parent,
    );

    const kubernetes = new k8s.Provider(
      'gke',
      { kubeconfig: cluster.kubeconfig, enableServerSideApply: true },
      { parent: cluster, dependsOn: [cluster.systemPool] },
    );
    new Platform(
      'platform',
      {
        cfg,
        registryUrl: storage.registryUrl,
        appAccountEmails: {
          scheduler: identity.appAccounts.scheduler.email,
          worker: identity.appAccounts.worker.email,
          api: identity.appAccounts.api.email,
        },
        databaseUrl: database.url,
        encryptionKey: secrets.encryptionKeyValue,
        apiAddressName: network.apiAddress.name,
        systemPoolName: cluster.systemPoolName,
      },
      { parent: this, providers: { kubernetes }, dependsOn: [cluster.taskPool] },
    );

    this.outputs = {
      apiUrl: pulumi.output(`https://${cfg.domain}`),
      apiIpAddress: network.apiAddress.address,
      clusterName: cluster.cluster.name,
      clusterLocation: cfg.clusterLocation,
      databaseConnectionName: database.instance.connectionName,
      registryUrl: storage.registryUrl,
      taskLogsBucket: storage.taskLogs.name,
      kubeconfig: cluster.kubeconfig,
    };
    this.registerOutputs({ ...this.outputs });
  }
}

/** Builds every resource of one environment. Google Cloud resources use one explicit provider. */
export function buildEnvironment(cfg: EnvironmentConfig): EnvironmentOutputs {
  const google = new gcp.Provider('google', {
    project: cfg.gcpProject,
    region: cfg.region,
    defaultLabels: defaultLabels(cfg),
  });
  return new UpdraftEnvironment(cfg, { providers: { gcp: google } }).outputs;
}
