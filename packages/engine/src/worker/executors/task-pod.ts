/**
 * The pod executor: a shell or function task runs in its own pod built from the platform's
 * task-runner image instead of in the worker's process (per task `executor: 'pod'`, or the team's
 * default), so a heavy task does not share the worker's memory. It reuses the k8sPod executor, so
 * naming, namespaces, logs, failures, reattachment and cleanup are the same as for pod tasks.
 *
 * - shell: `/bin/sh -c <command>` in the image; the result is the last line of output.
 * - function: the image runs `updraft tasks run <task instance> --try <n>`, which loads the DAG file
 *   baked into the image, runs the function with database access (XCom) and writes the result as
 *   the pod's termination message.
 */
import { shellConfigSchema } from '@updraft/core/dag';
import type { ExecutionContext, Executor } from './types.ts';
import { TaskFailure } from './types.ts';

export interface TaskPodOptions {
  /** The k8sPod executor (createPodExecutor / createKubePodExecutor). */
  podExecutor: Executor;
  /** The task-runner image (Updraft and the DAG files, at the same paths as on the scheduler). */
  image: string;
  /** Path of the updraft CLI entry inside the image. */
  cliEntry: string;
  /** Environment for function pods, e.g. DATABASE_URL from a Secret: { secretKeyRef: { name, key } }. */
  functionEnv?: Record<string, string | { secretKeyRef: { name: string; key: string } }>;
  /** Resources of task pods. */
  resources?: Record<string, unknown>;
}

export function createTaskPodExecutor(o: TaskPodOptions): Executor {
  return async (ctx) => {
    const base = { image: o.image, ...(o.resources && { resources: o.resources }) };
    if (ctx.task.type === 'shell') {
      const shell = shellConfigSchema.parse(ctx.task.config);
      let pending = '';
      let last = '';
      const onContainerLog = (text: string) => {
        pending += text;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) last = line;
      };
      // The k8sPod executor renders templates in command and env, as the shell executor would.
      await o.podExecutor({
        ...podContext(ctx, {
          ...base,
          command: ['/bin/sh', '-c', shell.command],
          env: shell.env ?? {},
        }),
        onContainerLog,
      });
      return { result: (pending.trim() || last).trim() || undefined };
    }
    if (ctx.task.type === 'function') {
      const command = [
        'node',
        o.cliEntry,
        'tasks',
        'run',
        String(ctx.taskInstanceId),
        '--try',
        String(ctx.tryNumber),
      ];
      return o.podExecutor(podContext(ctx, { ...base, command, env: o.functionEnv ?? {} }));
    }
    throw new TaskFailure(`task type "${ctx.task.type}" cannot run through the pod executor`, {
      retryable: false,
    });
  };
}

function podContext(ctx: ExecutionContext, config: Record<string, unknown>): ExecutionContext {
  return { ...ctx, task: { ...ctx.task, type: 'k8sPod', config } };
}

/** "secret/key" → the env entry that reads DATABASE_URL from that Kubernetes Secret. */
export function databaseUrlFromSecret(ref: string | undefined): TaskPodOptions['functionEnv'] {
  if (!ref) return {};
  const [name, key] = ref.split('/') as [string, string];
  return { DATABASE_URL: { secretKeyRef: { name, key } } };
}

/** team id → where its tasks run by default, from the teams file. */
export function teamExecutorsFromTeams(
  teams: readonly { id: string; taskExecutor?: 'worker' | 'pod' | undefined }[],
): (team: string) => 'worker' | 'pod' | undefined {
  const map = new Map(teams.map((t) => [t.id, t.taskExecutor]));
  return (team) => map.get(team);
}
