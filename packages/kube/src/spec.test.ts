import { Pod } from 'kubernetes-models/v1/Pod';
import { describe, expect, it } from 'vitest';
import {
  BASE_CONTAINER,
  buildPodSpec,
  classifyPodFailure,
  isDns1123Label,
  isValidLabelValue,
  LABELS,
  NamespaceNotAllowedError,
  type PodTaskConfigInput,
  type PodTaskIdentity,
  podLabelSelector,
  podLabels,
  podName,
  podTaskConfigSchema,
  RESULT_PATH,
  resolveNamespace,
  safeLabelValue,
} from './spec.ts';

const id: PodTaskIdentity = {
  dagId: 'daily_sales',
  runId: 'scheduled__2025-01-01T00:00:00+00:00',
  taskId: 'extract.orders',
  mapIndex: -1,
  tryNumber: 1,
  team: 'analytics',
};

const parse = (input: PodTaskConfigInput) => podTaskConfigSchema.parse(input);

/** Validates against the Kubernetes OpenAPI schema (kubernetes-models), throws on error. */
function validateOpenApi(pod: unknown): void {
  new Pod(pod as ConstructorParameters<typeof Pod>[0]).validate();
}

describe('podName', () => {
  it('is a DNS-1123 label, stable for one try, different across tries, runs and map indexes', () => {
    const name = podName(id);
    expect(isDns1123Label(name)).toBe(true);
    expect(podName({ ...id })).toBe(name);
    expect(name).toMatch(/^daily-sales-extract-orders-t1-[0-9a-f]{10}$/);
    const others = [
      podName({ ...id, tryNumber: 2 }),
      podName({ ...id, runId: 'manual__x' }),
      podName({ ...id, mapIndex: 0 }),
      podName({ ...id, mapIndex: 1 }),
      podName({ ...id, dagId: 'daily-sales' }),
    ];
    expect(new Set([name, ...others]).size).toBe(others.length + 1);
    expect(podName({ ...id, mapIndex: 7 })).toMatch(/-7-t1-[0-9a-f]{10}$/);
  });

  it.each([
    ['very long ids', { dagId: 'd'.repeat(200), taskId: 't'.repeat(200) }],
    ['only symbols', { dagId: '___', taskId: '...' }],
    ['upper case and unicode', { dagId: 'Sales_DAG', taskId: 'Größe' }],
    ['trailing dash after cut', { dagId: `${'a'.repeat(39)}-b`, taskId: 'x' }],
  ])('stays valid for %s', (_label, over) => {
    const name = podName({ ...id, ...over, mapIndex: 12345, tryNumber: 99 });
    expect(name.length).toBeLessThanOrEqual(63);
    expect(isDns1123Label(name)).toBe(true);
  });
});

describe('labels', () => {
  it('keeps valid values and hashes invalid ones deterministically', () => {
    expect(safeLabelValue('daily_sales')).toBe('daily_sales');
    const hashed = safeLabelValue(id.runId);
    expect(hashed).not.toBe(id.runId);
    expect(isValidLabelValue(hashed)).toBe(true);
    expect(safeLabelValue(id.runId)).toBe(hashed);
    expect(safeLabelValue(`${id.runId}x`)).not.toBe(hashed);
    expect(isValidLabelValue(safeLabelValue('x'.repeat(100)))).toBe(true);
    expect(isValidLabelValue(safeLabelValue('::'))).toBe(true);
  });

  it('labels a pod with its identity; annotations keep the full values', () => {
    const labels = podLabels(id);
    expect(labels).toEqual({
      [LABELS.dagId]: 'daily_sales',
      [LABELS.runId]: safeLabelValue(id.runId),
      [LABELS.taskId]: 'extract.orders',
      [LABELS.mapIndex]: 'none',
      [LABELS.tryNumber]: '1',
      [LABELS.team]: 'analytics',
      [LABELS.managedBy]: 'updraft',
    });
    expect(podLabels({ ...id, mapIndex: 3 })[LABELS.mapIndex]).toBe('3');
    const pod = buildPodSpec(id, parse({ image: 'busybox' }), { namespace: 'team-a' });
    expect(pod.metadata?.annotations?.[LABELS.runId]).toBe(id.runId);
    expect(pod.metadata?.annotations?.[LABELS.mapIndex]).toBe('-1');
    expect(podLabelSelector(id).split(',')).toHaveLength(7);
    expect(podLabelSelector(id)).toContain(`${LABELS.tryNumber}=1`);
  });
});

describe('resolveNamespace', () => {
  const teams = { analytics: 'team-analytics', ml: 'team-ml' };

  it.each([
    ['analytics', undefined, 'team-analytics'],
    ['analytics', 'team-analytics', 'team-analytics'],
    ['ml', undefined, 'team-ml'],
  ])('team %s requesting %s runs in %s', (team, requested, expected) => {
    expect(resolveNamespace(team, requested, teams)).toBe(expected);
  });

  it('refuses another team namespace, naming the team and both namespaces', () => {
    expect(() => resolveNamespace('analytics', 'team-ml', teams)).toThrow(
      "team 'analytics' may only run pods in its own namespace 'team-analytics', not in namespace 'team-ml'",
    );
    try {
      resolveNamespace('analytics', 'kube-system', teams);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(NamespaceNotAllowedError);
      expect((err as NamespaceNotAllowedError).code).toBe('Forbidden');
      expect((err as NamespaceNotAllowedError).namespace).toBe('kube-system');
    }
  });

  it('refuses a team without a namespace, and prototype keys', () => {
    expect(() => resolveNamespace('finance', undefined, teams)).toThrow(
      "team 'finance' has no Kubernetes namespace configured",
    );
    expect(() => resolveNamespace('constructor', undefined, teams)).toThrow(
      NamespaceNotAllowedError,
    );
  });
});

describe('podTaskConfigSchema', () => {
  it('applies defaults', () => {
    const c = parse({ image: 'busybox' });
    expect(c.onFinish).toBe('delete_on_success');
    expect(c.startupTimeout).toBe(300_000);
  });

  it.each<[string, PodTaskConfigInput, string]>([
    ['missing image', { image: ' ' } as PodTaskConfigInput, 'image is required'],
    ['bad env name', { image: 'x', env: { '1 bad': 'v' } }, 'invalid environment variable name'],
    ['reserved env', { image: 'x', env: { UPDRAFT_RUN_ID: 'v' } }, 'set by Updraft'],
    ['bad quantity', { image: 'x', resources: { limits: { memory: '12 GB' } } }, 'quantity'],
    ['reserved label', { image: 'x', labels: { 'updraft.dev/team': 'x' } }, 'reserved'],
    ['bad label value', { image: 'x', labels: { a: 'has space' } }, "invalid value 'has space'"],
    ['bad onFinish', { image: 'x', onFinish: 'never' as 'keep' }, 'onFinish'],
    [
      'relative mount',
      { image: 'x', volumeMounts: [{ name: 'v', mountPath: 'data' }] },
      'absolute',
    ],
    ['bad namespace', { image: 'x', namespace: 'Team_A' }, 'DNS-1123'],
    ['unknown key', { image: 'x', imagee: 'y' } as PodTaskConfigInput, 'imagee'],
    [
      'secret ref without key',
      { image: 'x', env: { A: { secretKeyRef: { name: 's' } } } } as unknown as PodTaskConfigInput,
      'key',
    ],
  ])('rejects %s', (_label, input, message) => {
    const r = podTaskConfigSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain(message);
  });
});

describe('buildPodSpec', () => {
  const full: PodTaskConfigInput = {
    image: 'ghcr.io/acme/etl:1.2.3',
    imagePullPolicy: 'IfNotPresent',
    command: ['python', '-m', 'etl'],
    args: ['--date', '2025-01-01'],
    env: {
      MODE: 'full',
      TOKEN: { secretKeyRef: { name: 'etl-secrets', key: 'token' } },
      REGION: { configMapKeyRef: { name: 'etl-config', key: 'region', optional: true } },
    },
    envFrom: [{ secretRef: { name: 'db' }, prefix: 'DB_' }, { configMapRef: { name: 'common' } }],
    resources: {
      requests: { cpu: '250m', memory: '256Mi', 'ephemeral-storage': '1Gi' },
      limits: { cpu: 1, memory: '512Mi', 'ephemeral-storage': '2Gi' },
    },
    nodeSelector: { 'cloud.google.com/gke-nodepool': 'batch' },
    tolerations: [{ key: 'batch', operator: 'Equal', value: 'true', effect: 'NoSchedule' }],
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] }],
            },
          ],
        },
      },
    },
    volumes: [{ name: 'scratch', emptyDir: { sizeLimit: '1Gi' } }],
    volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
    serviceAccountName: 'etl-runner',
    labels: { app: 'etl' },
    annotations: { 'acme.io/owner': 'data-team' },
    imagePullSecrets: ['ghcr-pull'],
    securityContext: { runAsUser: 1000, fsGroup: 2000, readOnlyRootFilesystem: true },
    activeDeadlineSeconds: 3600,
    startupTimeout: 60_000,
    onFinish: 'keep',
    namespace: 'team-analytics',
  };

  it('maps every option into the pod', () => {
    const pod = buildPodSpec(id, parse(full), {
      namespace: 'team-analytics',
      env: { UPDRAFT_API_URL: 'http://api' },
    });
    expect(pod.metadata?.name).toBe(podName(id));
    expect(pod.metadata?.namespace).toBe('team-analytics');
    expect(pod.metadata?.labels).toMatchObject({ app: 'etl', ...podLabels(id) });
    expect(pod.metadata?.annotations?.['acme.io/owner']).toBe('data-team');
    const spec = pod.spec!;
    expect(spec.restartPolicy).toBe('Never');
    expect(spec.enableServiceLinks).toBe(false);
    expect(spec.automountServiceAccountToken).toBe(true);
    expect(spec.serviceAccountName).toBe('etl-runner');
    expect(spec.nodeSelector).toEqual({ 'cloud.google.com/gke-nodepool': 'batch' });
    expect(spec.tolerations).toEqual(full.tolerations);
    expect(spec.affinity).toEqual(full.affinity);
    expect(spec.volumes).toEqual(full.volumes);
    expect(spec.imagePullSecrets).toEqual([{ name: 'ghcr-pull' }]);
    expect(spec.activeDeadlineSeconds).toBe(3600);
    expect(spec.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      fsGroup: 2000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(spec.containers).toHaveLength(1);
    const c = spec.containers[0]!;
    expect(c.name).toBe(BASE_CONTAINER);
    expect(c.image).toBe('ghcr.io/acme/etl:1.2.3');
    expect(c.imagePullPolicy).toBe('IfNotPresent');
    expect(c.command).toEqual(['python', '-m', 'etl']);
    expect(c.args).toEqual(['--date', '2025-01-01']);
    expect(c.terminationMessagePath).toBe(RESULT_PATH);
    expect(c.terminationMessagePolicy).toBe('FallbackToLogsOnError');
    expect(c.resources).toEqual({
      requests: { cpu: '250m', memory: '256Mi', 'ephemeral-storage': '1Gi' },
      limits: { cpu: '1', memory: '512Mi', 'ephemeral-storage': '2Gi' },
    });
    expect(c.volumeMounts).toEqual([{ name: 'scratch', mountPath: '/scratch' }]);
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
    });
    expect(c.envFrom).toEqual([
      { secretRef: { name: 'db' }, prefix: 'DB_' },
      { configMapRef: { name: 'common' } },
    ]);
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      UPDRAFT_DAG_ID: 'daily_sales',
      UPDRAFT_RUN_ID: id.runId,
      UPDRAFT_TASK_ID: 'extract.orders',
      UPDRAFT_MAP_INDEX: '-1',
      UPDRAFT_TRY_NUMBER: '1',
      UPDRAFT_TEAM: 'analytics',
      UPDRAFT_RESULT_PATH: RESULT_PATH,
      UPDRAFT_API_URL: 'http://api',
      MODE: 'full',
      TOKEN: { secretKeyRef: { name: 'etl-secrets', key: 'token' } },
      REGION: { configMapKeyRef: { name: 'etl-config', key: 'region', optional: true } },
    });
    validateOpenApi(pod);
  });

  it('defaults to a restricted security context with no service account token', () => {
    const pod = buildPodSpec(id, parse({ image: 'busybox' }), { namespace: 'ns' });
    expect(pod.spec?.securityContext).toEqual({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.spec?.containers[0]?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.spec?.automountServiceAccountToken).toBe(false);
    expect(pod.spec?.containers[0]?.command).toBeUndefined();
    expect(pod.spec?.containers[0]?.resources).toBeUndefined();
    validateOpenApi(pod);
  });

  it('lets the security context be overridden', () => {
    const pod = buildPodSpec(
      id,
      parse({
        image: 'busybox',
        securityContext: {
          runAsNonRoot: false,
          allowPrivilegeEscalation: true,
          capabilities: { add: ['NET_ADMIN'] },
          seccompProfile: { type: 'Unconfined' },
          privileged: true,
        },
      }),
      { namespace: 'ns' },
    );
    expect(pod.spec?.securityContext).toEqual({
      runAsNonRoot: false,
      seccompProfile: { type: 'Unconfined' },
    });
    expect(pod.spec?.containers[0]?.securityContext).toEqual({
      allowPrivilegeEscalation: true,
      capabilities: { add: ['NET_ADMIN'] },
      privileged: true,
    });
    validateOpenApi(pod);
  });

  it.each<[string, PodTaskConfigInput]>([
    ['minimal', { image: 'busybox' }],
    ['env only', { image: 'busybox', env: { A: 'b' } }],
    [
      'numeric quantities',
      { image: 'busybox', resources: { limits: { cpu: 2, memory: 1048576 } } },
    ],
    ['tolerations Exists', { image: 'busybox', tolerations: [{ operator: 'Exists' }] }],
    [
      'configmap envFrom with prefix',
      { image: 'b', envFrom: [{ configMapRef: { name: 'c' }, prefix: 'C_' }] },
    ],
    ['args without command', { image: 'busybox', args: ['echo', 'hi'] }],
  ])('produces an OpenAPI-valid pod: %s', (_label, input) => {
    for (const identity of [id, { ...id, mapIndex: 4, tryNumber: 3 }]) {
      expect(() =>
        validateOpenApi(buildPodSpec(identity, parse(input), { namespace: 'ns' })),
      ).not.toThrow();
    }
  });

  it('the OpenAPI validator does catch a broken pod (the check is real)', () => {
    const pod = buildPodSpec(id, parse({ image: 'busybox' }), { namespace: 'ns' });
    (pod.spec!.containers[0] as unknown as { ports: string }).ports = 'not-a-list';
    expect(() => validateOpenApi(pod)).toThrow(/ports/);
  });
});

describe('classifyPodFailure', () => {
  const t = '2025-01-01T00:00:00Z';
  type Case = [
    string,
    Record<string, unknown>,
    { code: string; retryable: boolean; reason: RegExp },
  ];
  const term = (terminated: Record<string, unknown>) => ({
    phase: 'Failed',
    containerStatuses: [
      { name: 'base', state: { terminated: { startedAt: t, finishedAt: t, ...terminated } } },
    ],
  });
  const wait = (reason: string, message?: string, extra: Record<string, unknown> = {}) => ({
    phase: 'Pending',
    containerStatuses: [{ name: 'base', state: { waiting: { reason, message } }, ...extra }],
  });
  const cases: Case[] = [
    [
      'OOM',
      term({ exitCode: 137, reason: 'OOMKilled' }),
      {
        code: 'OOMKilled',
        retryable: true,
        reason: /^OOMKilled: container 'base' exceeded its memory limit of 64Mi \(exit 137\)$/,
      },
    ],
    [
      'exit code',
      term({ exitCode: 3, reason: 'Error', message: 'boom\n' }),
      {
        code: 'Error',
        retryable: true,
        reason: /^Error: container 'base' exited with code 3: boom$/,
      },
    ],
    [
      'signal',
      term({ exitCode: 143, reason: 'Error' }),
      { code: 'Error', retryable: true, reason: /killed by signal 15/ },
    ],
    [
      'start error',
      term({ exitCode: 128, reason: 'StartError', message: 'exec: "x": not found' }),
      { code: 'ContainerCannotRun', retryable: false, reason: /could not start: exec/ },
    ],
    [
      'image pull backoff',
      wait('ImagePullBackOff', 'Back-off pulling image "nope"'),
      {
        code: 'ImagePullBackOff',
        retryable: true,
        reason: /cannot pull image 'busybox'.*Back-off/,
      },
    ],
    [
      'err image pull',
      wait('ErrImagePull', 'not found'),
      { code: 'ImagePullBackOff', retryable: true, reason: /ErrImagePull/ },
    ],
    [
      'invalid image',
      wait('InvalidImageName'),
      { code: 'InvalidImageName', retryable: false, reason: /not a valid image/ },
    ],
    [
      'missing secret',
      wait('CreateContainerConfigError', 'secret "s" not found'),
      { code: 'CreateContainerConfigError', retryable: false, reason: /secret "s" not found/ },
    ],
    [
      'crash loop',
      wait('CrashLoopBackOff', 'back-off', {
        restartCount: 4,
        lastState: { terminated: { exitCode: 1, reason: 'Error' } },
      }),
      {
        code: 'CrashLoopBackOff',
        retryable: true,
        reason: /keeps crashing \(4 restarts; last exit code 1 \(Error\)\)/,
      },
    ],
    [
      'unschedulable',
      {
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/3 nodes are available: 3 Insufficient cpu.',
          },
        ],
      },
      { code: 'Unschedulable', retryable: true, reason: /^Unschedulable: .*Insufficient cpu/ },
    ],
    [
      'evicted',
      { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' },
      { code: 'Evicted', retryable: true, reason: /^Evicted: .*low on resource: memory/ },
    ],
    [
      'node lost',
      { phase: 'Failed', reason: 'NodeLost', message: 'Node n1 is unresponsive' },
      { code: 'NodeLost', retryable: true, reason: /^NodeLost: .*unresponsive/ },
    ],
    [
      'deadline',
      {
        phase: 'Failed',
        reason: 'DeadlineExceeded',
        message: 'Pod was active on the node longer than the specified deadline',
      },
      { code: 'DeadlineExceeded', retryable: true, reason: /activeDeadlineSeconds \(30s\)/ },
    ],
    [
      'node shutdown',
      {
        phase: 'Failed',
        reason: 'Terminated',
        message: 'Pod was terminated in response to imminent node shutdown.',
      },
      { code: 'NodeShutdown', retryable: true, reason: /node shut down/ },
    ],
    [
      'nothing known',
      { phase: 'Failed' },
      { code: 'Unknown', retryable: true, reason: /phase Failed/ },
    ],
  ];
  it.each(cases)('%s', (_label, status, expected) => {
    const pod = {
      metadata: { name: 'p' },
      spec: {
        activeDeadlineSeconds: 30,
        containers: [{ name: 'base', image: 'busybox', resources: { limits: { memory: '64Mi' } } }],
      },
      status,
    };
    const f = classifyPodFailure(pod as never);
    expect(f.code).toBe(expected.code);
    expect(f.retryable).toBe(expected.retryable);
    expect(f.reason).toMatch(expected.reason);
  });

  it('without a memory limit says so plainly', () => {
    const f = classifyPodFailure({
      spec: { containers: [{ name: 'base', image: 'x' }] },
      status: term({ exitCode: 137, reason: 'OOMKilled' }),
    } as never);
    expect(f.reason).toBe("OOMKilled: container 'base' exceeded its memory limit (exit 137)");
  });
});
