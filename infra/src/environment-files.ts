/** Locating and reading `environments/<env>/` from the infra package. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const ENVIRONMENTS_DIR = fileURLToPath(new URL('../../environments/', import.meta.url));

export const stackFilePath = (env: string) => `${ENVIRONMENTS_DIR}${env}/Pulumi.${env}.yaml`;
export const teamsFilePath = (env: string) => `${ENVIRONMENTS_DIR}${env}/teams.yaml`;

export function readTeamsYaml(env: string): string {
  return readFileSync(teamsFilePath(env), 'utf8');
}

/**
 * Reads a stack settings file into the flat `{ "ns:key": "string" }` shape the Pulumi engine
 * hands a program: scalars as strings, objects and lists as JSON. Encrypted (`secure:`) values
 * cannot be decrypted without the CLI and are returned in `secure`.
 */
export function readStackConfig(env: string): { config: Record<string, string>; secure: string[] } {
  const doc = parseYaml(readFileSync(stackFilePath(env), 'utf8')) as {
    config?: Record<string, unknown>;
  } | null;
  const config: Record<string, string> = {};
  const secure: string[] = [];
  for (const [key, value] of Object.entries(doc?.config ?? {})) {
    if (value !== null && typeof value === 'object' && 'secure' in value) {
      secure.push(key);
    } else {
      config[key] = typeof value === 'string' ? value : JSON.stringify(value);
    }
  }
  return { config, secure };
}
