import { describe, expect, it } from 'vitest';
import {
  ENVIRONMENTS,
  environmentNameSchema,
  type Team,
  teamIdSchema,
  teamsFileSchema,
} from './environment.ts';

const team = (extra: Partial<Team> = {}): Team => ({
  id: 'data',
  name: 'Data team',
  namespace: 'updraft-data',
  quota: { cpu: '4', memory: '8Gi', pods: 20 },
  defaultContainerResources: { cpu: '500m', memory: '512Mi' },
  ...extra,
});

const issuePaths = (input: unknown) => {
  const result = teamsFileSchema.safeParse(input);
  return result.success
    ? []
    : result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
};

describe('teamsFileSchema', () => {
  it('accepts a valid file', () => {
    const file = { teams: [team(), team({ id: 'ml', namespace: 'updraft-ml' })] };
    expect(teamsFileSchema.parse(file)).toEqual({ ...file, pools: [] });
  });

  it('accepts pools and rejects a duplicate or badly named pool, naming it', () => {
    const pools = [{ name: 'warehouse', slots: 4, description: 'DWH connections' }];
    expect(teamsFileSchema.parse({ teams: [team()], pools }).pools).toEqual(pools);
    expect(
      issuePaths({
        teams: [team()],
        pools: [
          { name: 'warehouse', slots: 4 },
          { name: 'warehouse', slots: 2 },
          { name: 'bad name', slots: -1 },
        ],
      }),
    ).toEqual([
      { path: 'pools.2.name', message: 'must be 1-250 letters, digits, "_", "-" or "."' },
      { path: 'pools.2.slots', message: expect.stringContaining('>=0') },
      { path: 'pools.1.name', message: 'duplicate pool "warehouse"' },
    ]);
  });

  it('rejects a duplicate team id at the second occurrence', () => {
    const file = {
      teams: [team(), team({ namespace: 'other' }), team({ id: 'ml' }), team({ id: 'ml' })],
    };
    expect(issuePaths(file)).toEqual([
      { path: 'teams.1.id', message: 'duplicate team id "data"' },
      { path: 'teams.3.id', message: 'duplicate team id "ml"' },
    ]);
  });

  it.each<[string, Partial<Team>, string, RegExp]>([
    ['namespace with capitals', { namespace: 'Updraft-Data' }, 'teams.0.namespace', /DNS-1123/],
    ['namespace with underscore', { namespace: 'updraft_data' }, 'teams.0.namespace', /DNS-1123/],
    ['namespace ending in a dash', { namespace: 'updraft-' }, 'teams.0.namespace', /DNS-1123/],
    ['team id too long', { id: 'a'.repeat(41) }, 'teams.0.id', /at most 40/],
    ['team id with capitals', { id: 'Data' }, 'teams.0.id', /DNS-1123/],
    [
      'bad cpu quantity',
      { quota: { cpu: 'four', memory: '8Gi', pods: 20 } },
      'teams.0.quota.cpu',
      /Kubernetes quantity/,
    ],
    [
      'bad memory unit',
      { quota: { cpu: '4', memory: '8GB', pods: 20 } },
      'teams.0.quota.memory',
      /Kubernetes quantity/,
    ],
    ['zero pods', { quota: { cpu: '4', memory: '8Gi', pods: 0 } }, 'teams.0.quota.pods', /./],
    [
      'bad default container memory',
      { defaultContainerResources: { cpu: '100m', memory: '1 Gi' } },
      'teams.0.defaultContainerResources.memory',
      /Kubernetes quantity/,
    ],
  ])('%s → error at %s', (_label, extra, path, message) => {
    const issues = issuePaths({ teams: [team(extra)] });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe(path);
    expect(issues[0]!.message).toMatch(message);
  });

  it.each(['500m', '2', '0.5', '4Gi', '128Mi', '1k', '1T'])('accepts quantity %s', (cpu) => {
    expect(issuePaths({ teams: [team({ quota: { cpu, memory: '1Gi', pods: 1 } })] })).toEqual([]);
  });

  it('needs at least one team and no unknown keys', () => {
    expect(issuePaths({ teams: [] })[0]?.path).toBe('teams');
    expect(issuePaths({ teams: [{ ...team(), owner: 'x' }] })[0]?.path).toBe('teams.0');
  });
});

describe('environment names and team ids', () => {
  it.each([...ENVIRONMENTS])('%s is an environment', (env) => {
    expect(environmentNameSchema.parse(env)).toBe(env);
  });

  it('rejects an unknown environment', () => {
    expect(environmentNameSchema.safeParse('staging').success).toBe(false);
  });

  it.each([
    ['a', true],
    ['team-1', true],
    ['-team', false],
    ['team-', false],
    ['te_am', false],
  ])('team id %j valid: %s', (id, valid) => {
    expect(teamIdSchema.safeParse(id).success).toBe(valid);
  });
});
