/**
 * @updraft/kube/spec — pure functions for `k8sPod` tasks: the config schema, deterministic pod
 * names and labels, the pod spec builder, the namespace rule and the failure classifier.
 *
 * No runtime dependency on @kubernetes/client-node (types only), so the SDK, the scheduler and
 * the API can import this cheaply.
 */
import { createHash } from 'node:crypto';
import type {
  V1Affinity,
  V1Container,
  V1ContainerStatus,
  V1EnvFromSource,
  V1EnvVar,
  V1Pod,
  V1PodSecurityContext,
  V1SecurityContext,
  V1Volume,
} from '@kubernetes/client-node';
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// Identity, names, labels

/** Which task try a pod belongs to. `mapIndex` is -1 for a task that is not mapped. */
export interface PodTaskIdentity {
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  team: string;
}

/** Label and annotation keys the platform owns. Users may not set keys under `updraft.dev/`. */
export const LABELS = {
  dagId: 'updraft.dev/dag-id',
  runId: 'updraft.dev/run-id',
  taskId: 'updraft.dev/task-id',
  mapIndex: 'updraft.dev/map-index',
  tryNumber: 'updraft.dev/try-number',
  team: 'updraft.dev/team',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

export const MANAGED_BY = 'updraft';
export const RESERVED_PREFIX = 'updraft.dev/';
/** The one container of a task pod (as in Airflow's KubernetesPodOperator). */
export const BASE_CONTAINER = 'base';
/** Where the container writes its JSON result (the Kubernetes termination message). */
export const RESULT_PATH = '/dev/termination-log';
/** Environment variable telling the container where to write its result. */
export const RESULT_PATH_ENV = 'UPDRAFT_RESULT_PATH';
export const DEFAULT_STARTUP_TIMEOUT_MS = 5 * 60_000;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const QUANTITY = /^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$/;

function shortHash(value: string, length = 10): string {
  return createHash('sha256').update(value).digest('hex').slice(0, length);
}

export function isDns1123Label(value: string): boolean {
  return value.length <= 63 && DNS1123_LABEL.test(value);
}

export function isValidLabelValue(value: string): boolean {
  return value.length <= 63 && LABEL_VALUE.test(value);
}

function isQualifiedKey(key: string): boolean {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) {
    return false;
  }
  return name.length <= 63 && QUALIFIED_NAME.test(name);
}

/** Lowercase DNS-1123 fragment of `value` (may be empty). */
function slug(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
}

function identityKey(id: PodTaskIdentity): string {
  return JSON.stringify([id.dagId, id.runId, id.taskId, id.mapIndex, id.tryNumber]);
}

/**
 * The pod name of a task try: `<dag>-<task>[-<mapIndex>]-t<try>-<hash>`, a DNS-1123 label of at
 * most 63 characters. The hash covers dag, run, task, map index and try, so the name is stable
 * for one try and differs across tries and runs.
 */
export function podName(id: PodTaskIdentity): string {
  const suffix = `${id.mapIndex >= 0 ? `-${id.mapIndex}` : ''}-t${id.tryNumber}-${shortHash(identityKey(id))}`;
  const base = slug(`${slug(id.dagId)}-${slug(id.taskId)}`) || 'task';
  const head = base.slice(0, 63 - suffix.length).replace(/-+$/, '') || 'task';
  return `${head}${suffix}`.slice(0, 63);
}

/**
 * `value` when it is a valid label value, else a deterministic valid one: the value with invalid
 * characters replaced, shortened, plus a hash of the full value.
 */
export function safeLabelValue(value: string): string {
  if (isValidLabelValue(value)) return value;
  const hash = shortHash(value);
  const cleaned = value
    .replace(/[^A-Za-z0-9_.-]+/g, '_')
    .slice(0, 52)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return cleaned ? `${cleaned}-${hash}` : hash;
}

/** The labels that identify a task try's pod (also its label selector). */
export function podLabels(id: PodTaskIdentity): Record<string, string> {
  return {
    [LABELS.dagId]: safeLabelValue(id.dagId),
    [LABELS.runId]: safeLabelValue(id.runId),
    [LABELS.taskId]: safeLabelValue(id.taskId),
    [LABELS.mapIndex]: id.mapIndex >= 0 ? String(id.mapIndex) : 'none',
    [LABELS.tryNumber]: String(id.tryNumber),
    [LABELS.team]: safeLabelValue(id.team),
    [LABELS.managedBy]: MANAGED_BY,
  };
}

/** Full, unshortened identity values. */
export function podAnnotations(id: PodTaskIdentity): Record<string, string> {
  return {
    [LABELS.dagId]: id.dagId,
    [LABELS.runId]: id.runId,
    [LABELS.taskId]: id.taskId,
    [LABELS.mapIndex]: String(id.mapIndex),
    [LABELS.tryNumber]: String(id.tryNumber),
    [LABELS.team]: id.team,
  };
}

/** `k=v,k=v` label selector matching exactly the pod(s) of this task try. */
export function podLabelSelector(id: PodTaskIdentity): string {
  return Object.entries(podLabels(id))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

// ---------------------------------------------------------------------------------------------
// Namespace rule

/** A team tried to run a pod outside its own namespace (maps to 403 Forbidden). */
export class NamespaceNotAllowedError extends Error {
  readonly code = 'Forbidden';
  readonly team: string;
  readonly namespace: string | undefined;
  constructor(team: string, namespace: string | undefined, message: string) {
    super(message);
    this.name = 'NamespaceNotAllowedError';
    this.team = team;
    this.namespace = namespace;
  }
}

/**
 * The namespace a team's pod runs in. `teams` maps team name → its namespace. A team may only
 * target its own namespace; `requested` (the task's `namespace` override) must equal it.
 */
export function resolveNamespace(
  team: string,
  requested: string | undefined,
  teams: Readonly<Record<string, string>>,
): string {
  const own = Object.hasOwn(teams, team) ? teams[team] : undefined;
  if (own === undefined) {
    throw new NamespaceNotAllowedError(
      team,
      requested,
      `team '${team}' has no Kubernetes namespace configured, so it cannot run k8sPod tasks`,
    );
  }
  if (requested !== undefined && requested !== own) {
    throw new NamespaceNotAllowedError(
      team,
      requested,
      `team '${team}' may only run pods in its own namespace '${own}', not in namespace '${requested}'`,
    );
  }
  return own;
}

// ---------------------------------------------------------------------------------------------
// Task config schema

const dnsLabel = z
  .string()
  .refine(isDns1123Label, { message: 'must be a DNS-1123 label (lowercase a-z, 0-9, -)' });
const dnsSubdomain = z
  .string()
  .max(253)
  .regex(DNS1123_SUBDOMAIN, 'must be a DNS-1123 subdomain (lowercase a-z, 0-9, -, .)');
const quantity = z
  .union([z.string(), z.number().nonnegative()])
  .transform((v) => String(v))
  .refine((v) => QUANTITY.test(v), {
    message: "must be a Kubernetes quantity such as '500m', '2', '256Mi', '1Gi'",
  });
const resourceList = z
  .record(z.string().refine(isQualifiedKey, { message: 'must be a resource name' }), quantity)
  .optional();
const keyRef = z.strictObject({
  name: dnsSubdomain,
  key: z.string().regex(CONFIG_KEY, 'must be a valid Secret/ConfigMap key'),
  optional: z.boolean().optional(),
});
const envValue = z.union([
  z.string(),
  z.strictObject({ secretKeyRef: keyRef }),
  z.strictObject({ configMapKeyRef: keyRef }),
]);
const sourceRef = z.strictObject({ name: dnsSubdomain, optional: z.boolean().optional() });
const envFromSource = z.union([
  z.strictObject({ secretRef: sourceRef, prefix: z.string().optional() }),
  z.strictObject({ configMapRef: sourceRef, prefix: z.string().optional() }),
]);
const labelMap = z
  .record(z.string(), z.string())
  .superRefine((labels, ctx) => {
    for (const [k, v] of Object.entries(labels)) {
      if (!isQualifiedKey(k)) ctx.addIssue({ code: 'custom', message: `invalid label key '${k}'` });
      if (!isValidLabelValue(v)) {
        ctx.addIssue({ code: 'custom', message: `invalid value '${v}' for label '${k}'` });
      }
      if (k.startsWith(RESERVED_PREFIX)) {
        ctx.addIssue({ code: 'custom', message: `label '${k}' is reserved for Updraft` });
      }
    }
  })
  .optional();
const annotationMap = z
  .record(z.string(), z.string())
  .superRefine((annotations, ctx) => {
    for (const k of Object.keys(annotations)) {
      if (!isQualifiedKey(k)) {
        ctx.addIssue({ code: 'custom', message: `invalid annotation key '${k}'` });
      }
      if (k.startsWith(RESERVED_PREFIX)) {
        ctx.addIssue({ code: 'custom', message: `annotation '${k}' is reserved for Updraft` });
      }
    }
  })
  .optional();
const toleration = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  tolerationSeconds: z.number().int().optional(),
});
const securityContext = z.strictObject({
  runAsNonRoot: z.boolean().optional(),
  runAsUser: z.number().int().nonnegative().optional(),
  runAsGroup: z.number().int().nonnegative().optional(),
  fsGroup: z.number().int().nonnegative().optional(),
  allowPrivilegeEscalation: z.boolean().optional(),
  privileged: z.boolean().optional(),
  readOnlyRootFilesystem: z.boolean().optional(),
  capabilities: z
    .strictObject({
      add: z.array(z.string()).optional(),
      drop: z.array(z.string()).optional(),
    })
    .optional(),
  seccompProfile: z
    .strictObject({
      type: z.enum(['RuntimeDefault', 'Localhost', 'Unconfined']),
      localhostProfile: z.string().optional(),
    })
    .optional(),
});

export const ON_FINISH = ['delete', 'delete_on_success', 'keep'] as const;
export type OnFinish = (typeof ON_FINISH)[number];

/** The `k8sPod` task config the SDK accepts. */
export const podTaskConfigSchema = z.strictObject({
  image: z.string().trim().min(1, 'image is required'),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  /** Name → plain value, `{ secretKeyRef: { name, key } }` or `{ configMapKeyRef: { name, key } }`. */
  env: z
    .record(
      z
        .string()
        .regex(ENV_NAME, 'invalid environment variable name')
        .refine((n) => !n.startsWith('UPDRAFT_'), {
          message: 'environment variables starting with UPDRAFT_ are set by Updraft',
        }),
      envValue,
    )
    .optional(),
  envFrom: z.array(envFromSource).optional(),
  resources: z.strictObject({ requests: resourceList, limits: resourceList }).optional(),
  nodeSelector: z.record(z.string(), z.string()).optional(),
  tolerations: z.array(toleration).optional(),
  /** A Kubernetes `Affinity` object, passed through (validated by the API server). */
  affinity: z.record(z.string(), z.unknown()).optional(),
  /** Kubernetes `Volume` objects, passed through; only `name` is checked here. */
  volumes: z.array(z.looseObject({ name: dnsLabel })).optional(),
  /** Kubernetes `VolumeMount` objects, passed through. */
  volumeMounts: z
    .array(
      z.looseObject({
        name: dnsLabel,
        mountPath: z.string().startsWith('/', 'mountPath must be absolute'),
        readOnly: z.boolean().optional(),
        subPath: z.string().optional(),
      }),
    )
    .optional(),
  serviceAccountName: dnsSubdomain.optional(),
  labels: labelMap,
  annotations: annotationMap,
  /** Names of Secrets of type docker-registry. */
  imagePullSecrets: z.array(dnsSubdomain).optional(),
  /** Overrides of the restricted defaults (non-root, no privilege escalation, drop ALL, seccomp). */
  securityContext: securityContext.optional(),
  activeDeadlineSeconds: z.number().int().positive().optional(),
  /** How long the pod may take to start running (scheduling, image pull), in ms. */
  startupTimeout: z.number().int().positive().default(DEFAULT_STARTUP_TIMEOUT_MS),
  onFinish: z.enum(ON_FINISH).default('delete_on_success'),
  /** Must be the team's own namespace (see resolveNamespace). */
  namespace: dnsLabel.optional(),
});

/** A parsed config (defaults applied). */
export type PodTaskConfig = z.output<typeof podTaskConfigSchema>;
/** What a DAG author writes. */
export type PodTaskConfigInput = z.input<typeof podTaskConfigSchema>;

// ---------------------------------------------------------------------------------------------
// Pod spec builder

export interface BuildPodSpecOptions {
  /** The resolved namespace (see resolveNamespace). */
  namespace: string;
  /** Extra platform environment (e.g. the API URL); names should start with UPDRAFT_. */
  env?: Readonly<Record<string, string>>;
}

function buildEnv(
  id: PodTaskIdentity,
  config: PodTaskConfig,
  extra: Readonly<Record<string, string>>,
): V1EnvVar[] {
  const env: V1EnvVar[] = [
    { name: 'UPDRAFT_DAG_ID', value: id.dagId },
    { name: 'UPDRAFT_RUN_ID', value: id.runId },
    { name: 'UPDRAFT_TASK_ID', value: id.taskId },
    { name: 'UPDRAFT_MAP_INDEX', value: String(id.mapIndex) },
    { name: 'UPDRAFT_TRY_NUMBER', value: String(id.tryNumber) },
    { name: 'UPDRAFT_TEAM', value: id.team },
    { name: RESULT_PATH_ENV, value: RESULT_PATH },
  ];
  for (const [name, value] of Object.entries(extra)) env.push({ name, value });
  for (const [name, value] of Object.entries(config.env ?? {})) {
    if (typeof value === 'string') env.push({ name, value });
    else if ('secretKeyRef' in value)
      env.push({ name, valueFrom: { secretKeyRef: { ...value.secretKeyRef } } });
    else env.push({ name, valueFrom: { configMapKeyRef: { ...value.configMapKeyRef } } });
  }
  return env;
}

function buildEnvFrom(config: PodTaskConfig): V1EnvFromSource[] | undefined {
  if (!config.envFrom) return undefined;
  return config.envFrom.map((e) =>
    'secretRef' in e
      ? { secretRef: { ...e.secretRef }, ...(e.prefix !== undefined ? { prefix: e.prefix } : {}) }
      : {
          configMapRef: { ...e.configMapRef },
          ...(e.prefix !== undefined ? { prefix: e.prefix } : {}),
        },
  );
}

function securityContexts(config: PodTaskConfig): {
  pod: V1PodSecurityContext;
  container: V1SecurityContext;
} {
  const sc = config.securityContext ?? {};
  const pod: V1PodSecurityContext = {
    runAsNonRoot: sc.runAsNonRoot ?? true,
    seccompProfile: sc.seccompProfile ? { ...sc.seccompProfile } : { type: 'RuntimeDefault' },
  };
  if (sc.runAsUser !== undefined) pod.runAsUser = sc.runAsUser;
  if (sc.runAsGroup !== undefined) pod.runAsGroup = sc.runAsGroup;
  if (sc.fsGroup !== undefined) pod.fsGroup = sc.fsGroup;
  const container: V1SecurityContext = {
    allowPrivilegeEscalation: sc.allowPrivilegeEscalation ?? false,
    capabilities: sc.capabilities
      ? {
          ...(sc.capabilities.add ? { add: [...sc.capabilities.add] } : {}),
          ...(sc.capabilities.drop ? { drop: [...sc.capabilities.drop] } : {}),
        }
      : { drop: ['ALL'] },
  };
  if (sc.privileged !== undefined) container.privileged = sc.privileged;
  if (sc.readOnlyRootFilesystem !== undefined) {
    container.readOnlyRootFilesystem = sc.readOnlyRootFilesystem;
  }
  return { pod, container };
}

/**
 * The pod for one task try: a plain JSON object (typed with client-node's model types) that
 * is sent as is. One container named `base`, `restartPolicy: Never`, the result read from the
 * termination message (`FallbackToLogsOnError`, so a failing container's last log lines become
 * its message).
 */
export function buildPodSpec(
  id: PodTaskIdentity,
  config: PodTaskConfig,
  options: BuildPodSpecOptions,
): V1Pod {
  const { pod: podSecurity, container: containerSecurity } = securityContexts(config);
  const container: V1Container = {
    name: BASE_CONTAINER,
    image: config.image,
    env: buildEnv(id, config, options.env ?? {}),
    securityContext: containerSecurity,
    terminationMessagePath: RESULT_PATH,
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  if (config.imagePullPolicy) container.imagePullPolicy = config.imagePullPolicy;
  if (config.command) container.command = [...config.command];
  if (config.args) container.args = [...config.args];
  const envFrom = buildEnvFrom(config);
  if (envFrom) container.envFrom = envFrom;
  if (config.resources) {
    container.resources = {
      ...(config.resources.requests ? { requests: { ...config.resources.requests } } : {}),
      ...(config.resources.limits ? { limits: { ...config.resources.limits } } : {}),
    };
  }
  if (config.volumeMounts) container.volumeMounts = config.volumeMounts.map((m) => ({ ...m }));

  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName(id),
      namespace: options.namespace,
      labels: { ...config.labels, ...podLabels(id) },
      annotations: { ...config.annotations, ...podAnnotations(id) },
    },
    spec: {
      restartPolicy: 'Never',
      enableServiceLinks: false,
      automountServiceAccountToken: config.serviceAccountName !== undefined,
      securityContext: podSecurity,
      containers: [container],
    },
  };
  const spec = pod.spec!;
  if (config.serviceAccountName) spec.serviceAccountName = config.serviceAccountName;
  if (config.nodeSelector) spec.nodeSelector = { ...config.nodeSelector };
  if (config.tolerations) spec.tolerations = config.tolerations.map((t) => ({ ...t }));
  if (config.affinity) spec.affinity = structuredClone(config.affinity) as V1Affinity;
  if (config.volumes) spec.volumes = config.volumes.map((v) => structuredClone(v) as V1Volume);
  if (config.imagePullSecrets)
    spec.imagePullSecrets = config.imagePullSecrets.map((name) => ({ name }));
  if (config.activeDeadlineSeconds !== undefined) {
    spec.activeDeadlineSeconds = config.activeDeadlineSeconds;
  }
  return pod;
}

// ---------------------------------------------------------------------------------------------
// Failure classification

export type PodFailureCode =
  | 'OOMKilled'
  | 'Error'
  | 'ImagePullBackOff'
  | 'InvalidImageName'
  | 'CreateContainerConfigError'
  | 'ContainerCannotRun'
  | 'CrashLoopBackOff'
  | 'Unschedulable'
  | 'Evicted'
  | 'NodeLost'
  | 'NodeShutdown'
  | 'DeadlineExceeded'
  | 'PodDeleted'
  | 'StartupTimeout'
  | 'InvalidResult'
  | 'InvalidPodSpec'
  | 'Forbidden'
  | 'NamespaceNotFound'
  | 'Aborted'
  | 'Unknown';

export interface PodFailure {
  code: PodFailureCode;
  /** For people: what happened and, where known, why. */
  reason: string;
  /** Whether running the task again may succeed (the engine still applies the retry policy). */
  retryable: boolean;
}

const MAX_DETAIL = 1500;

function clip(text: string, max = MAX_DETAIL): string {
  const t = text.trim();
  return t.length > max ? `…${t.slice(t.length - max)}` : t;
}

function containerStatus(pod: V1Pod, name: string): V1ContainerStatus | undefined {
  const statuses = pod.status?.containerStatuses ?? [];
  return statuses.find((s) => s.name === name) ?? statuses[0];
}

function memoryLimit(pod: V1Pod, name: string): string | undefined {
  const c = pod.spec?.containers.find((x) => x.name === name) ?? pod.spec?.containers[0];
  const limit = c?.resources?.limits?.memory;
  return limit === undefined ? undefined : String(limit);
}

/**
 * Why a pod failed (or is stuck before running), in words a task owner can act on, with a
 * stable code and whether a retry may help. Reads `status.reason`, the container's state and
 * last state, and the PodScheduled condition.
 */
export function classifyPodFailure(
  pod: V1Pod,
  options: { containerName?: string } = {},
): PodFailure {
  const name = options.containerName ?? BASE_CONTAINER;
  const status = pod.status;
  const podMessage = status?.message ? `: ${clip(status.message)}` : '';
  switch (status?.reason) {
    case 'Evicted':
      return {
        code: 'Evicted',
        reason: `Evicted: the pod was evicted from its node${podMessage}`,
        retryable: true,
      };
    case 'NodeLost':
      return {
        code: 'NodeLost',
        reason: `NodeLost: the node running the pod was lost${podMessage}`,
        retryable: true,
      };
    case 'DeadlineExceeded': {
      const ads = pod.spec?.activeDeadlineSeconds;
      return {
        code: 'DeadlineExceeded',
        reason: `DeadlineExceeded: the pod ran longer than activeDeadlineSeconds${ads !== undefined ? ` (${ads}s)` : ''}${podMessage}`,
        retryable: true,
      };
    }
    case 'Shutdown':
    case 'Terminated':
    case 'NodeShutdown':
      return {
        code: 'NodeShutdown',
        reason: `NodeShutdown: the node shut down while the pod ran${podMessage}`,
        retryable: true,
      };
    default:
      break;
  }
  const cs = containerStatus(pod, name);
  const cname = cs?.name ?? name;
  const terminated = cs?.state?.terminated;
  if (terminated) {
    const code = terminated.exitCode;
    if (terminated.reason === 'OOMKilled') {
      const limit = memoryLimit(pod, cname);
      return {
        code: 'OOMKilled',
        reason: `OOMKilled: container '${cname}' exceeded its memory limit${limit ? ` of ${limit}` : ''} (exit ${code})`,
        retryable: true,
      };
    }
    if (terminated.reason === 'StartError' || terminated.reason === 'ContainerCannotRun') {
      return {
        code: 'ContainerCannotRun',
        reason: `ContainerCannotRun: container '${cname}' could not start${terminated.message ? `: ${clip(terminated.message)}` : ''}`,
        retryable: false,
      };
    }
    if (code !== 0) {
      const detail = terminated.message ? `: ${clip(terminated.message)}` : '';
      const signal = code > 128 && code < 160 ? ` (killed by signal ${code - 128})` : '';
      return {
        code: 'Error',
        reason: `Error: container '${cname}' exited with code ${code}${signal}${detail}`,
        retryable: true,
      };
    }
  }
  const waiting = cs?.state?.waiting;
  if (waiting?.reason) {
    const msg = waiting.message ? `: ${clip(waiting.message)}` : '';
    const image = pod.spec?.containers.find((c) => c.name === cname)?.image ?? cs?.image ?? '';
    switch (waiting.reason) {
      case 'ImagePullBackOff':
      case 'ErrImagePull':
      case 'ErrImageNeverPull':
      case 'RegistryUnavailable':
        return {
          code: 'ImagePullBackOff',
          reason: `ImagePullBackOff: cannot pull image '${image}' for container '${cname}' (${waiting.reason})${msg}`,
          retryable: true,
        };
      case 'InvalidImageName':
        return {
          code: 'InvalidImageName',
          reason: `InvalidImageName: '${image}' is not a valid image reference${msg}`,
          retryable: false,
        };
      case 'CreateContainerConfigError':
      case 'CreateContainerError':
        return {
          code: 'CreateContainerConfigError',
          reason: `CreateContainerConfigError: container '${cname}' could not be created (check its Secrets, ConfigMaps and volumes)${msg}`,
          retryable: false,
        };
      case 'RunContainerError':
      case 'ContainerCannotRun':
        return {
          code: 'ContainerCannotRun',
          reason: `ContainerCannotRun: container '${cname}' could not start${msg}`,
          retryable: false,
        };
      case 'CrashLoopBackOff': {
        const last = cs?.lastState?.terminated;
        const lastInfo = last
          ? `; last exit code ${last.exitCode}${last.reason ? ` (${last.reason})` : ''}${last.message ? `: ${clip(last.message, 500)}` : ''}`
          : '';
        return {
          code: 'CrashLoopBackOff',
          reason: `CrashLoopBackOff: container '${cname}' keeps crashing (${cs?.restartCount ?? 0} restarts${lastInfo})`,
          retryable: true,
        };
      }
      default:
        break;
    }
  }
  const scheduled = status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    return {
      code: 'Unschedulable',
      reason: `Unschedulable: the pod could not be scheduled${scheduled.message ? `: ${clip(scheduled.message)}` : ''}`,
      retryable: true,
    };
  }
  if (status?.reason) {
    return { code: 'Unknown', reason: `${status.reason}${podMessage}`, retryable: true };
  }
  const phase = status?.phase ?? 'Unknown';
  const where = waiting?.reason ? ` (container '${cname}' waiting: ${waiting.reason})` : '';
  return {
    code: 'Unknown',
    reason: `the pod ended in phase ${phase} without a known reason${where}${podMessage}`,
    retryable: true,
  };
}

/** Waiting reasons that will not go away by waiting: the runner fails at once. */
export const HOPELESS_WAITING_REASONS: ReadonlySet<string> = new Set([
  'InvalidImageName',
  'ErrImageNeverPull',
]);
