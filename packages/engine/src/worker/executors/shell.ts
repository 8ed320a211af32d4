/**
 * Shell tasks: `sh -c <command>` in its own process group, with a clean environment (the worker's
 * own variables, such as DATABASE_URL, are never passed on). The last line of stdout is the
 * result, as Airflow's BashOperator does.
 */
import { spawn } from 'node:child_process';
import { shellConfigSchema } from '@updraft/core/dag';
import { maskSecrets, secretMasker, sensitiveValues } from '../secrets.ts';
import { type Executor, TaskFailure } from './types.ts';
import { renderWithXcom } from './xcom-template.ts';

const KILL_GRACE_MS = 5000;

export const runShellTask: Executor = async (ctx) => {
  const config = shellConfigSchema.parse(ctx.task.config);
  // {{ xcom.<task>.<field> }} may name another task's result (see xcom-template.ts).
  const { command, env: taskEnv } = await renderWithXcom(ctx, {
    command: config.command,
    env: config.env ?? {},
  });
  const secrets = sensitiveValues(taskEnv);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    LANG: process.env.LANG ?? 'C.UTF-8',
    UPDRAFT_DAG_ID: ctx.run.dagId,
    UPDRAFT_RUN_ID: ctx.run.runId,
    UPDRAFT_TASK_ID: ctx.taskId,
    UPDRAFT_TRY_NUMBER: String(ctx.tryNumber),
    UPDRAFT_LOGICAL_DATE: ctx.run.logicalDate.toISOString(),
    UPDRAFT_DS: ctx.run.logicalDate.toISOString().slice(0, 10),
    UPDRAFT_DATA_INTERVAL_START: ctx.run.dataIntervalStart.toISOString(),
    UPDRAFT_DATA_INTERVAL_END: ctx.run.dataIntervalEnd.toISOString(),
    ...taskEnv,
  };
  ctx.log(`$ ${maskSecrets(command, secrets)}\n`);
  const child = spawn('/bin/sh', ['-c', command], {
    cwd: config.cwd,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let lastLine = '';
  let pending = '';
  // A secret split across two reads of the output is still masked (see secretMasker).
  const stdout = secretMasker(secrets);
  const stderr = secretMasker(secrets);
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const text = stdout.push(chunk);
    if (text) ctx.log(text);
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) lastLine = line;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    const text = stderr.push(chunk);
    if (text) ctx.log(text);
  });
  const kill = () => {
    if (child.exitCode !== null || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {}
    setTimeout(() => {
      try {
        if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, KILL_GRACE_MS).unref();
  };
  ctx.signal.addEventListener('abort', kill, { once: true });
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal }));
    },
  ).finally(() => {
    ctx.signal.removeEventListener('abort', kill);
    const rest = stdout.end() + stderr.end();
    if (rest) ctx.log(rest);
  });
  if (pending.trim()) lastLine = pending;
  if (ctx.signal.aborted) throw ctx.signal.reason;
  if (exit.code !== 0) {
    throw new TaskFailure(
      exit.signal
        ? `command was killed by ${exit.signal}`
        : `command exited with code ${exit.code}`,
    );
  }
  return { result: maskSecrets(lastLine.trim(), secrets) || undefined };
};
