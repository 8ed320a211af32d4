import { describe, expect, it } from 'vitest';
import { type ParamRule, paramIssues } from './params.ts';

const rules: Record<string, ParamRule> = {
  region: { type: 'string', enum: ['emea', 'us'] },
  epochs: { type: 'integer', minimum: 1, maximum: 100 },
  rate: { type: 'number' },
  table: { type: 'string', pattern: '^[a-z_]+$', maxLength: 10 },
  owner: { type: 'string', required: true },
};

describe('paramIssues', () => {
  it('accepts values that meet every rule', () => {
    expect(
      paramIssues(rules, { region: 'us', epochs: 3, rate: 0.5, table: 'sales', owner: 'ana' }),
    ).toEqual([]);
    expect(paramIssues(rules, { owner: 'ana', rate: 2 })).toEqual([]);
  });

  it.each([
    [{ owner: 'a', region: 'apac' }, 'conf.region', 'must be one of "emea", "us"'],
    [{ owner: 'a', epochs: 0 }, 'conf.epochs', 'must be at least 1'],
    [{ owner: 'a', epochs: 101 }, 'conf.epochs', 'must be at most 100'],
    [{ owner: 'a', epochs: 2.5 }, 'conf.epochs', 'must be of type integer, got number'],
    [{ owner: 'a', rate: '1' }, 'conf.rate', 'must be of type number, got string'],
    [{ owner: 'a', table: 'Sales' }, 'conf.table', 'must match ^[a-z_]+$'],
    [{ owner: 'a', table: 'a_very_long_name' }, 'conf.table', 'must be at most 10 characters'],
    [{}, 'conf.owner', 'is required'],
    [{ owner: null }, 'conf.owner', 'must be of type string, got null'],
  ])('reports %j as %s %s', (values, field, message) => {
    expect(paramIssues(rules, values)).toEqual([{ field, message }]);
  });
});
