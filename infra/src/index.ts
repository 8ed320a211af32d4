/**
 * Pulumi entry point (Pulumi.yaml `main`). The stack name is the environment: dev, qa or prod.
 * Config comes from `environments/<env>/Pulumi.<env>.yaml` (passed with --config-file by
 * `pnpm infra`), teams from `environments/<env>/teams.yaml`.
 */
import * as pulumi from '@pulumi/pulumi';
import { loadEnvironmentConfig } from './config.ts';
import { readTeamsYaml } from './environment-files.ts';
import { buildEnvironment } from './program.ts';

const env = pulumi.getStack();
const cfg = loadEnvironmentConfig(env, pulumi.runtime.allConfig(), readTeamsYaml(env));
const out = buildEnvironment(cfg);

export const apiUrl = out.apiUrl;
export const apiIpAddress = out.apiIpAddress;
export const clusterName = out.clusterName;
export const clusterLocation = out.clusterLocation;
export const databaseConnectionName = out.databaseConnectionName;
export const registryUrl = out.registryUrl;
export const taskLogsBucket = out.taskLogsBucket;
export const kubeconfig = out.kubeconfig;
