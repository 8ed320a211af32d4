/**
 * Standalone's one re-execution with memory flags (memory.ts): same process id and the flags on;
 * a flag given on the command line or in NODE_OPTIONS is kept as given; nothing happens with
 * UPDRAFT_NO_REEXEC.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MEMORY = fileURLToPath(new URL('./memory.ts', import.meta.url));
const probeSource = (embedded: boolean) => `
import { reexecWithStandaloneFlags } from ${JSON.stringify(MEMORY)};
reexecWithStandaloneFlags(${embedded});
console.log(JSON.stringify({ pid: process.pid, execArgv: process.execArgv, args: process.argv.slice(1) }));
`;

function probe(embedded: boolean, nodeArgs: string[], env: Record<string, string> = {}) {
  const { stdout, stderr, pid, status } = spawnSync(
    process.execPath,
    [...nodeArgs, '--input-type=module', '-e', probeSource(embedded), 'standalone', '--port', '0'],
    { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' },
  );
  expect(status, stderr).toBe(0);
  return {
    childPid: pid,
    ...(JSON.parse(stdout.trim()) as { pid: number; execArgv: string[]; args: string[] }),
  };
}

const memoryFlags = (execArgv: string[]) =>
  execArgv.filter((a) => a.startsWith('--max-semi-space-size') || a === '--liftoff-only');

const CASES: [
  name: string,
  embedded: boolean,
  nodeArgs: string[],
  env: Record<string, string>,
  flags: string[],
][] = [
  ['on PostgreSQL: caps the young generation', false, [], {}, ['--max-semi-space-size=2']],
  [
    'on PGlite: also keeps WASM on the baseline compiler',
    true,
    [],
    {},
    ['--max-semi-space-size=2', '--liftoff-only'],
  ],
  [
    'keeps a cap given on the command line',
    true,
    ['--max-semi-space-size=32'],
    {},
    ['--liftoff-only', '--max-semi-space-size=32'],
  ],
  [
    'keeps a cap given in NODE_OPTIONS',
    true,
    [],
    { NODE_OPTIONS: '--max-semi-space-size=8' },
    ['--liftoff-only'],
  ],
  ['does nothing with UPDRAFT_NO_REEXEC', true, [], { UPDRAFT_NO_REEXEC: '1' }, []],
];

describe('reexecWithStandaloneFlags', () => {
  it.each(CASES)('%s', (_, embedded, nodeArgs, env, flags) => {
    const out = probe(embedded, nodeArgs, env);
    expect(out.pid).toBe(out.childPid);
    expect(memoryFlags(out.execArgv)).toEqual(flags);
    expect(out.args.slice(-3)).toEqual(['standalone', '--port', '0']);
  });
});
