import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BOOTSTRAP = fileURLToPath(new URL('./bootstrap.ts', import.meta.url));

/** Runs a logger in a process of its own, to see which stream its lines go to. */
function logOnce(options: string) {
  const script = `import { createLogger } from ${JSON.stringify(BOOTSTRAP)};
createLogger({ level: 'info', component: 'c', environment: 'local', ${options} }).warn({ password: 'pw-9' }, 'hello');`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`the logger's process failed: ${result.stderr}`);
  return { stdout: result.stdout, stderr: result.stderr };
}

describe('createLogger', () => {
  it('writes JSON lines to stdout, or to stderr when asked (a command keeps stdout for itself)', () => {
    const plain = logOnce('');
    expect(JSON.parse(plain.stdout)).toMatchObject({
      msg: 'hello',
      component: 'c',
      password: '***',
    });
    const toStderr = logOnce('stderr: true');
    expect(toStderr.stdout).toBe('');
    expect(JSON.parse(toStderr.stderr.trim().split('\n').at(-1)!)).toMatchObject({ msg: 'hello' });
    expect(toStderr.stderr).not.toContain('pw-9');
  });
});
