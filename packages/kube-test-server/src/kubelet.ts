import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { ContainerLog, monotonicNsClock } from './logs.ts';
import { matchesLabels, parseLabelSelector } from './selectors.ts';
import type { KObject, Store } from './store.ts';

/** What the simulated kubelet can be told to do to a pod. */
export type ScenarioKind = 'unschedulable' | 'oom-kill' | 'node-lost' | 'evict' | 'crash-loop';

export const SCENARIO_KINDS: readonly ScenarioKind[] = [
  'unschedulable',
  'oom-kill',
  'node-lost',
  'evict',
  'crash-loop',
];

/** Pod annotations that choose a scenario (an alternative to {@link ScenarioRule}). */
export const SCENARIO_ANNOTATION = 'test.updraft.dev/scenario';
export const SCENARIO_AFTER_MS_ANNOTATION = 'test.updraft.dev/scenario-after-ms';
export const SCENARIO_MESSAGE_ANNOTATION = 'test.updraft.dev/scenario-message';

/** A rule applied to pods created after it was added. */
export interface ScenarioRule {
  kind: ScenarioKind;
  namespace?: string;
  labelSelector?: string;
  /** For oom-kill, evict, node-lost: delay after the containers start (default 0). */
  afterMs?: number;
  /** Overrides the scheduler / eviction message. */
  message?: string;
  /** How many pods the rule applies to (default: every matching pod). */
  times?: number;
}

export interface AllowedImage {
  /** Used when the container has no `command` (the image's ENTRYPOINT). */
  entrypoint?: string[];
}

export interface KubeletOptions {
  store: Store;
  allowImages: ReadonlyMap<string, AllowedImage>;
  rules: ScenarioRule[];
  stepMs: number;
  nodeName: string;
  nodeLabels: Readonly<Record<string, string>>;
  capacity: { cpuMillis: number; memoryBytes: number };
  workDir: string;
  maxGraceMs: number;
  memorySampleMs: number;
}

type Json = Record<string, unknown>;
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: Json }>;
  envFrom?: Array<{ prefix?: string; secretRef?: Json; configMapRef?: Json }>;
  resources?: {
    limits?: Record<string, string | number>;
    requests?: Record<string, string | number>;
  };
  terminationMessagePath?: string;
  terminationMessagePolicy?: string;
}

interface RunningContainer {
  name: string;
  proc?: ChildProcess;
  startedAt?: string;
  terminated?: Json;
  messagePath: string;
  policy: string;
  killReason?: 'OOMKilled';
}

interface PodRun {
  namespace: string;
  name: string;
  uid: string;
  timers: Set<NodeJS.Timeout>;
  containers: Map<string, RunningContainer>;
  logs: Map<string, ContainerLog>;
  stopped: boolean;
  /** The Running status was written (the pod may finish only after that). */
  started: boolean;
  /** Set when the pod is failed by the node (deadline, eviction, node loss). */
  podFailure?: { reason: string; message: string; keepContainerState?: boolean };
  deleting?: boolean;
  dir: string;
}

const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** Strips registry `docker.io/library/`, the tag and the digest: `busybox:1.36` → `busybox`. */
export function imageRepository(image: string): string {
  let ref = image.split('@')[0] ?? image;
  const lastSlash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > lastSlash) ref = ref.slice(0, colon);
  for (const prefix of ['docker.io/library/', 'docker.io/', 'index.docker.io/library/']) {
    if (ref.startsWith(prefix)) ref = ref.slice(prefix.length);
  }
  return ref;
}

/** Parses a Kubernetes quantity into a number of base units (bytes, cores). */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  const mult: Record<string, number> = {
    '': 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
  };
  const f = mult[m[2] ?? ''];
  return f === undefined ? Number.NaN : n * f;
}

function expand(value: string, vars: ReadonlyMap<string, string>): string {
  return value.replace(
    /\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g,
    (all, name: string | undefined) => {
      if (all === '$$') return '$';
      return name !== undefined && vars.has(name) ? (vars.get(name) ?? '') : all;
    },
  );
}

class ConfigError extends Error {}

/**
 * The simulated kubelet and scheduler of a one-node cluster. It drives pods through their
 * phases by writing status to the store, and runs allow-listed images as local processes.
 */
export class Kubelet {
  readonly #o: KubeletOptions;
  readonly #runs = new Map<string, PodRun>();
  /** Logs by pod uid, kept after the pod finishes (until it is deleted). */
  readonly #logs = new Map<string, Map<string, ContainerLog>>();
  readonly #clock = monotonicNsClock();
  #eventSeq = 0;
  #closed = false;

  constructor(options: KubeletOptions) {
    this.#o = options;
  }

  logsFor(uid: string, container: string): ContainerLog | undefined {
    return this.#logs.get(uid)?.get(container);
  }

  /** Called after a pod was stored. */
  podAdded(pod: KObject): void {
    const run: PodRun = {
      namespace: pod.metadata.namespace ?? 'default',
      name: pod.metadata.name,
      uid: pod.metadata.uid ?? '',
      timers: new Set(),
      containers: new Map(),
      logs: new Map(),
      stopped: false,
      started: false,
      dir: join(this.#o.workDir, pod.metadata.uid ?? pod.metadata.name),
    };
    this.#runs.set(run.uid, run);
    this.#logs.set(run.uid, run.logs);
    this.#simulate(run, pod).catch((err: unknown) => {
      this.#event(run, 'Warning', 'SimulationError', String(err));
    });
  }

  #sleep(run: PodRun, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        run.timers.delete(t);
        resolve(!run.stopped && !this.#closed);
      }, ms);
      run.timers.add(t);
    });
  }

  #patch(
    run: PodRun,
    mutate: (pod: KObject, status: Json, spec: Json) => void,
  ): KObject | undefined {
    const current = this.#o.store.get('pods', run.namespace, run.name);
    if (!current || current.metadata.uid !== run.uid) return undefined;
    return this.#o.store.update('pods', run.namespace, run.name, (pod) => {
      pod.status ??= {};
      pod.spec ??= {};
      mutate(pod, pod.status as Json, pod.spec as Json);
    });
  }

  #event(
    run: PodRun,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    component = 'kubelet',
  ): void {
    this.#eventSeq++;
    const ts = now();
    this.#o.store.create('events', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name: `${run.name}.${(Date.now() * 1000 + this.#eventSeq).toString(16)}`,
        namespace: run.namespace,
      },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Pod',
        name: run.name,
        namespace: run.namespace,
        uid: run.uid,
      },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: ts,
      lastTimestamp: ts,
      source: component === 'kubelet' ? { component, host: this.#o.nodeName } : { component },
      reportingComponent: component,
      reportingInstance: component === 'kubelet' ? this.#o.nodeName : '',
    });
  }

  #scenarioFor(
    pod: KObject,
  ): { kind: ScenarioKind; afterMs: number; message?: string } | undefined {
    const ann = pod.metadata.annotations ?? {};
    const fromAnnotation = ann[SCENARIO_ANNOTATION];
    if (fromAnnotation && (SCENARIO_KINDS as readonly string[]).includes(fromAnnotation)) {
      const msg = ann[SCENARIO_MESSAGE_ANNOTATION];
      return {
        kind: fromAnnotation as ScenarioKind,
        afterMs: Number(ann[SCENARIO_AFTER_MS_ANNOTATION] ?? 0) || 0,
        ...(msg ? { message: msg } : {}),
      };
    }
    for (const rule of this.#o.rules) {
      if (rule.times !== undefined && rule.times <= 0) continue;
      if (rule.namespace !== undefined && rule.namespace !== pod.metadata.namespace) continue;
      if (!matchesLabels(parseLabelSelector(rule.labelSelector), pod.metadata.labels)) continue;
      if (rule.times !== undefined) rule.times--;
      return {
        kind: rule.kind,
        afterMs: rule.afterMs ?? 0,
        ...(rule.message ? { message: rule.message } : {}),
      };
    }
    return undefined;
  }

  #unschedulableReason(spec: Json): string | undefined {
    const selector = (spec.nodeSelector ?? {}) as Record<string, string>;
    const mismatch = Object.entries(selector).some(([k, v]) => this.#o.nodeLabels[k] !== v);
    if (mismatch) {
      return "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";
    }
    let cpu = 0;
    let mem = 0;
    for (const c of (spec.containers ?? []) as Container[]) {
      const req = c.resources?.requests ?? c.resources?.limits ?? {};
      if (req.cpu !== undefined) cpu += parseQuantity(req.cpu) * 1000;
      if (req.memory !== undefined) mem += parseQuantity(req.memory);
    }
    const insufficient: string[] = [];
    if (cpu > this.#o.capacity.cpuMillis) insufficient.push('1 Insufficient cpu');
    if (mem > this.#o.capacity.memoryBytes) insufficient.push('1 Insufficient memory');
    if (insufficient.length > 0) {
      return `0/1 nodes are available: ${insufficient.join(', ')}. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.`;
    }
    return undefined;
  }

  #containerStatuses(
    spec: Json,
    state: (c: Container) => Json,
    extra: (c: Container) => Json = () => ({}),
  ): Json[] {
    return ((spec.containers ?? []) as Container[]).map((c) => ({
      name: c.name,
      image: c.image,
      imageID: '',
      ready: false,
      restartCount: 0,
      started: false,
      state: state(c),
      ...extra(c),
    }));
  }

  async #simulate(run: PodRun, created: KObject): Promise<void> {
    const spec = (created.spec ?? {}) as Json;
    const containers = (spec.containers ?? []) as Container[];
    const scenario = this.#scenarioFor(created);
    if (!(await this.#sleep(run, this.#o.stepMs))) return;

    // Scheduler.
    const unschedulable =
      scenario?.kind === 'unschedulable'
        ? (scenario.message ??
          '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.')
        : this.#unschedulableReason(spec);
    if (unschedulable) {
      this.#patch(run, (_pod, status) => {
        status.conditions = [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: unschedulable,
            lastProbeTime: null,
            lastTransitionTime: now(),
          },
        ];
      });
      this.#event(run, 'Warning', 'FailedScheduling', unschedulable, 'default-scheduler');
      return;
    }
    const startTime = now();
    this.#patch(run, (_pod, status, podSpec) => {
      podSpec.nodeName = this.#o.nodeName;
      status.hostIP = '127.0.0.1';
      status.podIP = '127.0.0.1';
      status.startTime = startTime;
      status.conditions = [
        { type: 'PodReadyToStartContainers', status: 'False', lastTransitionTime: startTime },
        { type: 'Initialized', status: 'True', lastTransitionTime: startTime },
        {
          type: 'Ready',
          status: 'False',
          reason: 'ContainersNotReady',
          message: `containers with unready status: [${containers.map((c) => c.name).join(' ')}]`,
          lastTransitionTime: startTime,
        },
        {
          type: 'ContainersReady',
          status: 'False',
          reason: 'ContainersNotReady',
          lastTransitionTime: startTime,
        },
        { type: 'PodScheduled', status: 'True', lastTransitionTime: startTime },
      ];
      status.containerStatuses = this.#containerStatuses(spec, () => ({
        waiting: { reason: 'ContainerCreating' },
      }));
    });
    this.#event(
      run,
      'Normal',
      'Scheduled',
      `Successfully assigned ${run.namespace}/${run.name} to ${this.#o.nodeName}`,
      'default-scheduler',
    );
    const deadline = spec.activeDeadlineSeconds;
    if (typeof deadline === 'number') {
      const t = setTimeout(() => {
        run.timers.delete(t);
        this.#failPod(
          run,
          'DeadlineExceeded',
          'Pod was active on the node longer than the specified deadline',
        );
      }, deadline * 1000);
      run.timers.add(t);
    }
    if (!(await this.#sleep(run, this.#o.stepMs))) return;

    // Image pull.
    const denied = containers.find((c) => !this.#o.allowImages.has(imageRepository(c.image)));
    if (denied) {
      const ref = denied.image.includes(':') ? denied.image : `${denied.image}:latest`;
      const pullMessage = `rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/${ref}": failed to resolve reference "docker.io/${ref}": docker.io/${ref}: not found`;
      this.#patch(run, (_pod, status) => {
        status.containerStatuses = this.#containerStatuses(spec, (c) =>
          c === denied
            ? { waiting: { reason: 'ErrImagePull', message: pullMessage } }
            : { waiting: { reason: 'PodInitializing' } },
        );
      });
      this.#event(
        run,
        'Warning',
        'Failed',
        `Failed to pull image "${denied.image}": ${pullMessage}`,
      );
      if (!(await this.#sleep(run, this.#o.stepMs))) return;
      this.#patch(run, (_pod, status) => {
        status.containerStatuses = this.#containerStatuses(spec, (c) =>
          c === denied
            ? {
                waiting: {
                  reason: 'ImagePullBackOff',
                  message: `Back-off pulling image "${denied.image}"`,
                },
              }
            : { waiting: { reason: 'PodInitializing' } },
        );
      });
      this.#event(run, 'Normal', 'BackOff', `Back-off pulling image "${denied.image}"`);
      return;
    }
    for (const c of containers) {
      this.#event(
        run,
        'Normal',
        'Pulled',
        `Container image "${c.image}" already present on machine`,
      );
    }

    // Container config (env).
    const envs = new Map<string, Record<string, string>>();
    try {
      for (const c of containers) envs.set(c.name, this.#resolveEnv(run, c));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.#patch(run, (_pod, status) => {
        status.containerStatuses = this.#containerStatuses(spec, () => ({
          waiting: { reason: 'CreateContainerConfigError', message: err.message },
        }));
      });
      this.#event(run, 'Warning', 'Failed', `Error: ${err.message}`);
      return;
    }

    if (scenario?.kind === 'crash-loop') {
      const first = containers[0];
      const t = now();
      this.#patch(run, (_pod, status) => {
        status.phase = 'Running';
        status.containerStatuses = this.#containerStatuses(
          spec,
          (c) => ({
            waiting: {
              reason: 'CrashLoopBackOff',
              message: `back-off 40s restarting failed container=${c.name} pod=${run.name}_${run.namespace}(${run.uid})`,
            },
          }),
          () => ({
            restartCount: 3,
            lastState: {
              terminated: { exitCode: 1, reason: 'Error', startedAt: t, finishedAt: t },
            },
          }),
        );
      });
      this.#event(
        run,
        'Warning',
        'BackOff',
        `Back-off restarting failed container ${first?.name ?? ''} in pod ${run.name}_${run.namespace}(${run.uid})`,
      );
      return;
    }

    // Start the containers.
    mkdirSync(run.dir, { recursive: true });
    const started = now();
    for (const c of containers) {
      this.#event(run, 'Normal', 'Created', `Created container ${c.name}`);
      this.#start(run, c, envs.get(c.name) ?? {});
      this.#event(run, 'Normal', 'Started', `Started container ${c.name}`);
    }
    this.#patch(run, (_pod, status) => {
      status.phase = 'Running';
      for (const cond of (status.conditions ?? []) as Json[]) {
        cond.status = 'True';
        delete cond.reason;
        delete cond.message;
        cond.lastTransitionTime = started;
      }
      status.containerStatuses = this.#containerStatuses(
        spec,
        (c) => {
          const rc = run.containers.get(c.name);
          return rc?.terminated
            ? { terminated: rc.terminated }
            : { running: { startedAt: rc?.startedAt ?? started } };
        },
        (c) => ({
          ready: !run.containers.get(c.name)?.terminated,
          started: true,
          containerID: `containerd://${run.uid.replaceAll('-', '')}${c.name}`,
        }),
      );
    });
    run.started = true;
    this.#maybeFinish(run);
    if (scenario && scenario.kind !== 'unschedulable') {
      const t = setTimeout(() => {
        run.timers.delete(t);
        if (scenario.kind === 'oom-kill') this.oomKill(run.uid);
        if (scenario.kind === 'evict') this.evict(run.uid, scenario.message);
        if (scenario.kind === 'node-lost') this.nodeLost(run.uid, false);
      }, scenario.afterMs);
      run.timers.add(t);
    }
  }

  #lookup(
    run: PodRun,
    resource: 'secrets' | 'configmaps',
    ref: Json,
    key?: string,
  ): Record<string, string> | string | undefined {
    const name = String(ref.name ?? '');
    const obj = this.#o.store.get(resource, run.namespace, name);
    const optional = ref.optional === true;
    const what = resource === 'secrets' ? 'secret' : 'configmap';
    if (!obj) {
      if (optional) return undefined;
      throw new ConfigError(`${what} "${name}" not found`);
    }
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries((obj.data ?? {}) as Record<string, string>)) {
      data[k] = resource === 'secrets' ? Buffer.from(v, 'base64').toString('utf8') : v;
    }
    if (key === undefined) return data;
    if (!Object.hasOwn(data, key)) {
      if (optional) return undefined;
      throw new ConfigError(
        `couldn't find key ${key} in ${resource === 'secrets' ? 'Secret' : 'ConfigMap'} ${run.namespace}/${name}`,
      );
    }
    return data[key];
  }

  #resolveEnv(run: PodRun, c: Container): Record<string, string> {
    const vars = new Map<string, string>();
    for (const from of c.envFrom ?? []) {
      const ref = from.secretRef ?? from.configMapRef;
      if (!ref) continue;
      const data = this.#lookup(run, from.secretRef ? 'secrets' : 'configmaps', ref);
      if (data && typeof data === 'object') {
        for (const [k, v] of Object.entries(data)) vars.set(`${from.prefix ?? ''}${k}`, v);
      }
    }
    for (const e of c.env ?? []) {
      if (e.valueFrom) {
        const vf = e.valueFrom;
        const sk = vf.secretKeyRef as Json | undefined;
        const ck = vf.configMapKeyRef as Json | undefined;
        const fr = vf.fieldRef as Json | undefined;
        if (sk) {
          const v = this.#lookup(run, 'secrets', sk, String(sk.key));
          if (typeof v === 'string') vars.set(e.name, v);
        } else if (ck) {
          const v = this.#lookup(run, 'configmaps', ck, String(ck.key));
          if (typeof v === 'string') vars.set(e.name, v);
        } else if (fr) {
          const path = String(fr.fieldPath);
          const v =
            path === 'metadata.name'
              ? run.name
              : path === 'metadata.namespace'
                ? run.namespace
                : path === 'metadata.uid'
                  ? run.uid
                  : path === 'spec.nodeName'
                    ? this.#o.nodeName
                    : '';
          vars.set(e.name, v);
        }
      } else {
        vars.set(e.name, expand(e.value ?? '', vars));
      }
    }
    return Object.fromEntries(vars);
  }

  #start(run: PodRun, c: Container, containerEnv: Record<string, string>): void {
    const log = new ContainerLog(this.#clock);
    run.logs.set(c.name, log);
    const messagePath = join(run.dir, `${c.name}.termination-log`);
    const containerPath = c.terminationMessagePath ?? '/dev/termination-log';
    const rc: RunningContainer = {
      name: c.name,
      startedAt: now(),
      messagePath,
      policy: c.terminationMessagePolicy ?? 'File',
    };
    run.containers.set(c.name, rc);
    const rewrite = (s: string): string => s.replaceAll(containerPath, messagePath);
    const vars = new Map(Object.entries(containerEnv));
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: run.dir,
      HOSTNAME: run.name,
      UPDRAFT_TEST_TERMINATION_MESSAGE_PATH: messagePath,
    };
    for (const [k, v] of vars) env[k] = rewrite(v);
    const entry = c.command ?? this.#o.allowImages.get(imageRepository(c.image))?.entrypoint;
    const argv = [...(entry ?? []), ...(c.args ?? [])].map((a) => rewrite(expand(a, vars)));
    const [cmd, ...rest] = argv;
    if (cmd === undefined) {
      this.#terminated(run, rc, {
        exitCode: 128,
        reason: 'StartError',
        message: 'failed to create containerd task: no command specified',
      });
      return;
    }
    const executable = cmd === 'node' ? process.execPath : cmd;
    let proc: ChildProcess;
    try {
      proc = spawn(executable, rest, {
        env,
        cwd: run.dir,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      this.#terminated(run, rc, { exitCode: 128, reason: 'StartError', message: String(err) });
      return;
    }
    rc.proc = proc;
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => log.write(d));
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => log.write(d));
    let spawnError: Error | undefined;
    proc.on('error', (err) => {
      spawnError = err;
    });
    const limit = c.resources?.limits?.memory;
    if (limit !== undefined && proc.pid !== undefined) {
      const bytes = parseQuantity(limit);
      const pid = proc.pid;
      const sampler = setInterval(() => {
        if (rssBytes(pid) > bytes) {
          rc.killReason = 'OOMKilled';
          killGroup(proc, 'SIGKILL');
        }
      }, this.#o.memorySampleMs);
      run.timers.add(sampler);
      proc.on('close', () => {
        clearInterval(sampler);
        run.timers.delete(sampler);
      });
    }
    proc.on('close', (code, signal) => {
      log.end();
      if (spawnError) {
        this.#terminated(run, rc, {
          exitCode: 128,
          reason: 'StartError',
          message: `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "${cmd}": ${spawnError.message}: unknown`,
        });
        return;
      }
      const exitCode =
        code ??
        128 + (signal ? (osConstants.signals[signal as keyof typeof osConstants.signals] ?? 9) : 9);
      const oom = rc.killReason === 'OOMKilled';
      let message = readMessage(messagePath);
      if (message === '' && rc.policy === 'FallbackToLogsOnError' && exitCode !== 0) {
        message = tailForMessage(log.text());
      }
      this.#terminated(run, rc, {
        exitCode: oom ? 137 : exitCode,
        reason: oom ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error',
        ...(message !== '' ? { message } : {}),
      });
    });
  }

  #terminated(
    run: PodRun,
    rc: RunningContainer,
    t: { exitCode: number; reason: string; message?: string },
  ): void {
    rc.terminated = {
      ...t,
      startedAt: rc.startedAt ?? now(),
      finishedAt: now(),
      containerID: `containerd://${run.uid.replaceAll('-', '')}${rc.name}`,
    };
    run.logs.get(rc.name)?.end();
    this.#maybeFinish(run);
  }

  /** Writes the pod's status once every started container has terminated. */
  #maybeFinish(run: PodRun): void {
    const all = [...run.containers.values()];
    if (!run.started || all.length === 0 || all.some((c) => !c.terminated)) return;
    if (run.stopped && !run.deleting) return;
    const failure = run.podFailure;
    const finished = now();
    this.#patch(run, (_pod, status) => {
      const succeeded = !failure && all.every((c) => c.terminated?.exitCode === 0);
      if (!run.deleting || failure) status.phase = succeeded ? 'Succeeded' : 'Failed';
      if (failure) {
        status.reason = failure.reason;
        status.message = failure.message;
      }
      for (const cond of (status.conditions ?? []) as Json[]) {
        if (cond.type === 'Ready' || cond.type === 'ContainersReady') {
          cond.status = 'False';
          cond.reason = 'PodCompleted';
          cond.lastTransitionTime = finished;
        }
        if (cond.type === 'PodReadyToStartContainers') cond.status = 'False';
      }
      if (failure?.keepContainerState) return;
      for (const cs of (status.containerStatuses ?? []) as Json[]) {
        const rc = run.containers.get(String(cs.name));
        if (rc?.terminated) {
          cs.state = { terminated: rc.terminated };
          cs.ready = false;
          cs.started = false;
        }
      }
    });
    if (!run.deleting) this.#stop(run);
    this.#finishDeletion(run);
  }

  #stop(run: PodRun): void {
    run.stopped = true;
    for (const t of run.timers) clearTimeout(t);
    run.timers.clear();
  }

  #killAll(run: PodRun, signal: NodeJS.Signals): boolean {
    let any = false;
    for (const rc of run.containers.values()) {
      if (rc.proc && !rc.terminated) {
        killGroup(rc.proc, signal);
        any = true;
      }
    }
    return any;
  }

  /** Fails the whole pod (deadline, eviction, node loss): kills its containers. */
  #failPod(run: PodRun, reason: string, message: string, keepContainerState = false): void {
    if (run.stopped || run.podFailure) return;
    run.podFailure = { reason, message, keepContainerState };
    const t = now();
    if (keepContainerState) {
      // The node is gone: the node lifecycle controller writes the verdict, not the kubelet.
      this.#patch(run, (_pod, status) => {
        status.phase = 'Failed';
        status.reason = reason;
        status.message = message;
        for (const cond of (status.conditions ?? []) as Json[]) {
          if (cond.type === 'Ready' || cond.type === 'ContainersReady') {
            cond.status = 'False';
            cond.reason = reason;
            cond.lastTransitionTime = t;
          }
        }
      });
    }
    const hasRunning = this.#killAll(run, 'SIGKILL');
    this.#event(run, 'Warning', reason, message);
    if (!hasRunning) {
      // Pending (or never-started) pod: fail it right away.
      this.#stop(run);
      this.#patch(run, (_pod, status) => {
        status.phase = 'Failed';
        status.reason = reason;
        status.message = message;
        for (const cs of (status.containerStatuses ?? []) as Json[]) {
          if (!keepContainerState) {
            cs.state = {
              terminated: { exitCode: 137, reason: 'Error', startedAt: t, finishedAt: t },
            };
          }
        }
      });
    }
  }

  #runByUid(uid: string): PodRun | undefined {
    return this.#runs.get(uid);
  }

  runFor(namespace: string, name: string): PodRun | undefined {
    const pod = this.#o.store.get('pods', namespace, name);
    return pod?.metadata.uid ? this.#runs.get(pod.metadata.uid) : undefined;
  }

  oomKill(uid: string): boolean {
    const run = this.#runByUid(uid);
    if (!run || run.stopped) return false;
    let any = false;
    for (const rc of run.containers.values()) {
      if (rc.proc && !rc.terminated) {
        rc.killReason = 'OOMKilled';
        killGroup(rc.proc, 'SIGKILL');
        any = true;
      }
    }
    if (any)
      this.#event(run, 'Warning', 'OOMKilling', 'Memory cgroup out of memory: Killed process');
    return any;
  }

  evict(uid: string, message?: string): boolean {
    const run = this.#runByUid(uid);
    if (!run || run.stopped) return false;
    this.#failPod(
      run,
      'Evicted',
      message ??
        'The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. Container base was using 812Mi, request is 0, has larger consumption of memory.',
    );
    return true;
  }

  nodeLost(uid: string, deletePod: boolean): boolean {
    const run = this.#runByUid(uid);
    if (!run || run.stopped) return false;
    this.#failPod(
      run,
      'NodeLost',
      `Node ${this.#o.nodeName} which was running pod ${run.name} is unresponsive`,
      true,
    );
    if (deletePod) {
      this.#stop(run);
      this.#o.store.remove('pods', run.namespace, run.name);
      this.#cleanup(run);
    }
    return true;
  }

  /**
   * Deletes a pod the way the API server and kubelet do: a pod without running containers
   * disappears at once; a running one gets a deletionTimestamp, SIGTERM, SIGKILL after the
   * grace period (capped by maxGraceMs), then disappears.
   */
  deletePod(pod: KObject, gracePeriodSeconds: number | undefined): KObject | undefined {
    const run = pod.metadata.uid ? this.#runs.get(pod.metadata.uid) : undefined;
    const running = run ? [...run.containers.values()].some((c) => c.proc && !c.terminated) : false;
    if (!run || !running) {
      if (run) {
        this.#stop(run);
        this.#cleanup(run);
      }
      return this.#o.store.remove('pods', pod.metadata.namespace, pod.metadata.name);
    }
    if (run.deleting) return this.#o.store.get('pods', run.namespace, run.name);
    run.deleting = true;
    const grace =
      gracePeriodSeconds ??
      ((pod.spec as Json | undefined)?.terminationGracePeriodSeconds as number | undefined) ??
      30;
    const marked = this.#o.store.update('pods', run.namespace, run.name, (p) => {
      p.metadata.deletionTimestamp = now();
      p.metadata.deletionGracePeriodSeconds = grace;
    });
    for (const rc of run.containers.values()) {
      if (!rc.terminated) this.#event(run, 'Normal', 'Killing', `Stopping container ${rc.name}`);
    }
    this.#killAll(run, grace === 0 ? 'SIGKILL' : 'SIGTERM');
    if (grace > 0) {
      const t = setTimeout(
        () => {
          run.timers.delete(t);
          this.#killAll(run, 'SIGKILL');
        },
        Math.min(grace * 1000, this.#o.maxGraceMs),
      );
      run.timers.add(t);
    }
    return marked;
  }

  #finishDeletion(run: PodRun): void {
    if (!run.deleting) return;
    this.#stop(run);
    this.#o.store.remove('pods', run.namespace, run.name);
    this.#cleanup(run);
  }

  #cleanup(run: PodRun): void {
    this.#runs.delete(run.uid);
    for (const log of run.logs.values()) log.end();
    this.#logs.delete(run.uid);
    rmSync(run.dir, { recursive: true, force: true });
  }

  close(): void {
    this.#closed = true;
    for (const run of this.#runs.values()) {
      this.#stop(run);
      this.#killAll(run, 'SIGKILL');
      for (const log of run.logs.values()) log.end();
    }
  }
}

function killGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined) return;
  try {
    process.kill(-proc.pid, signal);
  } catch {
    try {
      proc.kill(signal);
    } catch {
      // already gone
    }
  }
}

function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Reads at most 4096 bytes, as the kubelet does. */
function readMessage(path: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, 4096, 0);
    return buf.subarray(0, n).toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** FallbackToLogsOnError: the last 80 lines, at most 2048 bytes. */
function tailForMessage(text: string): string {
  const lines = text.split('\n');
  let tail = lines.slice(-81).join('\n');
  const buf = Buffer.from(tail, 'utf8');
  if (buf.length > 2048) tail = buf.subarray(buf.length - 2048).toString('utf8');
  return tail;
}
