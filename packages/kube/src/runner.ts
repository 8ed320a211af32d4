/**
 * The pod workload runner: runs one task try as one pod and reports how it ended.
 *
 * Create-or-reattach by deterministic name, watch (with resync), follow logs without duplicates,
 * read the result from the termination message, clean up according to `onFinish`.
 */
import { PassThrough } from 'node:stream';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { KubeClientOptions, KubeClients } from './client.ts';
import { createKubeClients } from './client.ts';
import { apiErrorCode, apiErrorMessage } from './errors.ts';
import {
  BASE_CONTAINER,
  buildPodSpec,
  classifyPodFailure,
  HOPELESS_WAITING_REASONS,
  type PodFailure,
  type PodTaskConfig,
  type PodTaskIdentity,
  podLabelSelector,
  podName,
} from './spec.ts';

export type { PodTaskIdentity } from './spec.ts';

export interface RunPodRequest {
  identity: PodTaskIdentity;
  /** Already resolved by the caller via resolveNamespace. */
  namespace: string;
  /** Parsed by podTaskConfigSchema, args already templated. */
  config: PodTaskConfig;
  /** Aborted on timeout / clear / mark-failed / shutdown: the pod is deleted. */
  signal: AbortSignal;
  /** Container log text as it streams. */
  onLog: (chunk: string) => void;
  /** Default 64 KiB. (Kubernetes itself caps a termination message at 4096 bytes.) */
  maxResultBytes?: number;
}

export interface RunPodOutcome {
  state: 'success' | 'failed';
  podName: string;
  /** True if an existing pod for this identity was found and followed. */
  reattached: boolean;
  exitCode?: number;
  failure?: PodFailure;
  /** The parsed JSON termination message (XCom). */
  result?: unknown;
}

export interface PodWorkloadRunner {
  run(req: RunPodRequest): Promise<RunPodOutcome>;
  /** Deletes the pod of a task try (clear / mark-failed / run timeout). A missing pod is fine. */
  deletePod(identity: PodTaskIdentity, namespace: string): Promise<void>;
}

export interface KubernetesPodRunnerOptions {
  /** Clients from createKubeClients, or options to create them lazily on first use. */
  clients: KubeClients | Promise<KubeClients> | KubeClientOptions;
  /** Full GET of the pod this often, in case the watch silently missed something. Default 30 s. */
  resyncMs?: number;
  /** First delay before re-opening a failed watch or log stream (doubles, up to resyncMs). Default 500 ms. */
  retryMs?: number;
  /** After the pod ended, how long to wait for the log stream to drain. Default 10 s. */
  logDrainMs?: number;
  /** Grace period for pods the runner deletes; default: the pod's own. */
  deleteGracePeriodSeconds?: number;
  /** Extra environment for every pod (e.g. UPDRAFT_API_URL). */
  podEnv?: Readonly<Record<string, string>>;
  /** Non-fatal problems (a failed delete, a watch that keeps failing). */
  onWarning?: (message: string, error?: unknown) => void;
}

const DEFAULT_MAX_RESULT_BYTES = 64 * 1024;

function isClients(v: KubernetesPodRunnerOptions['clients']): v is KubeClients {
  return typeof v === 'object' && v !== null && 'core' in v && 'kubeConfig' in v;
}

/**
 * An abort whose reason carries `detach: true` (a worker handing the try to another worker at
 * shutdown) stops following the pod but leaves it running for the adopter.
 */
function isDetach(signal: AbortSignal): boolean {
  const r: unknown = signal.reason;
  return typeof r === 'object' && r !== null && (r as { detach?: unknown }).detach === true;
}

function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r.message;
  if (r === undefined) return 'aborted';
  return String(r);
}

function baseStatus(pod: V1Pod): V1ContainerStatus | undefined {
  const statuses = pod.status?.containerStatuses ?? [];
  return statuses.find((s) => s.name === BASE_CONTAINER) ?? statuses[0];
}

/** The container has run (or is running): logs exist. */
function containerStarted(pod: V1Pod): boolean {
  const s = baseStatus(pod)?.state;
  return s?.running !== undefined || s?.terminated !== undefined;
}

function containerTerminated(pod: V1Pod): boolean {
  return baseStatus(pod)?.state?.terminated !== undefined;
}

function rvNumber(pod: V1Pod): bigint | undefined {
  const rv = pod.metadata?.resourceVersion;
  return rv !== undefined && /^\d+$/.test(rv) ? BigInt(rv) : undefined;
}

/** Parses the timestamp kubelet prefixes to each log line into nanoseconds. */
function parseLineTime(ts: string): bigint | undefined {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/**
 * Follows a container's log with `timestamps=true` and resumes after a disconnect with
 * `sinceTime` (second precision), dropping lines it already delivered by their nanosecond
 * timestamps. On reattach it starts from the beginning of the container's log.
 */
class LogFollower {
  readonly #clients: KubeClients;
  readonly #namespace: string;
  readonly #pod: string;
  readonly #onLog: (chunk: string) => void;
  readonly #isTerminated: () => boolean;
  readonly #retryMs: number;
  readonly #maxRetryMs: number;
  /** Timestamp of the newest delivered line, and how many delivered lines carry it. */
  #lastNs: bigint | undefined;
  #deliveredAtLast = 0;
  /** Lines with timestamp #lastNs the current stream will replay and must be dropped. */
  #skip = 0;
  #controller: AbortController | undefined;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #wakeRetry: (() => void) | undefined;
  readonly done: Promise<void>;

  constructor(opts: {
    clients: KubeClients;
    namespace: string;
    pod: string;
    onLog: (chunk: string) => void;
    isTerminated: () => boolean;
    retryMs: number;
    maxRetryMs: number;
  }) {
    this.#clients = opts.clients;
    this.#namespace = opts.namespace;
    this.#pod = opts.pod;
    this.#onLog = opts.onLog;
    this.#isTerminated = opts.isTerminated;
    this.#retryMs = opts.retryMs;
    this.#maxRetryMs = opts.maxRetryMs;
    this.done = this.#loop();
  }

  /** Delivers the lines (each with its timestamp prefix) that were not delivered before. */
  #deliver(lines: string[]): void {
    let out = '';
    for (const line of lines) {
      const sp = line.indexOf(' ');
      const ns = sp > 0 ? parseLineTime(line.slice(0, sp)) : undefined;
      if (ns === undefined) {
        out += line;
        continue;
      }
      if (this.#lastNs !== undefined && ns < this.#lastNs) continue;
      if (this.#lastNs !== undefined && ns === this.#lastNs) {
        if (this.#skip > 0) {
          this.#skip--;
          continue;
        }
        this.#deliveredAtLast++;
      } else {
        this.#lastNs = ns;
        this.#deliveredAtLast = 1;
        this.#skip = 0;
      }
      out += line.slice(sp + 1);
    }
    if (out !== '') this.#onLog(out);
  }

  #sinceTime(): string | undefined {
    if (this.#lastNs === undefined) return undefined;
    const ms = Number(this.#lastNs / 1_000_000n);
    return `${new Date(ms).toISOString().slice(0, 19)}Z`;
  }

  /** One follow request; resolves when the stream ends (true when it ended cleanly). */
  async #followOnce(follow: boolean): Promise<boolean> {
    // A resumed stream replays the lines carrying the last timestamp: drop as many as were delivered.
    this.#skip = this.#deliveredAtLast;
    const since = this.#sinceTime();
    const sink = new PassThrough();
    let partial = '';
    let clean = true;
    const ended = new Promise<void>((resolve) => {
      sink.on('pipe', (src) => {
        src.on('error', () => {
          clean = false;
          resolve();
        });
        src.on('end', () => resolve());
        src.on('close', () => resolve());
      });
      sink.on('error', () => {
        clean = false;
        resolve();
      });
    });
    sink.setEncoding('utf8');
    sink.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      this.#deliver(parts.map((p) => `${p}\n`));
    });
    this.#controller = await this.#clients.log.log(
      this.#namespace,
      this.#pod,
      BASE_CONTAINER,
      sink,
      {
        follow,
        timestamps: true,
        ...(since !== undefined ? { sinceTime: since } : {}),
      },
    );
    if (this.#stopped) this.#controller.abort();
    await ended;
    // Let the last 'data' events through.
    await new Promise<void>((r) => setImmediate(r));
    // A partial last line is final only if the container has ended and the stream was clean.
    if (partial !== '' && clean && this.#isTerminated()) this.#deliver([partial]);
    return clean;
  }

  async #loop(): Promise<void> {
    let delay = this.#retryMs;
    while (!this.#stopped) {
      const terminatedBefore = this.#isTerminated();
      let clean = false;
      try {
        clean = await this.#followOnce(!terminatedBefore);
      } catch (err) {
        const code = apiErrorCode(err);
        if (code === 404) return; // the pod is gone, and its logs with it
      }
      if (this.#stopped) return;
      if (clean && terminatedBefore) return;
      if (clean && this.#isTerminated()) {
        // The stream ended with the container: one non-follow read catches anything it missed.
        try {
          await this.#followOnce(false);
        } catch {
          // best effort
        }
        return;
      }
      await new Promise<void>((resolve) => {
        this.#wakeRetry = resolve;
        this.#retryTimer = setTimeout(resolve, clean ? this.#retryMs : delay);
      });
      delay = Math.min(delay * 2, this.#maxRetryMs);
    }
  }

  /** The container ended: if the follower is waiting to retry, retry now. */
  nudge(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#wakeRetry?.();
  }

  stop(): void {
    this.#stopped = true;
    this.#controller?.abort();
    this.nudge();
  }
}

/** Tracks one pod through watch events and periodic GETs. */
class PodTracker {
  latest: V1Pod;
  deleted = false;
  #wake: (() => void) | undefined;

  constructor(pod: V1Pod) {
    this.latest = pod;
  }

  update(pod: V1Pod): void {
    if (pod.metadata?.uid !== this.latest.metadata?.uid) {
      // A different pod with the same name (recreated): the one we followed is gone.
      this.deleted = true;
      this.latest = pod;
      this.notify();
      return;
    }
    const next = rvNumber(pod);
    const cur = rvNumber(this.latest);
    if (next !== undefined && cur !== undefined && next < cur) return;
    this.latest = pod;
    this.notify();
  }

  markDeleted(last?: V1Pod): void {
    if (last && last.metadata?.uid === this.latest.metadata?.uid) this.latest = last;
    this.deleted = true;
    this.notify();
  }

  notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Resolves on the next change (or `notify`), or after `ms`. */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, Math.max(0, ms));
      this.#wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}

export function createKubernetesPodRunner(options: KubernetesPodRunnerOptions): PodWorkloadRunner {
  const resyncMs = options.resyncMs ?? 30_000;
  const retryMs = options.retryMs ?? 500;
  const logDrainMs = options.logDrainMs ?? 10_000;
  const warn = options.onWarning ?? (() => {});
  let clientsPromise: Promise<KubeClients> | undefined;
  const getClients = (): Promise<KubeClients> => {
    if (!clientsPromise) {
      const c = options.clients;
      clientsPromise =
        c instanceof Promise ? c : isClients(c) ? Promise.resolve(c) : createKubeClients(c);
    }
    return clientsPromise;
  };

  async function deleteByName(
    clients: KubeClients,
    namespace: string,
    name: string,
  ): Promise<void> {
    try {
      await clients.core.deleteNamespacedPod({
        name,
        namespace,
        ...(options.deleteGracePeriodSeconds !== undefined
          ? { gracePeriodSeconds: options.deleteGracePeriodSeconds }
          : {}),
      });
    } catch (err) {
      if (apiErrorCode(err) === 404) return;
      throw err;
    }
  }

  async function deleteQuietly(
    clients: KubeClients,
    namespace: string,
    name: string,
  ): Promise<void> {
    try {
      await deleteByName(clients, namespace, name);
    } catch (err) {
      warn(`could not delete pod ${namespace}/${name}: ${apiErrorMessage(err)}`, err);
    }
  }

  async function run(req: RunPodRequest): Promise<RunPodOutcome> {
    const clients = await getClients();
    const { identity, namespace, config, signal } = req;
    const name = podName(identity);
    const startedAt = Date.now();
    const failed = (failure: PodFailure, extra: Partial<RunPodOutcome> = {}): RunPodOutcome => ({
      state: 'failed',
      podName: name,
      reattached: false,
      failure,
      ...extra,
    });
    const aborted = (): PodFailure => ({
      code: 'Aborted',
      reason: `aborted: ${abortReason(signal)}`,
      retryable: false,
    });
    if (signal.aborted) {
      if (!isDetach(signal)) await deleteQuietly(clients, namespace, name);
      return failed(aborted());
    }

    // 1. Find the pod of this try, or create it.
    let pod: V1Pod | undefined;
    let reattached = false;
    try {
      pod = await clients.core.readNamespacedPod({ name, namespace });
      reattached = true;
    } catch (err) {
      if (apiErrorCode(err) !== 404) throw err;
    }
    if (!pod) {
      const body = buildPodSpec(identity, config, {
        namespace,
        ...(options.podEnv ? { env: options.podEnv } : {}),
      });
      try {
        pod = await clients.core.createNamespacedPod({ namespace, body });
      } catch (err) {
        const code = apiErrorCode(err);
        if (code === 409) {
          pod = await clients.core.readNamespacedPod({ name, namespace });
          reattached = true;
        } else if (code === 422 || code === 400) {
          return failed({
            code: 'InvalidPodSpec',
            reason: `InvalidPodSpec: Kubernetes rejected the pod: ${apiErrorMessage(err)}`,
            retryable: false,
          });
        } else if (code === 403) {
          return failed({
            code: 'Forbidden',
            reason: `Forbidden: not allowed to create pods in namespace '${namespace}': ${apiErrorMessage(err)}`,
            retryable: false,
          });
        } else if (code === 404) {
          return failed({
            code: 'NamespaceNotFound',
            reason: `NamespaceNotFound: ${apiErrorMessage(err)}`,
            retryable: false,
          });
        } else {
          throw err;
        }
      }
    }

    // 2. Follow it.
    const tracker = new PodTracker(pod);
    const selector = podLabelSelector(identity);
    let stopped = false;
    let watchController: AbortController | undefined;
    let watchTimer: NodeJS.Timeout | undefined;
    let watchDelay = retryMs;
    let watchRv = pod.metadata?.resourceVersion;

    const resync = async (): Promise<void> => {
      try {
        const fresh = await clients.core.readNamespacedPod({ name, namespace });
        tracker.update(fresh);
        watchRv = fresh.metadata?.resourceVersion ?? watchRv;
      } catch (err) {
        if (apiErrorCode(err) === 404) tracker.markDeleted();
        else warn(`resync of pod ${namespace}/${name} failed: ${apiErrorMessage(err)}`, err);
      }
    };

    const startWatch = async (): Promise<void> => {
      if (stopped) return;
      let gotEvent = false;
      try {
        const controller = await clients.watch.watch(
          `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
          {
            labelSelector: selector,
            fieldSelector: `metadata.name=${name}`,
            allowWatchBookmarks: true,
            timeoutSeconds: 300,
            ...(watchRv !== undefined ? { resourceVersion: watchRv } : {}),
          },
          (type: string, obj: V1Pod & { code?: number }) => {
            gotEvent = true;
            if (type === 'ERROR') {
              // 410 Gone: our resourceVersion is too old; start over from a fresh GET.
              watchRv = undefined;
              return;
            }
            if (obj.metadata?.resourceVersion) watchRv = obj.metadata.resourceVersion;
            if (type === 'BOOKMARK' || obj.metadata?.name !== name) return;
            if (type === 'DELETED') tracker.markDeleted(obj);
            else tracker.update(obj);
          },
          (err: unknown) => {
            if (stopped) return;
            if (err) watchDelay = gotEvent ? retryMs : Math.min(watchDelay * 2, resyncMs);
            else watchDelay = retryMs;
            watchTimer = setTimeout(
              () => {
                void resync().then(startWatch);
              },
              err ? watchDelay : 0,
            );
          },
        );
        watchController = controller;
        if (stopped) controller.abort();
      } catch (err) {
        warn(`watch of pod ${namespace}/${name} failed: ${apiErrorMessage(err)}`, err);
        watchDelay = Math.min(watchDelay * 2, resyncMs);
        watchTimer = setTimeout(() => {
          void resync().then(startWatch);
        }, watchDelay);
      }
    };

    const resyncTimer = setInterval(() => {
      void resync();
    }, resyncMs);
    const onAbort = (): void => tracker.notify();
    signal.addEventListener('abort', onAbort);
    await startWatch();

    let follower: LogFollower | undefined;
    const startFollower = (): void => {
      if (follower || !containerStarted(tracker.latest)) return;
      follower = new LogFollower({
        clients,
        namespace,
        pod: name,
        onLog: req.onLog,
        isTerminated: () => containerTerminated(tracker.latest) || tracker.deleted,
        retryMs,
        maxRetryMs: resyncMs,
      });
    };
    const stopAll = (): void => {
      stopped = true;
      clearInterval(resyncTimer);
      if (watchTimer) clearTimeout(watchTimer);
      watchController?.abort();
      signal.removeEventListener('abort', onAbort);
    };
    const drainLogs = async (): Promise<void> => {
      if (!follower) return;
      follower.nudge();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        follower.done,
        new Promise<void>((r) => {
          timer = setTimeout(r, logDrainMs);
        }),
      ]);
      if (timer) clearTimeout(timer);
      follower.stop();
    };
    const finish = async (outcome: RunPodOutcome, remove: boolean): Promise<RunPodOutcome> => {
      stopAll();
      await drainLogs();
      if (remove) await deleteQuietly(clients, namespace, name);
      return { ...outcome, reattached };
    };

    // `return await finish(…)` below: a bare `return finish(…)` would run the `finally` (which
    // stops the log follower) before finish() has drained the logs of a short-lived container.
    try {
      for (;;) {
        const current = tracker.latest;
        if (signal.aborted) {
          stopAll();
          follower?.stop();
          if (!isDetach(signal)) await deleteQuietly(clients, namespace, name);
          return { ...failed(aborted()), reattached };
        }
        startFollower();
        const terminated = baseStatus(current)?.state?.terminated;
        const exit = terminated ? { exitCode: terminated.exitCode } : {};
        const phase = current.status?.phase;
        if (phase === 'Succeeded') {
          const parsed = parseResult(
            terminated?.message,
            req.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES,
          );
          if ('failure' in parsed) {
            return await finish(failed(parsed.failure, exit), config.onFinish === 'delete');
          }
          return await finish(
            {
              state: 'success',
              podName: name,
              reattached,
              ...exit,
              ...(parsed.result !== undefined ? { result: parsed.result } : {}),
            },
            config.onFinish !== 'keep',
          );
        }
        if (phase === 'Failed') {
          return await finish(
            failed(classifyPodFailure(current), exit),
            config.onFinish === 'delete',
          );
        }
        if (tracker.deleted) {
          // Deleted by the node lifecycle (NodeLost, eviction): say why; else someone deleted it.
          const failure: PodFailure = current.status?.reason
            ? classifyPodFailure(current)
            : {
                code: 'PodDeleted',
                reason: `PodDeleted: the pod was deleted before it finished${terminated ? ` (container '${BASE_CONTAINER}' exit code ${terminated.exitCode})` : ''}`,
                retryable: true,
              };
          return await finish(failed(failure, exit), false);
        }
        const waiting = baseStatus(current)?.state?.waiting?.reason;
        if (waiting && HOPELESS_WAITING_REASONS.has(waiting)) {
          return await finish(failed(classifyPodFailure(current)), true);
        }
        const notRunning = !containerStarted(current) || waiting === 'CrashLoopBackOff';
        let waitMs = resyncMs;
        if (notRunning) {
          const left = startedAt + config.startupTimeout - Date.now();
          if (left <= 0) {
            return await finish(failed(startupFailure(current, config.startupTimeout)), true);
          }
          waitMs = Math.min(waitMs, left);
        }
        await tracker.changed(waitMs);
        if (containerTerminated(tracker.latest)) follower?.nudge();
      }
    } finally {
      stopAll();
      follower?.stop();
    }
  }

  return {
    run,
    async deletePod(identity, namespace) {
      const clients = await getClients();
      await deleteByName(clients, namespace, podName(identity));
    },
  };
}

function startupFailure(pod: V1Pod, timeoutMs: number): PodFailure {
  const c = classifyPodFailure(pod);
  const within = `the pod did not start within ${Math.round(timeoutMs / 1000)}s`;
  if (c.code === 'Unknown') {
    const waiting = baseStatus(pod)?.state?.waiting?.reason;
    return {
      code: 'StartupTimeout',
      reason: `StartupTimeout: ${within} (phase ${pod.status?.phase ?? 'unknown'}${waiting ? `, container waiting: ${waiting}` : ''})`,
      retryable: true,
    };
  }
  return { ...c, reason: `${c.reason} (${within})` };
}

/** The JSON result in a termination message. Empty → no result. */
export function parseResult(
  message: string | undefined,
  maxBytes: number,
): { result: unknown } | { failure: PodFailure } {
  if (message === undefined || message.trim() === '') return { result: undefined };
  const bytes = Buffer.byteLength(message, 'utf8');
  if (bytes > maxBytes) {
    return {
      failure: {
        code: 'InvalidResult',
        reason: `InvalidResult: the result is ${bytes} bytes, more than the limit of ${maxBytes} bytes`,
        retryable: false,
      },
    };
  }
  try {
    return { result: JSON.parse(message) };
  } catch {
    const head = message.length > 200 ? `${message.slice(0, 200)}…` : message;
    return {
      failure: {
        code: 'InvalidResult',
        reason: `InvalidResult: the termination message is not JSON: ${JSON.stringify(head)}`,
        retryable: false,
      },
    };
  }
}
