/**
 * Renders an environment without the Pulumi CLI or a cloud: `pulumi.runtime.setMocks` stands in
 * for the engine, echoes every resource's inputs and adds the outputs the cloud would compute.
 * The result is the resource graph (type, name, ancestry, inputs) that tests and policies read.
 */
import * as pulumi from '@pulumi/pulumi';
import {
  CONFIG_NAMESPACE,
  type EnvironmentConfig,
  loadEnvironmentConfig,
  SECRET_KEYS,
} from './config.ts';
import { readStackConfig, readTeamsYaml } from './environment-files.ts';
import { buildEnvironment } from './program.ts';

export interface RecordedResource {
  urn: string;
  type: string;
  name: string;
  /** Type of the parent component (the mock engine records only the direct parent), or null. */
  parentType: string | null;
  custom: boolean;
  /** Provider reference (`urn::id`) of a custom resource; null when the default provider is used. */
  provider: string | null;
  inputs: Record<string, unknown>;
}

export interface RenderedEnvironment {
  env: string;
  config: EnvironmentConfig;
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
}

export interface RenderOptions {
  /** Change the raw config before validation (e.g. to break a policy on purpose). */
  editConfig?: (raw: Record<string, string>) => void;
  /** Replace the text of teams.yaml. */
  teamsYaml?: string;
}

/** Values for the secret keys, which the stack files only hold encrypted. Test use only. */
export const PLACEHOLDER_SECRETS: Record<(typeof SECRET_KEYS)[number], string> = {
  dbPassword: 'placeholder-db-password-0123456789',
  secretKey: 'placeholder-secret-key-0123456789abcdef0123456789',
};

/** The raw config of a stack as the engine would pass it, with placeholder secrets. */
export function rawStackConfig(env: string): Record<string, string> {
  const { config } = readStackConfig(env);
  for (const key of SECRET_KEYS) {
    const full = `${CONFIG_NAMESPACE}:${key}`;
    config[full] ??= PLACEHOLDER_SECRETS[key];
  }
  return config;
}

const FAKE_CA = Buffer.from(
  '-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n',
).toString('base64');

/** Outputs a real deployment computes, keyed by resource type. */
function computedOutputs(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  cfg: EnvironmentConfig,
) {
  const physical = typeof inputs.name === 'string' ? inputs.name : name;
  switch (type) {
    case 'gcp:container/cluster:Cluster':
      return {
        name: physical,
        endpoint: '172.16.0.2',
        masterAuth: { ...(inputs.masterAuth as object), clusterCaCertificate: FAKE_CA },
      };
    case 'gcp:sql/databaseInstance:DatabaseInstance':
      return {
        name: physical,
        connectionName: `${cfg.gcpProject}:${cfg.region}:${physical}`,
        privateIpAddress: '10.100.0.3',
        publicIpAddress: '',
      };
    case 'gcp:serviceaccount/account:Account':
      return {
        email: `${String(inputs.accountId)}@${cfg.gcpProject}.iam.gserviceaccount.com`,
        name: `projects/${cfg.gcpProject}/serviceAccounts/${String(inputs.accountId)}`,
      };
    case 'gcp:compute/globalAddress:GlobalAddress':
      return {
        name: physical,
        address: typeof inputs.address === 'string' ? inputs.address : '203.0.113.10',
      };
    case 'gcp:artifactregistry/repository:Repository':
      return { name: String(inputs.repositoryId) };
    default:
      return { name: physical };
  }
}

type WaitForRpcs = { waitForRPCs: () => Promise<void> };
type MockMonitorLike = { getRegisteredResources(): Map<string, { urn: string }> };

/** Renders one environment (dev, qa or prod) in this process and returns its resource graph. */
export async function renderEnvironment(
  env: string,
  options: RenderOptions = {},
): Promise<RenderedEnvironment> {
  const raw = rawStackConfig(env);
  options.editConfig?.(raw);
  const cfg = loadEnvironmentConfig(env, raw, options.teamsYaml ?? readTeamsYaml(env));

  const recorded: Omit<RecordedResource, 'urn' | 'parentType'>[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = args.inputs as Record<string, unknown>;
        recorded.push({
          type: args.type,
          name: args.name,
          custom: args.custom ?? true,
          provider: args.provider ?? null,
          inputs,
        });
        return {
          id: `${args.name}-id`,
          state: { ...inputs, ...computedOutputs(args.type, args.name, inputs, cfg) },
        };
      },
      call(args) {
        throw new Error(
          `unexpected provider function call ${args.token}: the program must not call data sources`,
        );
      },
    },
    'updraft',
    env,
    false,
  );
  pulumi.runtime.setAllConfig(
    raw,
    SECRET_KEYS.map((k) => `${CONFIG_NAMESPACE}:${k}`),
  );

  const outputs = buildEnvironment(cfg);
  const resolved: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(outputs)) {
    resolved[key] = await new Promise((resolve) => pulumi.output(value).apply(resolve));
  }
  // Wait until every resource registration (including ones whose inputs resolved late) is done.
  const settings = (await import('@pulumi/pulumi/runtime/settings.js')) as unknown as WaitForRpcs;
  await settings.waitForRPCs();

  const monitor = pulumi.runtime.getMonitor() as unknown as MockMonitorLike;
  const urns = new Map<string, string>();
  for (const { urn } of monitor.getRegisteredResources().values()) {
    const [typeChain = '', name = ''] = urn.split('::').slice(2);
    const type = typeChain.split('$').pop() ?? '';
    const key = `${type}::${name}`;
    if (urns.has(key)) throw new Error(`two resources share type and name: ${key}`);
    urns.set(key, urn);
  }
  const resources = recorded.map((r): RecordedResource => {
    const urn = urns.get(`${r.type}::${r.name}`);
    if (!urn) throw new Error(`resource ${r.type} ${r.name} was not registered`);
    const chain = urn.split('::')[2]?.split('$') ?? [];
    return { ...r, urn, parentType: chain.length > 1 ? (chain.at(-2) ?? null) : null };
  });
  return { env, config: cfg, resources, outputs: resolved };
}
