/**
 * Keeps the benchmark from rotting: `pnpm bench --quick --tiny` end to end (chain of 5, fan-out of
 * 20, one run, ten DAG files…), and every printed figure is a well-formed JSON line with a
 * positive value.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

it('runs every workload at tiny sizes and prints well-formed figures', async () => {
  const { code, stdout, stderr } = await new Promise<{
    code: number | null;
    stdout: string;
    stderr: string;
  }>((resolve) => {
    const child = spawn(process.execPath, [MAIN, '--quick', '--tiny'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  expect(code, stderr).toBe(0);
  const figures = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  for (const f of figures) {
    expect(Object.keys(f).sort()).toEqual(['metric', 'params', 'unit', 'value', 'workload']);
    expect(typeof f.workload).toBe('string');
    expect(typeof f.metric).toBe('string');
    expect(typeof f.unit).toBe('string');
    expect(typeof f.params).toBe('object');
    expect(typeof f.value).toBe('number');
    expect(f.value as number, `${f.workload} ${f.metric}`).toBeGreaterThan(0);
  }
  const workloads = new Set(figures.map((f) => String(f.workload).split(' ')[0]));
  expect([...workloads].sort()).toEqual(['W1', 'W2', 'W3', 'W4', 'W5', 'W6', 'W7']);
  expect(stdout).toContain('| workload | metric | value | unit | params |');
});
