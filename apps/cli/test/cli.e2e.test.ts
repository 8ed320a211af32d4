/** The `updraft` command as a user runs it. */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI_DIR = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(CLI_DIR, 'src/main.ts');

function updraft(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('updraft CLI', () => {
  let dags: string;

  beforeAll(async () => {
    dags = await mkdtemp(join(CLI_DIR, '.tmp-cli-'));
    await writeFile(
      join(dags, 'greet.ts'),
      `import { dag } from '@updraft/sdk';
export default dag({ id: 'greet', team: 'data-eng', schedule: '@hourly' }, (d) => {
  const hello = d.shell('hello', { command: 'echo "hello {{ params.who }}"' });
  d.fn('shout', async (ctx) => { const h = await ctx.pull(hello); ctx.log(String(h).toUpperCase()); return h; }, { upstream: [hello] });
});
export const failing = dag({ id: 'failing', team: 'data-eng' }, (d) => {
  d.shell('boom', { command: 'echo about to fail; exit 7' });
});
`,
    );
    await writeFile(
      join(dags, 'broken.yaml'),
      'id: broken\nteam: data-eng\ntasks:\n  - id: a\n    shell: echo\n    upstream: [ghost]\n',
    );
  });
  afterAll(async () => {
    await rm(dags, { recursive: true, force: true });
  });

  it('prints help for every command', () => {
    const top = updraft(['--help']);
    expect(top.code).toBe(0);
    for (const cmd of ['standalone', 'db', 'dags']) expect(top.stdout).toContain(cmd);
    const sub = updraft(['dags', 'test', '--help']);
    expect(sub.stdout).toContain('--conf <json>');
  });

  it('lists DAGs and import errors of a folder', () => {
    const { code, stdout, stderr } = updraft(['dags', 'list', '--dags-folder', dags]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/failing\s+data-eng\s+manual only/);
    expect(stdout).toMatch(/greet\s+data-eng\s+cron "0 \* \* \* \*" \(UTC\)\s+2/);
    expect(stderr).toMatch(
      /broken\.yaml: DAG "broken": task "a": field "upstream": unknown upstream task "ghost"/,
    );
  });

  it('dags list refuses what standalone would: an unknown team, a DAG id defined twice', async () => {
    const folder = await mkdtemp(join(CLI_DIR, '.tmp-cli-'));
    try {
      const yamlDag = (id: string, team: string) =>
        `id: ${id}\nteam: ${team}\ntasks:\n  - id: a\n    shell: echo\n`;
      await writeFile(join(folder, 'a.yaml'), yamlDag('twice', 'data-eng'));
      await writeFile(join(folder, 'b.yaml'), yamlDag('twice', 'data-eng'));
      await writeFile(join(folder, 'c.yaml'), yamlDag('strangers', 'nobody'));
      const { code, stdout, stderr } = updraft(['dags', 'list', '--dags-folder', folder]);
      expect(code).toBe(0);
      expect(stdout).not.toContain('strangers');
      expect(stdout.match(/^twice /gm)).toHaveLength(1);
      expect(stderr).toMatch(
        /c\.yaml: DAG "strangers": team "nobody" is not defined in \S*teams\.yaml/,
      );
      expect(stderr).toMatch(/b\.yaml: DAG "twice" is already defined in \S*a\.yaml/);
      const json = JSON.parse(updraft(['dags', 'list', '--dags-folder', folder, '--json']).stdout);
      expect(json.dags.map((d: { dag_id: string }) => d.dag_id)).toEqual(['twice']);
      expect(json.import_errors.map((e: { fileloc: string }) => e.fileloc.slice(-6))).toEqual([
        'b.yaml',
        'c.yaml',
      ]);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('dags test runs one run in-process and prints states and logs', () => {
    const { code, stdout } = updraft([
      'dags',
      'test',
      'greet',
      '--dags-folder',
      dags,
      '--conf',
      '{"who":"world"}',
    ]);
    expect(stdout).toContain('hello world');
    expect(stdout).toContain('HELLO WORLD');
    expect(stdout).toMatch(/── shout: success \(try 1\)/);
    expect(stdout).toMatch(/run manual__\S+: success/);
    expect(code).toBe(0);
  });

  it('dags test exits non-zero when the run fails, with the reason', () => {
    const { code, stdout } = updraft(['dags', 'test', 'failing', '--dags-folder', dags]);
    expect(stdout).toMatch(/── boom: failed \(try 1\) — command exited with code 7/);
    expect(code).toBe(1);
  });

  it('rejects bad input with a clear message', () => {
    const conf = updraft(['dags', 'test', 'greet', '--dags-folder', dags, '--conf', '[1]']);
    expect(conf.code).not.toBe(0);
    expect(conf.stderr).toContain('conf must be a JSON object');
    const missing = updraft(['dags', 'test', 'nope', '--dags-folder', dags]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('DAG "nope" was not found');
    // broken.yaml is about another DAG: counted, not printed in full.
    expect(missing.stderr).toContain('1 other file(s) did not load; `updraft dags list` says why');
    expect(missing.stderr).not.toContain('ghost');
    const broken = updraft(['dags', 'test', 'broken', '--dags-folder', dags]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/import error: .*broken\.yaml: DAG "broken": .*"ghost"/);
    const env = updraft(['dags', 'list'], { UPDRAFT_ENV: 'staging', DATABASE_URL: 'mysql://x' });
    expect(env.code).toBe(1);
    expect(env.stderr).toMatch(/UPDRAFT_ENV \("staging"\)/);
    expect(env.stderr).toMatch(/DATABASE_URL \(set\): must be a postgres/);
    expect(env.stderr).not.toContain('mysql://x');
  });
});
