/**
 * `pnpm infra <command> --env <dev|qa|prod> [pulumi flags…]` — thin wrappers around the Pulumi CLI
 * that always select the right stack and its settings file in `environments/<env>/`, plus
 * `check`, which validates config and policies offline (no CLI, no cloud).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { DEPLOYED_ENVIRONMENTS } from './config.ts';
import { stackFilePath } from './environment-files.ts';

export const INFRA_DIR = fileURLToPath(new URL('../', import.meta.url));
const PULUMI_COMMANDS = ['preview', 'up', 'destroy', 'refresh'] as const;
const COMMANDS = [...PULUMI_COMMANDS, 'init', 'config', 'outputs', 'check'] as const;
type Command = (typeof COMMANDS)[number];

export const PULUMI_MISSING = `The Pulumi CLI ("pulumi") was not found on PATH.
Install it (https://www.pulumi.com/docs/iac/download-install/), for example:
  curl -fsSL https://get.pulumi.com | sh      # or: brew install pulumi/tap/pulumi
then log in to the state backend (see infra/README.md, "Bootstrap"):
  pulumi login gs://<state-bucket>
Offline checks need no CLI: pnpm infra check --env <dev|qa|prod>`;

const USAGE = `usage: pnpm infra <${COMMANDS.join('|')}> --env <${DEPLOYED_ENVIRONMENTS.join('|')}> [extra pulumi arguments]
  preview | up | destroy | refresh   run pulumi on the environment's stack
  init [--secrets-provider <url>]    create the stack (once per environment)
  config <pulumi config args>        e.g. config --env dev set --secret updraft:dbPassword
  outputs                            show the stack outputs (api URL, cluster, database)
  check                              validate config and policies offline (no CLI, no cloud)`;

export interface CliIo {
  log(line: string): void;
  error(line: string): void;
  /** Runs a program with inherited stdio; returns its exit code, or null if it was not found. */
  run(command: string, args: string[]): number | null;
}

export const defaultIo: CliIo = {
  log: (l) => console.log(l),
  error: (l) => console.error(l),
  run(command, args) {
    const r = spawnSync(command, args, { stdio: 'inherit', cwd: INFRA_DIR });
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return r.status ?? 1;
  },
};

export interface ParsedArgs {
  command: Command;
  env: (typeof DEPLOYED_ENVIRONMENTS)[number];
  rest: string[];
}

export function parseArgs(argv: readonly string[]): ParsedArgs | string {
  const [command, ...others] = argv;
  if (!COMMANDS.includes(command as Command)) return `unknown command "${command ?? ''}"\n${USAGE}`;
  const rest: string[] = [];
  let env: string | undefined;
  for (let i = 0; i < others.length; i++) {
    const a = others[i] ?? '';
    if (a === '--env') env = others[++i];
    else if (a.startsWith('--env=')) env = a.slice('--env='.length);
    else if (a !== '--') rest.push(a);
  }
  if (!env) return `--env is required\n${USAGE}`;
  if (!DEPLOYED_ENVIRONMENTS.includes(env as ParsedArgs['env'])) {
    return `unknown environment "${env}" (expected ${DEPLOYED_ENVIRONMENTS.join(', ')})`;
  }
  return { command: command as Command, env: env as ParsedArgs['env'], rest };
}

/** The pulumi command line for a parsed invocation (stack and settings file always explicit). */
export function pulumiArgs({ command, env, rest }: ParsedArgs): string[] {
  const stack = ['--stack', env];
  const configFile = ['--config-file', stackFilePath(env)];
  switch (command) {
    case 'init':
      return ['stack', 'init', env, ...rest];
    case 'config':
      return ['config', ...rest, ...stack, ...configFile];
    case 'outputs':
      return ['stack', 'output', ...stack, ...rest];
    default:
      return [command, ...stack, ...configFile, ...rest];
  }
}

/**
 * `pulumi stack init` writes the stack's secrets-provider settings next to Pulumi.yaml; move them
 * into `environments/<env>/Pulumi.<env>.yaml`, where every other command reads them.
 */
export function adoptStackInitFile(env: string): boolean {
  const written = `${INFRA_DIR}Pulumi.${env}.yaml`;
  if (!existsSync(written)) return false;
  const from = parseDocument(readFileSync(written, 'utf8'));
  const to = parseDocument(readFileSync(stackFilePath(env), 'utf8'));
  for (const key of ['secretsprovider', 'encryptedkey', 'encryptionsalt']) {
    const value = from.get(key);
    if (value !== undefined) to.set(key, value);
  }
  writeFileSync(stackFilePath(env), to.toString());
  rmSync(written);
  return true;
}

export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  const parsed = parseArgs(argv);
  if (typeof parsed === 'string') {
    io.error(parsed);
    return 2;
  }
  if (parsed.command === 'check') return check(parsed.env, io);

  const version = io.run('pulumi', ['version']);
  if (version === null) {
    io.error(PULUMI_MISSING);
    return 127;
  }
  const code = io.run('pulumi', pulumiArgs(parsed));
  if (code === null) {
    io.error(PULUMI_MISSING);
    return 127;
  }
  if (parsed.command === 'init' && code === 0 && adoptStackInitFile(parsed.env)) {
    io.log(
      `moved the stack's secrets settings into environments/${parsed.env}/Pulumi.${parsed.env}.yaml`,
    );
  }
  return code;
}

/** Renders the environment with mocks and runs config validation, policies and image lint. */
export async function check(env: string, io: CliIo): Promise<number> {
  const [{ renderEnvironment }, { checkPolicies }, { ConfigError }] = await Promise.all([
    import('./render.ts'),
    import('./policies.ts'),
    import('./config.ts'),
  ]);
  try {
    const rendered = await renderEnvironment(env);
    const violations = checkPolicies(rendered);
    for (const v of violations) io.error(`policy ${v.policy}: ${v.resource}: ${v.message}`);
    if (violations.length > 0) return 1;
    io.log(`${env}: config valid, ${rendered.resources.length} resources, all policies pass`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      io.error(err.message);
      return 1;
    }
    throw err;
  }
}
