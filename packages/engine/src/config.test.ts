import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, envFields, parseEnv, releaseVersion } from './config.ts';

const schema = z.object({
  UPDRAFT_ENV: envFields.UPDRAFT_ENV,
  UPDRAFT_VERSION: envFields.UPDRAFT_VERSION,
  DATABASE_URL: envFields.DATABASE_URL,
});

describe('app configuration', () => {
  it('reports the release the platform sets, else the version of the packages', () => {
    const config = parseEnv(schema, { UPDRAFT_ENV: 'qa', UPDRAFT_VERSION: '2026.11.24-rc1' });
    expect(releaseVersion(config.UPDRAFT_VERSION)).toBe('2026.11.24-rc1');
    const { version } = JSON.parse(
      readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    expect(releaseVersion(parseEnv(schema, {}).UPDRAFT_VERSION)).toBe(version);
    expect(releaseVersion(parseEnv(schema, { UPDRAFT_VERSION: '' }).UPDRAFT_VERSION)).toBe(version);
  });

  it('names every bad variable, and does not echo a URL', () => {
    let error: unknown;
    try {
      parseEnv(schema, {
        UPDRAFT_ENV: 'staging',
        UPDRAFT_VERSION: 'v1 with spaces',
        DATABASE_URL: 'mysql://user:hunter2@db/x',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('UPDRAFT_ENV ("staging")');
    expect(message).toContain('UPDRAFT_VERSION ("v1 with spaces"): must be a release name');
    expect(message).toContain('DATABASE_URL (set): must be a postgres://');
    expect(message).not.toContain('hunter2');
  });
});
