import { fileURLToPath } from 'node:url';

/** The repository root, for defaults that point at the bundled examples. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const EXAMPLE_DAGS = `${REPO_ROOT}examples/dags`;
export const EXAMPLE_TEAMS = `${REPO_ROOT}examples/teams.yaml`;
