import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { EnvironmentConfig } from '../config.ts';
import { COMPONENT_TYPES, physicalName } from './naming.ts';

/**
 * Secret Manager holds the source of truth for the database password and the platform's
 * encryption key (values come from the stack's encrypted config). Pulumi copies them into the
 * platform namespace's Kubernetes Secret; rotation = `pulumi config set --secret` + `up`.
 */
export class Secrets extends pulumi.ComponentResource {
  readonly dbPassword: gcp.secretmanager.Secret;
  readonly encryptionKey: gcp.secretmanager.Secret;
  readonly dbPasswordValue: pulumi.Output<string>;
  readonly encryptionKeyValue: pulumi.Output<string>;

  constructor(name: string, cfg: EnvironmentConfig, opts?: pulumi.ComponentResourceOptions) {
    super(COMPONENT_TYPES.secrets, name, {}, opts);
    this.dbPasswordValue = pulumi.secret(cfg.dbPassword);
    this.encryptionKeyValue = pulumi.secret(cfg.secretKey);

    const make = (suffix: string, value: pulumi.Output<string>) => {
      const secret = new gcp.secretmanager.Secret(
        `${name}-${suffix}`,
        { secretId: physicalName(cfg, suffix), replication: { auto: {} } },
        { parent: this },
      );
      new gcp.secretmanager.SecretVersion(
        `${name}-${suffix}`,
        { secret: secret.id, secretData: value },
        { parent: this },
      );
      return secret;
    };
    this.dbPassword = make('db-password', this.dbPasswordValue);
    this.encryptionKey = make('encryption-key', this.encryptionKeyValue);
    this.registerOutputs({});
  }
}
