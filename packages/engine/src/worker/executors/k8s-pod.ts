/**
 * k8sPod tasks: one try runs as one pod in the owning team's namespace, through a
 * PodWorkloadRunner from @updraft/kube. The executor renders the templated fields, applies the
 * namespace rule, hands the try's identity to the runner (which creates the pod or, for an adopted
 * try, reattaches to it), streams the container log into the task log and maps the outcome: the
 * JSON termination message becomes the result (XCom), a failure keeps the runner's reason and
 * retryability.
 *
 * Templates: `command`, `args` and plain `env` values see the usual names ({{ ds }},
 * {{ params.x }}, …) plus `xcom.<task_id>`: the result of another task of the run (only the
 * tasks a field names are read).
 *
 * Aborts: a timeout, a clear or a mark-failed aborts ctx.signal; the runner then deletes the pod
 * and the worker records the try as the abort reason says. At a graceful shutdown, pods still
 * running after the grace period are handed over: the worker re-queues the try for adoption and
 * aborts with a `detach` reason, so the runner stops following the pod without deleting it, and
 * another worker continues the same try on the same pod.
 *
 * This module loads @updraft/kube (and so @kubernetes/client-node) only when
 * `createKubePodExecutor` is called; the rest is pure.
 */
import { renderTemplate, type TemplateContext, TemplateError } from '@updraft/core/template';
import { schema } from '@updraft/db';
import type { KubeClientOptions, PodWorkloadRunner, RunPodOutcome } from '@updraft/kube';
import {
  NamespaceNotAllowedError,
  type PodTaskIdentity,
  podName,
  podTaskConfigSchema,
  resolveNamespace,
} from '@updraft/kube/spec';
import { eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { EngineResources } from '../../resources.ts';
import { maskSecrets, secretMasker, sensitiveValues } from '../secrets.ts';
import { type ExecutionContext, type Executor, TaskFailure } from './types.ts';

export interface PodExecutorOptions {
  runner: PodWorkloadRunner;
  /** The Kubernetes namespace of a team (undefined: the team has none). */
  namespaceOf(team: string): string | undefined | Promise<string | undefined>;
  /** Largest result the runner accepts from a termination message; default the runner's. */
  maxResultBytes?: number;
}

/** `{{ xcom.<task_id>… }}` in a templated field: the task whose result must be read first. */
const XCOM_REFERENCE = /\{\{\s*xcom\.([A-Za-z0-9_-]+)/g;

function templatedStrings(config: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const key of ['command', 'args'] as const) {
    const list = config[key];
    if (Array.isArray(list)) for (const v of list) if (typeof v === 'string') out.push(v);
  }
  const env = config.env;
  if (env && typeof env === 'object') {
    for (const v of Object.values(env)) if (typeof v === 'string') out.push(v);
  }
  return out;
}

/** Renders `command`, `args` and plain `env` values; everything else is passed as written. */
async function renderPodConfig(
  ctx: ExecutionContext,
  raw: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const referenced = new Set<string>();
  for (const text of templatedStrings(raw)) {
    for (const m of text.matchAll(XCOM_REFERENCE)) referenced.add(m[1]!);
  }
  const xcom: Record<string, unknown> = {};
  for (const taskId of referenced) {
    const value = await ctx.pullXcom(taskId, 'return_value');
    // A task without a result stays unknown, so the template error names it.
    if (value !== undefined) xcom[taskId] = value;
  }
  const context: TemplateContext = { ...ctx.template, xcom };
  const render = (v: unknown) => (typeof v === 'string' ? renderTemplate(v, context) : v);
  const out: Record<string, unknown> = { ...raw };
  if (Array.isArray(raw.command)) out.command = raw.command.map(render);
  if (Array.isArray(raw.args)) out.args = raw.args.map(render);
  if (raw.env && typeof raw.env === 'object') {
    out.env = Object.fromEntries(Object.entries(raw.env).map(([k, v]) => [k, render(v)]));
  }
  return out;
}

function describeOutcome(outcome: RunPodOutcome): string {
  const exit = outcome.exitCode !== undefined ? `, exit code ${outcome.exitCode}` : '';
  return `pod ${outcome.podName} ${outcome.state === 'success' ? 'succeeded' : 'failed'}${exit}`;
}

export function createPodExecutor(opts: PodExecutorOptions): Executor {
  return async (ctx) => {
    const team = ctx.version.spec.team;
    let config: ReturnType<typeof podTaskConfigSchema.parse>;
    try {
      const rendered = await renderPodConfig(ctx, ctx.task.config);
      const parsed = podTaskConfigSchema.safeParse(rendered);
      if (!parsed.success) {
        const issues = parsed.error.issues.map(
          (i) => `${i.path.join('.') || '(config)'}: ${i.message}`,
        );
        throw new TaskFailure(`invalid k8sPod config: ${issues.join('; ')}`, {
          retryable: false,
        });
      }
      config = parsed.data;
    } catch (error) {
      if (error instanceof TemplateError) {
        throw new TaskFailure(error.message, { retryable: false });
      }
      throw error;
    }

    let namespace: string;
    try {
      const own = await opts.namespaceOf(team);
      namespace = resolveNamespace(
        team,
        config.namespace,
        own === undefined ? {} : { [team]: own },
      );
    } catch (error) {
      if (error instanceof NamespaceNotAllowedError) {
        throw new TaskFailure(error.message, { retryable: false });
      }
      throw error;
    }

    // An adopted try keeps its number, so this is the pod the lost worker started.
    const identity: PodTaskIdentity = {
      dagId: ctx.run.dagId,
      runId: ctx.run.runId,
      taskId: ctx.taskId,
      mapIndex: ctx.mapIndex,
      tryNumber: ctx.tryNumber,
      team,
    };
    ctx.log(
      `${ctx.resumed ? 'resuming: following' : 'running'} pod ${namespace}/${podName(identity)} (image ${config.image})\n`,
    );
    // Literal env values named like secrets are masked in the container's log, its result and its
    // failure reason, as a shell task's are (values from Secrets never reach the worker).
    const secrets = sensitiveValues(config.env ?? {});
    const containerLog = secretMasker(secrets);
    let outcome: RunPodOutcome;
    try {
      outcome = await opts.runner.run({
        identity,
        namespace,
        config,
        signal: ctx.signal,
        onLog: (chunk) => {
          const text = containerLog.push(chunk);
          if (!text) return;
          ctx.log(text);
          ctx.onContainerLog?.(text);
        },
        ...(opts.maxResultBytes !== undefined ? { maxResultBytes: opts.maxResultBytes } : {}),
      });
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      // The Kubernetes API failed before the pod could be followed. This try is over (the next
      // one gets its own pod), so do not leave a pod of it behind.
      await opts.runner.deletePod(identity, namespace).catch(() => {});
      throw new TaskFailure(
        `Kubernetes API error for pod ${namespace}/${podName(identity)}: ${(error as Error).message}`,
        { retryable: true },
      );
    } finally {
      const rest = containerLog.end();
      if (rest) {
        ctx.log(rest);
        ctx.onContainerLog?.(rest);
      }
    }
    // Aborted: the runner has deleted the pod; the worker records the try by the abort's reason.
    if (ctx.signal.aborted) throw ctx.signal.reason;
    ctx.log(`${describeOutcome(outcome)}${outcome.reattached ? ' (reattached)' : ''}\n`);
    if (outcome.state === 'success') {
      return outcome.result === undefined ? {} : { result: maskedResult(outcome.result, secrets) };
    }
    const failure = outcome.failure ?? {
      reason: `${describeOutcome(outcome)} without a reason`,
      retryable: true,
    };
    throw new TaskFailure(maskSecrets(failure.reason, secrets), {
      retryable: failure.retryable,
    });
  };
}

/** A pod's result with its literal secret-named env values masked, as a shell task's is. */
function maskedResult(result: unknown, secrets: readonly string[]): unknown {
  if (secrets.length === 0) return result;
  const text = JSON.stringify(result);
  const masked = maskSecrets(text, secrets);
  if (masked === text) return result;
  try {
    return JSON.parse(masked);
  } catch {
    // The secret spanned JSON syntax: keep nothing of it rather than a broken value.
    return maskSecrets(String(result), secrets);
  }
}

export const NO_KUBERNETES_REASON =
  'this worker has no Kubernetes configured: set KUBECONFIG (a kubeconfig file), UPDRAFT_KUBE_CONTEXT or UPDRAFT_KUBE_IN_CLUSTER=true to run k8sPod tasks';

/** The k8sPod executor of a worker without Kubernetes: every try fails, without retries. */
export const noKubernetesExecutor: Executor = async () => {
  throw new TaskFailure(NO_KUBERNETES_REASON, { retryable: false });
};

/** The Kubernetes settings of an app (from KUBECONFIG, UPDRAFT_KUBE_CONTEXT, UPDRAFT_KUBE_IN_CLUSTER). */
export interface KubeSettings {
  kubeconfigPath?: string | undefined;
  context?: string | undefined;
  inCluster?: boolean | undefined;
}

/** Kubernetes counts as configured when any of its settings is given. */
export function kubeConfigured(s: KubeSettings): boolean {
  return s.kubeconfigPath !== undefined || s.context !== undefined || s.inCluster === true;
}

export interface KubePodExecutorOptions extends KubeSettings {
  namespaceOf: PodExecutorOptions['namespaceOf'];
  logger: Logger;
  /** Full GET of a followed pod this often (default the runner's, 30 s). */
  resyncMs?: number;
  /** Extra environment for every pod. */
  podEnv?: Readonly<Record<string, string>>;
}

/**
 * The k8sPod executor for an app: loads @updraft/kube and client-node now, creates the clients
 * (so a bad kubeconfig or unknown context stops the app at start-up) and the pod runner.
 */
export async function createKubePodExecutor(
  opts: KubePodExecutorOptions,
): Promise<{ executor: Executor; context: string; server: string }> {
  const { createKubeClients, createKubernetesPodRunner } = await import('@updraft/kube');
  const clientOptions: KubeClientOptions = {};
  if (opts.inCluster) clientOptions.inCluster = true;
  if (opts.kubeconfigPath !== undefined) clientOptions.kubeconfigPath = opts.kubeconfigPath;
  if (opts.context !== undefined) clientOptions.context = opts.context;
  const clients = await createKubeClients(clientOptions);
  const runner = createKubernetesPodRunner({
    clients,
    ...(opts.resyncMs !== undefined ? { resyncMs: opts.resyncMs } : {}),
    ...(opts.podEnv ? { podEnv: opts.podEnv } : {}),
    onWarning: (message, error) => opts.logger.warn({ err: error }, message),
  });
  return {
    executor: createPodExecutor({ runner, namespaceOf: opts.namespaceOf }),
    context: clients.context,
    server: clients.server,
  };
}

/** team id → namespace from the teams file's entries. */
export function namespacesFromTeams(
  teams: readonly { id: string; namespace: string }[],
): (team: string) => string | undefined {
  const map = new Map(teams.map((t) => [t.id, t.namespace]));
  return (team) => map.get(team);
}

/** team id → namespace from the database's teams table (kept in sync by the scheduler and API). */
export function namespacesFromDatabase(
  r: EngineResources,
): (team: string) => Promise<string | undefined> {
  return async (team) => {
    const [row] = await r.database.db
      .select({ namespace: schema.teams.namespace })
      .from(schema.teams)
      .where(eq(schema.teams.id, team));
    return row?.namespace;
  };
}
