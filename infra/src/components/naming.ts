import type { EnvironmentConfig } from '../config.ts';

/** Type tokens of the ComponentResources, one per unit. */
export const COMPONENT_TYPES = {
  environment: 'updraft:infra:Environment',
  network: 'updraft:infra:Network',
  cluster: 'updraft:infra:Cluster',
  database: 'updraft:infra:Database',
  storage: 'updraft:infra:Storage',
  secrets: 'updraft:infra:Secrets',
  identity: 'updraft:infra:Identity',
  platform: 'updraft:infra:Platform',
  team: 'updraft:infra:Team',
} as const;

/** Physical (cloud) name of a resource: `updraft-<env>-<suffix>`. Logical names stay env-free. */
export function physicalName(cfg: Pick<EnvironmentConfig, 'env'>, suffix: string): string {
  return `updraft-${cfg.env}-${suffix}`;
}

/** Labels every Google Cloud resource carries (set once, as provider default labels). */
export function defaultLabels(cfg: Pick<EnvironmentConfig, 'env'>): Record<string, string> {
  return { app: 'updraft', environment: cfg.env, 'managed-by': 'pulumi' };
}
