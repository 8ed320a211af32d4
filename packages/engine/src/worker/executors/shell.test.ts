/**
 * The shell executor on a real /bin/sh: output reaches the task log as it comes, with the values
 * of secret-named variables masked even when the process writes them in pieces.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runShellTask } from './shell.ts';
import type { ExecutionContext } from './types.ts';

function shellContext(
  config: { command: string; env?: Record<string, string> },
  template: Record<string, unknown> = {},
) {
  const logged: string[] = [];
  const at = new Date('2026-01-01T00:00:00Z');
  const ctx = {
    run: {
      runPk: 1,
      dagId: 'd',
      runId: 'r',
      logicalDate: at,
      dataIntervalStart: at,
      dataIntervalEnd: at,
      conf: {},
    },
    taskId: 't',
    mapIndex: -1,
    tryNumber: 1,
    task: { taskId: 't', type: 'shell', config },
    template,
    signal: new AbortController().signal,
    log: (text: string) => logged.push(text),
    pullXcom: async () => undefined,
  } as unknown as ExecutionContext;
  return { ctx, logged };
}

describe('shell tasks', () => {
  it('passes a templated value through env as data, never as shell code (templates.md)', async () => {
    const marker = join(tmpdir(), `updraft-injected-${process.pid}-${Date.now()}`);
    const who = `$(touch ${marker}); \`touch ${marker}\``;
    const { ctx } = shellContext(
      { command: 'echo "hello $WHO"', env: { WHO: '{{ params.who }}' } },
      { params: { who } },
    );
    const { result } = await runShellTask(ctx);
    expect(result).toBe(`hello ${who}`);
    expect(existsSync(marker)).toBe(false);
  });

  it('masks a secret the command writes in two pieces, on stdout and on stderr', async () => {
    const secret = 'hunter2supersecretXYZ';
    // Two writes with a pause between them: the worker reads them as two chunks.
    const { ctx, logged } = shellContext({
      command: [
        'printf "%.8s" "$API_TOKEN"; sleep 0.2; printf "%s" "$API_TOKEN" | cut -c9-',
        'printf "%.5s" "$API_TOKEN" >&2; sleep 0.2; printf "%s" "$API_TOKEN" | cut -c6- >&2',
        'echo "last: $API_TOKEN"',
      ].join('; '),
      env: { API_TOKEN: secret },
    });
    const { result } = await runShellTask(ctx);
    expect(logged.length).toBeGreaterThan(2);
    const log = logged.join('');
    expect(log).not.toContain(secret);
    expect(log).not.toContain(secret.slice(8));
    expect(log.match(/\*\*\*/g)?.length).toBe(3); // stdout twice, stderr once
    expect(log).toContain('last: ***');
    expect(result).toBe('last: ***');
  });

  it('writes output that cannot be a secret at once, and the held-back end when the process ends', async () => {
    const { ctx, logged } = shellContext({
      command: 'printf "no secret here "; sleep 0.2; printf "api"',
      env: { API_TOKEN: 'apikey-123456' },
    });
    await runShellTask(ctx);
    expect(logged).toContain('no secret here ');
    expect(logged.join('')).toMatch(/no secret here api$/);
  });
});
