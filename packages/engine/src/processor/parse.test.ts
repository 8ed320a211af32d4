import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDagFiles } from './parse.ts';

// Inside the package, so DAG files resolve @updraft/sdk.
const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));

const GOOD = (id: string) => `import { dag } from '@updraft/sdk';
export default dag({ id: '${id}', team: 'data-eng' }, (d) => {
  d.shell('hello', { command: 'echo hi' });
});
`;

describe('parsing DAG files in a thread of their own', () => {
  let dir: string;
  const file = (name: string) => join(dir, name);

  beforeAll(async () => {
    dir = await mkdtemp(join(PACKAGE_DIR, '.tmp-parse-'));
    await writeFile(file('first.ts'), GOOD('first'));
    await writeFile(file('hangs.ts'), `${GOOD('hangs')}for (;;) {}\n`);
    await writeFile(file('exits.ts'), `${GOOD('exits')}process.exit(3);\n`);
    await writeFile(file('last.ts'), GOOD('last'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reports a file that never finishes loading or ends its thread, and parses the rest', async () => {
    const results = await parseDagFiles(
      ['first.ts', 'hangs.ts', 'exits.ts', 'last.ts'].map(file),
      1500,
    );
    const byFile = new Map(results.map((r) => [r.fileloc.split('/').pop(), r]));
    expect([...byFile.keys()].sort()).toEqual(['exits.ts', 'first.ts', 'hangs.ts', 'last.ts']);
    const ok = (name: string) => {
      const r = byFile.get(name);
      return r?.kind === 'ok' ? r.specs.map((s) => s.dagId) : r?.message;
    };
    expect(ok('first.ts')).toEqual(['first']);
    expect(ok('last.ts')).toEqual(['last']);
    expect(ok('hangs.ts')).toMatch(/hangs\.ts: loading took longer than 1500 ms and was stopped/);
    expect(ok('exits.ts')).toMatch(/exits\.ts: /);
  });

  it('names the file, DAG, task and field of what cannot be stored or is wrong', async () => {
    const dag = (id: string, options: string, body = "d.shell('a', { command: 'true' });") =>
      `import { dag } from '@updraft/sdk';\nexport default dag({ id: '${id}', team: 'data-eng'${options} }, (d) => { ${body} });\n`;
    const cases: Record<string, [string, RegExp]> = {
      'bigint.ts': [
        dag('bigint', ', params: { big: 10n }'),
        /bigint\.ts: DAG "bigint": field "params\.big": a bigint cannot be stored/,
      ],
      'cycle.ts': [
        `const o = { a: 1 }; o.self = o;\n${dag('cycle', ', params: { o }')}`,
        /cycle\.ts: DAG "cycle": field "params\.o\.self": refers to itself/,
      ],
      'fn.ts': [
        dag('fn', ', params: { f: () => 1 }'),
        /fn\.ts: DAG "fn": field "params\.f": a function cannot be stored/,
      ],
      'date.ts': [
        dag('date', ', params: { when: new Date(0) }'),
        /date\.ts: DAG "date": field "params\.when": a Date cannot be stored .*ISO string/,
      ],
      'dup.ts': [
        dag('dup', '', "d.shell('a', { command: 'true' }); d.shell('a', { command: 'true' });"),
        /^\S*dup\.ts: DAG "dup": task "a": .*duplicate task id/,
      ],
      'tz.ts': [
        dag('tz', ", schedule: '@daily', timezone: 'Mars/Olympus'"),
        /tz\.ts: DAG "tz": field "timezone": .*Mars\/Olympus/,
      ],
    };
    for (const [name, [source]] of Object.entries(cases)) await writeFile(file(name), source);
    const results = await parseDagFiles(Object.keys(cases).map(file), 10_000);
    for (const r of results) {
      const [, expected] = cases[r.fileloc.split('/').pop()!]!;
      expect(r.kind === 'error' ? r.message : 'loaded').toMatch(expected);
    }
    expect(results).toHaveLength(Object.keys(cases).length);
  });

  it("uses the compile cache it is given (the main thread's, as the installed CLI runs)", async () => {
    const cacheDir = await mkdtemp(join(dir, 'cache-'));
    for (let i = 0; i < 2; i++) {
      const [result] = await parseDagFiles([file('first.ts')], 10_000, cacheDir);
      expect(result?.kind === 'ok' && result.specs[0]?.dagId).toBe('first');
    }
    // The thread compiled the engine's modules and the DAG file into it.
    const entries = await readdir(cacheDir, { recursive: true });
    expect(entries.length).toBeGreaterThan(10);
  });
});
