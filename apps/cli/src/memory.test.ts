/**
 * Standalone's one re-execution with a capped young generation (memory.ts): same process id and
 * the flag on; not when the flag is given (command line or NODE_OPTIONS)
 * or UPDRAFT_NO_REEXEC is set.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MEMORY = fileURLToPath(new URL('./memory.ts', import.meta.url));
const PROBE = `
import { capYoungGeneration } from ${JSON.stringify(MEMORY)};
capYoungGeneration();
console.log(JSON.stringify({ pid: process.pid, execArgv: process.execArgv, args: process.argv.slice(1) }));
`;

function probe(nodeArgs: string[], env: Record<string, string> = {}) {
  const { stdout, pid, status } = spawnSync(
    process.execPath,
    [...nodeArgs, '--input-type=module', '-e', PROBE, 'standalone', '--port', '0'],
    { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' },
  );
  expect(status).toBe(0);
  return { childPid: pid, ...(JSON.parse(stdout.trim()) as { pid: number; execArgv: string[] }) };
}

const CASES: [name: string, nodeArgs: string[], env: Record<string, string>, flags: string[]][] = [
  ['re-executes once with the cap', [], {}, ['--max-semi-space-size=16']],
  [
    'keeps a cap given on the command line',
    ['--max-semi-space-size=32'],
    {},
    ['--max-semi-space-size=32'],
  ],
  ['keeps a cap given in NODE_OPTIONS', [], { NODE_OPTIONS: '--max-semi-space-size=8' }, []],
  ['does nothing with UPDRAFT_NO_REEXEC', [], { UPDRAFT_NO_REEXEC: '1' }, []],
];

describe('capYoungGeneration', () => {
  it.each(CASES)('%s', (_, nodeArgs, env, flags) => {
    const out = probe(nodeArgs, env);
    expect(out.pid).toBe(out.childPid);
    expect(out.execArgv.filter((a) => a.startsWith('--max-semi-space-size'))).toEqual(flags);
  });
});
