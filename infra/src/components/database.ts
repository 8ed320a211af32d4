import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { EnvironmentConfig } from '../config.ts';
import { COMPONENT_TYPES, physicalName } from './naming.ts';
import type { Network } from './network.ts';

export const DATABASE_NAME = 'updraft';
export const DATABASE_USER = 'updraft';

/** Cloud SQL for PostgreSQL on a private IP only, with backups and point-in-time recovery. */
export class Database extends pulumi.ComponentResource {
  readonly instance: gcp.sql.DatabaseInstance;
  /** `postgresql://…` URL for the apps (secret). */
  readonly url: pulumi.Output<string>;

  constructor(
    name: string,
    args: { cfg: EnvironmentConfig; network: Network; password: pulumi.Output<string> },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(COMPONENT_TYPES.database, name, {}, opts);
    const { cfg, network, password } = args;
    const db = cfg.database;

    this.instance = new gcp.sql.DatabaseInstance(
      `${name}-postgres`,
      {
        name: physicalName(cfg, 'postgres'),
        region: cfg.region,
        databaseVersion: db.postgresVersion,
        deletionProtection: db.deletionProtection,
        settings: {
          tier: db.tier,
          edition: 'ENTERPRISE',
          availabilityType: db.highAvailability ? 'REGIONAL' : 'ZONAL',
          diskType: 'PD_SSD',
          diskSize: db.diskSizeGb,
          diskAutoresize: true,
          deletionProtectionEnabled: db.deletionProtection,
          ipConfiguration: {
            ipv4Enabled: false,
            privateNetwork: network.network.id,
            sslMode: 'ENCRYPTED_ONLY',
            enablePrivatePathForGoogleCloudServices: true,
          },
          backupConfiguration: {
            enabled: true,
            startTime: '02:00',
            pointInTimeRecoveryEnabled: true,
            transactionLogRetentionDays: db.transactionLogRetentionDays,
            backupRetentionSettings: {
              retainedBackups: db.retainedBackups,
              retentionUnit: 'COUNT',
            },
          },
          maintenanceWindow: { day: 7, hour: 3, updateTrack: 'stable' },
          insightsConfig: { queryInsightsEnabled: true },
          databaseFlags: [
            { name: 'log_checkpoints', value: 'on' },
            { name: 'log_connections', value: 'on' },
            { name: 'log_disconnections', value: 'on' },
            { name: 'log_lock_waits', value: 'on' },
          ],
        },
      },
      { parent: this, dependsOn: [network.privateServicesConnection] },
    );
    new gcp.sql.Database(
      `${name}-db`,
      { name: DATABASE_NAME, instance: this.instance.name },
      { parent: this },
    );
    const user = new gcp.sql.User(
      `${name}-user`,
      { name: DATABASE_USER, instance: this.instance.name, password },
      { parent: this },
    );

    this.url = pulumi.secret(
      pulumi
        .all([user.name, password, this.instance.privateIpAddress])
        .apply(
          ([u, p, host]) =>
            `postgresql://${encodeURIComponent(u)}:${encodeURIComponent(p)}@${host}:5432/${DATABASE_NAME}?sslmode=require`,
        ),
    );
    this.registerOutputs({ connectionName: this.instance.connectionName });
  }
}
