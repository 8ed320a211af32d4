/**
 * Standalone's one re-execution with memory flags (memory.ts): same process id, the flags on and
 * glibc's arenas limited; a flag given on the command line or in NODE_OPTIONS, or MALLOC_ARENA_MAX
 * given, is kept as given; nothing happens with UPDRAFT_NO_REEXEC.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MEMORY = fileURLToPath(new URL('./memory.ts', import.meta.url));
const probeSource = (embedded: boolean) => `
import { reexecWithStandaloneFlags } from ${JSON.stringify(MEMORY)};
reexecWithStandaloneFlags(${embedded});
console.log(JSON.stringify({ pid: process.pid, execArgv: process.execArgv, args: process.argv.slice(1), arenas: process.env.MALLOC_ARENA_MAX ?? null }));
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
    ...(JSON.parse(stdout.trim()) as {
      pid: number;
      execArgv: string[];
      args: string[];
      arenas: string | null;
    }),
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
  arenas: string | null,
][] = [
  [
    'on PostgreSQL: caps the young generation and the malloc arenas',
    false,
    [],
    {},
    ['--max-semi-space-size=2'],
    '1',
  ],
  [
    'on PGlite: also keeps WASM on the baseline compiler',
    true,
    [],
    {},
    ['--max-semi-space-size=2', '--liftoff-only'],
    '1',
  ],
  [
    'keeps a cap given on the command line',
    true,
    ['--max-semi-space-size=32'],
    {},
    ['--liftoff-only', '--max-semi-space-size=32'],
    '1',
  ],
  [
    'keeps a cap given in NODE_OPTIONS',
    true,
    [],
    { NODE_OPTIONS: '--max-semi-space-size=8' },
    ['--liftoff-only'],
    '1',
  ],
  [
    'keeps MALLOC_ARENA_MAX given in the environment',
    false,
    [],
    { MALLOC_ARENA_MAX: '4' },
    ['--max-semi-space-size=2'],
    '4',
  ],
  [
    'still limits the arenas when every flag is given',
    false,
    ['--max-semi-space-size=8'],
    {},
    ['--max-semi-space-size=8'],
    '1',
  ],
  [
    'does nothing when every flag and MALLOC_ARENA_MAX are given',
    false,
    ['--max-semi-space-size=8'],
    { MALLOC_ARENA_MAX: '2' },
    ['--max-semi-space-size=8'],
    '2',
  ],
  ['does nothing with UPDRAFT_NO_REEXEC', true, [], { UPDRAFT_NO_REEXEC: '1' }, [], null],
];

describe('reexecWithStandaloneFlags', () => {
  it.each(CASES)('%s', (_, embedded, nodeArgs, env, flags, arenas) => {
    const out = probe(embedded, nodeArgs, env);
    expect(out.pid).toBe(out.childPid);
    expect(memoryFlags(out.execArgv)).toEqual(flags);
    expect(out.arenas).toBe(arenas);
    expect(out.args.slice(-3)).toEqual(['standalone', '--port', '0']);
  });
});
