import { describe, expect, it } from 'vitest';
import { type CliIo, defaultIo, main, PULUMI_MISSING, parseArgs, pulumiArgs } from './cli.ts';
import { stackFilePath } from './environment-files.ts';

function fakeIo(pulumiInstalled: boolean) {
  const calls: string[][] = [];
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    log: (l) => out.push(l),
    error: (l) => err.push(l),
    run: (command, args) => {
      calls.push([command, ...args]);
      return pulumiInstalled ? 0 : null;
    },
  };
  return { io, calls, out, err };
}

describe('pnpm infra', () => {
  it('prints a clear message when the Pulumi CLI is missing (real process lookup)', async () => {
    const err: string[] = [];
    const io: CliIo = {
      ...defaultIo,
      error: (l) => err.push(l),
      // The real spawn, with a PATH that holds no pulumi binary.
      run: (command, args) => {
        const path = process.env.PATH;
        process.env.PATH = '/nonexistent';
        try {
          return defaultIo.run(command, args);
        } finally {
          process.env.PATH = path;
        }
      },
    };
    expect(await main(['preview', '--env', 'dev'], io)).toBe(127);
    expect(err.join('\n')).toBe(PULUMI_MISSING);
    expect(PULUMI_MISSING).toMatch(/Pulumi CLI .* not found[\s\S]*README/);
  });

  it('runs pulumi on the environment stack with its settings file', async () => {
    const { io, calls } = fakeIo(true);
    expect(await main(['up', '--env', 'prod', '--yes'], io)).toBe(0);
    expect(calls).toEqual([
      ['pulumi', 'version'],
      ['pulumi', 'up', '--stack', 'prod', '--config-file', stackFilePath('prod'), '--yes'],
    ]);
  });

  it.each([
    [
      ['destroy', '--env=qa'],
      ['destroy', '--stack', 'qa', '--config-file', stackFilePath('qa')],
    ],
    [
      ['config', '--env', 'dev', 'set', '--secret', 'updraft:dbPassword'],
      [
        'config',
        'set',
        '--secret',
        'updraft:dbPassword',
        '--stack',
        'dev',
        '--config-file',
        stackFilePath('dev'),
      ],
    ],
    [
      ['init', '--env', 'prod', '--secrets-provider', 'gcpkms://x'],
      ['stack', 'init', 'prod', '--secrets-provider', 'gcpkms://x'],
    ],
  ])('%j → pulumi %j', (argv, expected) => {
    const parsed = parseArgs(argv);
    if (typeof parsed === 'string') throw new Error(parsed);
    expect(pulumiArgs(parsed)).toEqual(expected);
  });

  it.each([
    [['preview'], /--env is required/],
    [['preview', '--env', 'staging'], /unknown environment "staging"/],
    [['apply', '--env', 'dev'], /unknown command "apply"/],
  ])('rejects %j', async (argv, message) => {
    const { io, calls, err } = fakeIo(true);
    expect(await main(argv, io)).toBe(2);
    expect(err.join('\n')).toMatch(message);
    expect(calls).toEqual([]);
  });

  it('check validates an environment offline, without the CLI', async () => {
    const { io, calls, out } = fakeIo(false);
    expect(await main(['check', '--env', 'qa'], io)).toBe(0);
    expect(calls).toEqual([]);
    expect(out.join('\n')).toMatch(/qa: config valid, \d+ resources, all policies pass/);
  });
});
