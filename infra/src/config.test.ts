import { describe, expect, it } from 'vitest';
import { ConfigError, DEPLOYED_ENVIRONMENTS, loadEnvironmentConfig } from './config.ts';
import { readStackConfig, readTeamsYaml } from './environment-files.ts';
import { rawStackConfig } from './render.ts';

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

/** Loads `env`'s real config after an edit of the raw key → string map. */
function loadEdited(
  env: string,
  edit: (raw: Record<string, string>) => void,
  teamsYaml = readTeamsYaml(env),
) {
  const raw = rawStackConfig(env);
  edit(raw);
  return loadEnvironmentConfig(env, raw, teamsYaml);
}

const setNested = (raw: Record<string, string>, key: string, path: string[], value: unknown) => {
  const o = JSON.parse(raw[key] ?? '{}') as Record<string, unknown>;
  let cur = o;
  for (const p of path.slice(0, -1)) cur = cur[p] as Record<string, unknown>;
  const last = path.at(-1) ?? '';
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  raw[key] = JSON.stringify(o);
};

describe('stack config files', () => {
  it.each(DEPLOYED_ENVIRONMENTS)('environments/%s validates', (env) => {
    const cfg = loadEnvironmentConfig(env, rawStackConfig(env), readTeamsYaml(env));
    expect(cfg.env).toBe(env);
    expect(cfg.teams.length).toBeGreaterThan(0);
    expect(cfg.clusterLocation).toBe(cfg.region);
  });

  it('the three stack files set the same keys (only values differ)', () => {
    const shape = (env: string) => {
      const paths: string[] = [];
      const walk = (v: unknown, p: string) => {
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
          for (const [k, x] of Object.entries(v)) walk(x, `${p}.${k}`);
        } else paths.push(p);
      };
      for (const [k, v] of Object.entries(readStackConfig(env).config)) {
        walk(v.startsWith('{') ? JSON.parse(v) : v, k);
      }
      return paths.sort();
    };
    expect(shape('qa')).toEqual(shape('dev'));
    expect(shape('prod')).toEqual(shape('dev'));
  });

  it('keeps secrets out of the committed stack files (they are set encrypted by the operator)', () => {
    for (const env of DEPLOYED_ENVIRONMENTS) {
      const { config } = readStackConfig(env);
      expect(Object.keys(config)).not.toContain('updraft:dbPassword');
      expect(Object.keys(config)).not.toContain('updraft:secretKey');
    }
  });
});

describe('config validation names the key and the environment', () => {
  const cases: {
    name: string;
    env: string;
    edit: (raw: Record<string, string>) => void;
    expected: RegExp;
  }[] = [
    {
      name: 'missing top-level key',
      env: 'qa',
      edit: (raw) => delete raw['updraft:database'],
      expected: /updraft:database: is required/,
    },
    {
      name: 'missing nested key',
      env: 'prod',
      edit: (raw) => setNested(raw, 'updraft:database', ['tier'], undefined),
      expected: /updraft:database\.tier: is required/,
    },
    {
      name: 'number that is not a number',
      env: 'dev',
      edit: (raw) => setNested(raw, 'updraft:systemPool', ['nodesPerZone'], 'three'),
      expected: /updraft:systemPool\.nodesPerZone: .*number/,
    },
    {
      name: 'malformed CIDR',
      env: 'dev',
      edit: (raw) => setNested(raw, 'updraft:network', ['podsCidr'], '10.1.0.0'),
      expected: /updraft:network\.podsCidr: must be an IPv4 CIDR/,
    },
    {
      name: 'control plane range is not a /28',
      env: 'qa',
      edit: (raw) => setNested(raw, 'updraft:network', ['masterCidr'], '172.16.0.0/24'),
      expected: /updraft:network\.masterCidr: must be a \/28/,
    },
    {
      name: 'boolean written as a word',
      env: 'prod',
      edit: (raw) => setNested(raw, 'updraft:taskPool', ['spot'], 'yes'),
      expected: /updraft:taskPool\.spot: must be true or false/,
    },
    {
      name: 'a single scheduler',
      env: 'dev',
      edit: (raw) => setNested(raw, 'updraft:apps', ['scheduler', 'replicas'], 1),
      expected: /updraft:apps\.scheduler\.replicas: .*>=2/,
    },
    {
      name: 'autoscaling bounds reversed',
      env: 'qa',
      edit: (raw) => setNested(raw, 'updraft:taskPool', ['maxNodesPerZone'], 0),
      expected: /updraft:taskPool\.maxNodesPerZone/,
    },
    {
      name: 'unknown key (typo)',
      env: 'dev',
      edit: (raw) => {
        raw['updraft:regoin'] = 'europe-west1';
      },
      expected: /updraft:regoin: unknown key/,
    },
    {
      name: 'unknown nested key',
      env: 'dev',
      edit: (raw) => setNested(raw, 'updraft:database', ['highAvailabilty'], true),
      expected: /updraft:database\.highAvailabilty: unknown key/,
    },
    {
      name: 'object given as invalid JSON',
      env: 'prod',
      edit: (raw) => {
        raw['updraft:cluster'] = '{releaseChannel: REGULAR';
      },
      expected: /updraft:cluster: .*object/,
    },
    {
      name: 'release channel outside the allowed set',
      env: 'prod',
      edit: (raw) => setNested(raw, 'updraft:cluster', ['releaseChannel'], 'UNSPECIFIED'),
      expected: /updraft:cluster\.releaseChannel/,
    },
    {
      name: 'missing secret',
      env: 'prod',
      edit: (raw) => delete raw['updraft:dbPassword'],
      expected: /updraft:dbPassword: is required/,
    },
    {
      name: 'short encryption key',
      env: 'qa',
      edit: (raw) => {
        raw['updraft:secretKey'] = 'short';
      },
      expected: /updraft:secretKey: must be at least 32 characters/,
    },
    {
      name: 'no master authorized network',
      env: 'dev',
      edit: (raw) => {
        raw['updraft:masterAuthorizedNetworks'] = '[]';
      },
      expected: /updraft:masterAuthorizedNetworks: must list at least one network/,
    },
  ];

  it.each(cases)('$name', ({ env, edit, expected }) => {
    const err = errorOf(() => loadEdited(env, edit));
    expect(err.environment).toBe(env);
    expect(err.message).toContain(`environment "${env}"`);
    expect(err.message).toMatch(expected);
  });

  it('reports every bad key at once', () => {
    const err = errorOf(() =>
      loadEdited('dev', (raw) => {
        delete raw['updraft:region'];
        setNested(raw, 'updraft:database', ['diskSizeGb'], -1);
      }),
    );
    expect(err.issues.some((i) => i.startsWith('updraft:region:'))).toBe(true);
    expect(err.issues.some((i) => i.startsWith('updraft:database.diskSizeGb:'))).toBe(true);
  });

  it('rejects a stack that is not an environment', () => {
    const err = errorOf(() =>
      loadEnvironmentConfig('staging', rawStackConfig('dev'), readTeamsYaml('dev')),
    );
    expect(err.message).toMatch(
      /environment "staging"[\s\S]*stack name: must be one of dev, qa, prod/,
    );
  });

  it('names teams.yaml and the bad field', () => {
    const teams = readTeamsYaml('dev').replace('cpu: "8"', 'cpu: lots');
    const err = errorOf(() => loadEdited('dev', () => {}, teams));
    expect(err.message).toMatch(
      /environments\/dev\/teams\.yaml: teams\.0\.quota\.cpu: must be a Kubernetes quantity/,
    );
  });

  it('rejects a team namespace that collides with the platform namespace', () => {
    const teams = readTeamsYaml('qa').replace('namespace: team-ml', 'namespace: updraft');
    const err = errorOf(() => loadEdited('qa', () => {}, teams));
    expect(err.message).toMatch(
      /environments\/qa\/teams\.yaml: team "ml": namespace "updraft" is already in use/,
    );
  });

  it('rejects teams.yaml that is not YAML', () => {
    const err = errorOf(() => loadEdited('prod', () => {}, 'teams: [unclosed'));
    expect(err.message).toMatch(/environments\/prod\/teams\.yaml: not valid YAML/);
  });

  it('accepts numbers and booleans given as strings at the top level, as Pulumi passes them', () => {
    const cfg = loadEdited('dev', (raw) => {
      raw['updraft:clusterLocation'] = 'europe-west1-b';
    });
    expect(cfg.clusterLocation).toBe('europe-west1-b');
    expect(cfg.systemPool.nodesPerZone).toBeTypeOf('number');
    expect(cfg.taskPool.spot).toBe(true);
  });
});
