import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { EnvironmentConfig } from '../config.ts';
import { COMPONENT_TYPES, physicalName } from './naming.ts';

/** The task-log bucket and the Artifact Registry repository for the platform's images. */
export class Storage extends pulumi.ComponentResource {
  readonly taskLogs: gcp.storage.Bucket;
  readonly registry: gcp.artifactregistry.Repository;
  /** `<region>-docker.pkg.dev/<project>/<repository>` */
  readonly registryUrl: pulumi.Output<string>;

  constructor(name: string, cfg: EnvironmentConfig, opts?: pulumi.ComponentResourceOptions) {
    super(COMPONENT_TYPES.storage, name, {}, opts);
    const parent = { parent: this };

    this.taskLogs = new gcp.storage.Bucket(
      `${name}-task-logs`,
      {
        // Bucket names are global: prefix with the project id.
        name: `${cfg.gcpProject}-task-logs`,
        location: cfg.region.toUpperCase(),
        storageClass: 'STANDARD',
        uniformBucketLevelAccess: true,
        publicAccessPrevention: 'enforced',
        versioning: { enabled: cfg.taskLogs.versioning },
        forceDestroy: false,
        lifecycleRules: [
          { action: { type: 'Delete' }, condition: { age: cfg.taskLogs.retentionDays } },
          // Old versions (when versioning is on) are kept for a week, then removed.
          {
            action: { type: 'Delete' },
            condition: { daysSinceNoncurrentTime: 7, withState: 'ARCHIVED' },
          },
        ],
      },
      parent,
    );

    const repositoryId = physicalName(cfg, 'images');
    this.registry = new gcp.artifactregistry.Repository(
      `${name}-images`,
      {
        repositoryId,
        location: cfg.region,
        format: 'DOCKER',
        description: `Updraft container images (${cfg.env})`,
        dockerConfig: { immutableTags: true },
        cleanupPolicies: [
          {
            id: 'keep-recent',
            action: 'KEEP',
            mostRecentVersions: { keepCount: 30 },
          },
          {
            id: 'delete-untagged',
            action: 'DELETE',
            condition: { tagState: 'UNTAGGED', olderThan: '604800s' },
          },
        ],
      },
      parent,
    );
    this.registryUrl = pulumi.interpolate`${cfg.region}-docker.pkg.dev/${cfg.gcpProject}/${this.registry.repositoryId}`;

    this.registerOutputs({ taskLogsBucket: this.taskLogs.name, registryUrl: this.registryUrl });
  }
}
