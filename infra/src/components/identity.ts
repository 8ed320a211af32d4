import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { type EnvironmentConfig, PLATFORM_NAMESPACE } from '../config.ts';
import { COMPONENT_TYPES, physicalName } from './naming.ts';
import type { Storage } from './storage.ts';

export const APPS = ['scheduler', 'worker', 'api'] as const;
export type AppName = (typeof APPS)[number];

/** Kubernetes service account of an app in the platform namespace. */
export const kubeServiceAccountName = (app: AppName | 'migrate') => `updraft-${app}`;

/** Project-level roles of the node service account: the documented minimum for GKE nodes. */
export const NODE_ROLES = [
  'roles/logging.logWriter',
  'roles/monitoring.metricWriter',
  'roles/monitoring.viewer',
  'roles/stackdriver.resourceMetadata.writer',
  'roles/autoscaling.metricsWriter',
] as const;

/**
 * Google service accounts: one for the nodes (never the default compute account) and one per
 * app, bound to the app's Kubernetes service account through workload identity. Grants are made
 * on the resource (bucket, secret, repository), not on the project, except the node's logging
 * and monitoring roles.
 */
export class Identity extends pulumi.ComponentResource {
  readonly nodeAccount: gcp.serviceaccount.Account;
  readonly appAccounts: Record<AppName, gcp.serviceaccount.Account>;

  constructor(
    name: string,
    args: { cfg: EnvironmentConfig; storage: Storage },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(COMPONENT_TYPES.identity, name, {}, opts);
    const { cfg, storage } = args;
    const parent = { parent: this };

    this.nodeAccount = new gcp.serviceaccount.Account(
      `${name}-gke-nodes`,
      { accountId: physicalName(cfg, 'gke-nodes'), displayName: `Updraft ${cfg.env} GKE nodes` },
      parent,
    );
    const nodeMember = pulumi.interpolate`serviceAccount:${this.nodeAccount.email}`;
    for (const role of NODE_ROLES) {
      new gcp.projects.IAMMember(
        `${name}-gke-nodes-${role.replace('roles/', '').replaceAll('.', '-')}`,
        { project: cfg.gcpProject, role, member: nodeMember },
        parent,
      );
    }
    new gcp.artifactregistry.RepositoryIamMember(
      `${name}-gke-nodes-registry-reader`,
      {
        location: storage.registry.location,
        repository: storage.registry.name,
        role: 'roles/artifactregistry.reader',
        member: nodeMember,
      },
      parent,
    );

    const accounts = {} as Record<AppName, gcp.serviceaccount.Account>;
    for (const app of APPS) {
      const account = new gcp.serviceaccount.Account(
        `${name}-${app}`,
        { accountId: physicalName(cfg, app), displayName: `Updraft ${cfg.env} ${app}` },
        parent,
      );
      new gcp.serviceaccount.IAMMember(
        `${name}-${app}-workload-identity`,
        {
          serviceAccountId: account.name,
          role: 'roles/iam.workloadIdentityUser',
          member: `serviceAccount:${cfg.gcpProject}.svc.id.goog[${PLATFORM_NAMESPACE}/${kubeServiceAccountName(app)}]`,
        },
        parent,
      );
      accounts[app] = account;
    }
    this.appAccounts = accounts;

    // Least privilege on the task-log bucket: the worker writes logs, the api reads them.
    // The scheduler needs no Google Cloud API at all; its account exists so that any future
    // grant goes to it and not to the nodes.
    const bucketGrants: [AppName, string][] = [
      ['worker', 'roles/storage.objectUser'],
      ['api', 'roles/storage.objectViewer'],
    ];
    for (const [app, role] of bucketGrants) {
      new gcp.storage.BucketIAMMember(
        `${name}-${app}-task-logs`,
        {
          bucket: storage.taskLogs.name,
          role,
          member: pulumi.interpolate`serviceAccount:${accounts[app].email}`,
        },
        parent,
      );
    }

    this.registerOutputs({ nodeAccount: this.nodeAccount.email });
  }
}
