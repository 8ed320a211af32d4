import { createHash } from 'node:crypto';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { stringify as toYaml } from 'yaml';
import { type EnvironmentConfig, PLATFORM_NAMESPACE } from '../config.ts';
import { NODE_POOL_LABEL } from './cluster.ts';
import { APPS, type AppName, kubeServiceAccountName } from './identity.ts';
import { COMPONENT_TYPES } from './naming.ts';
import { dnsEgressPolicy, GOOGLE_LB_RANGES } from './network-policies.ts';
import { NON_PUBLIC_RANGES, Team } from './team.ts';

/** UID/GID of the `node` user in the images (see apps/<app>/Dockerfile). */
export const APP_UID = 1000;
export const API_PORT = 8080;
export const HEALTH_PORT = 8081;
export const TEAMS_MOUNT = '/etc/updraft/teams';

type Resources = EnvironmentConfig['apps']['api']['resources'];

export interface PlatformArgs {
  cfg: EnvironmentConfig;
  registryUrl: pulumi.Input<string>;
  /** Google service account email per app (workload identity). */
  appAccountEmails: Record<AppName, pulumi.Input<string>>;
  databaseUrl: pulumi.Output<string>;
  encryptionKey: pulumi.Output<string>;
  apiAddressName: pulumi.Input<string>;
  systemPoolName: string;
}

const podSecurityContext = {
  runAsNonRoot: true,
  runAsUser: APP_UID,
  runAsGroup: APP_UID,
  fsGroup: APP_UID,
  seccompProfile: { type: 'RuntimeDefault' },
};
const containerSecurityContext = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

/** Job name for a release: changes with the image tag, so every release runs its migrations. */
export function migrationJobName(imageTag: string): string {
  const hash = createHash('sha256').update(imageTag).digest('hex').slice(0, 8);
  const safe = imageTag
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 30)
    .replace(/-+$/, '');
  return `updraft-migrate-${safe}-${hash}`;
}

/**
 * The Kubernetes layer: platform namespace, config, service accounts, the migration Job, the
 * three Deployments (scheduler, worker with HPA, api behind an Ingress with a managed
 * certificate), disruption budgets, network policies, and one Team component per team.
 */
export class Platform extends pulumi.ComponentResource {
  readonly namespace: k8s.core.v1.Namespace;
  readonly teams: Team[];

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super(COMPONENT_TYPES.platform, name, {}, opts);
    const { cfg } = args;
    const labels = (component: string) => ({
      'app.kubernetes.io/name': `updraft-${component}`,
      'app.kubernetes.io/component': component,
      'app.kubernetes.io/part-of': 'updraft',
    });

    this.namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      {
        metadata: {
          name: PLATFORM_NAMESPACE,
          labels: {
            'app.kubernetes.io/part-of': 'updraft',
            'pod-security.kubernetes.io/enforce': 'restricted',
          },
        },
      },
      { parent: this },
    );
    const ns = this.namespace.metadata.name;
    const child = { parent: this, dependsOn: [this.namespace] };
    const meta = (metaName: string, component = 'platform') => ({
      name: metaName,
      namespace: ns,
      labels: labels(component),
    });

    // --- service accounts: apps map to their Google service account; only the worker talks to
    // the Kubernetes API, so only its token is mounted.
    for (const app of APPS) {
      new k8s.core.v1.ServiceAccount(
        `${name}-${app}-sa`,
        {
          metadata: {
            ...meta(kubeServiceAccountName(app), app),
            annotations: { 'iam.gke.io/gcp-service-account': args.appAccountEmails[app] },
          },
          automountServiceAccountToken: app === 'worker',
        },
        child,
      );
    }
    new k8s.core.v1.ServiceAccount(
      `${name}-migrate-sa`,
      {
        metadata: meta(kubeServiceAccountName('migrate'), 'migrate'),
        automountServiceAccountToken: false,
      },
      child,
    );

    // --- configuration
    const teamsYaml = toYaml({ teams: cfg.teams });
    const configData: Record<string, string> = {
      UPDRAFT_ENV: cfg.env,
      // What each process reports in /healthz and its logs: the release it runs.
      UPDRAFT_VERSION: cfg.apps.imageTag,
      UPDRAFT_DAGS_FOLDER: cfg.apps.dagsFolder,
      UPDRAFT_TEAMS_FILE: `${TEAMS_MOUNT}/teams.yaml`,
      UPDRAFT_WORKER_CONCURRENCY: String(cfg.apps.worker.concurrency),
      UPDRAFT_HEALTH_PORT: String(HEALTH_PORT),
      PORT: String(API_PORT),
      LOG_LEVEL: cfg.apps.logLevel,
    };
    const configHash = createHash('sha256')
      .update(JSON.stringify(configData))
      .update(teamsYaml)
      .digest('hex')
      .slice(0, 16);
    const config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      { metadata: meta('updraft-config'), data: configData },
      child,
    );
    const teamsConfig = new k8s.core.v1.ConfigMap(
      `${name}-teams`,
      { metadata: meta('updraft-teams'), data: { 'teams.yaml': teamsYaml } },
      child,
    );
    const secret = new k8s.core.v1.Secret(
      `${name}-secrets`,
      {
        metadata: meta('updraft-secrets'),
        type: 'Opaque',
        stringData: { DATABASE_URL: args.databaseUrl, UPDRAFT_SECRET_KEY: args.encryptionKey },
      },
      child,
    );
    const envFrom = [
      { configMapRef: { name: config.metadata.name } },
      { secretRef: { name: secret.metadata.name } },
    ];
    const image = (app: AppName) =>
      pulumi.interpolate`${args.registryUrl}/${app}:${cfg.apps.imageTag}`;
    const podSpecBase = (serviceAccount: string, automountToken: boolean) => ({
      serviceAccountName: serviceAccount,
      automountServiceAccountToken: automountToken,
      securityContext: podSecurityContext,
      nodeSelector: { [NODE_POOL_LABEL]: args.systemPoolName },
    });
    const toResources = (r: Resources) => {
      const limits: Record<string, string> = { memory: r.limits.memory };
      if (r.limits.cpu) limits.cpu = r.limits.cpu;
      return { requests: { cpu: r.requests.cpu, memory: r.requests.memory }, limits };
    };

    // --- migrations: a Job per release that must succeed before any Deployment changes.
    // The scheduler image carries the CLI (see apps/scheduler/Dockerfile).
    const migrate = new k8s.batch.v1.Job(
      `${name}-migrate`,
      {
        metadata: meta(migrationJobName(cfg.apps.imageTag), 'migrate'),
        spec: {
          backoffLimit: 2,
          activeDeadlineSeconds: 900,
          template: {
            metadata: { labels: labels('migrate') },
            spec: {
              ...podSpecBase(kubeServiceAccountName('migrate'), false),
              restartPolicy: 'Never',
              containers: [
                {
                  name: 'migrate',
                  image: image('scheduler'),
                  command: ['node', 'apps/cli/src/main.ts', 'db', 'migrate'],
                  envFrom,
                  resources: toResources(cfg.apps.migrate.resources),
                  securityContext: containerSecurityContext,
                  volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
                },
              ],
              volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }],
            },
          },
        },
      },
      { ...child, dependsOn: [this.namespace, config, secret] },
    );

    // --- the three apps
    const deployment = (app: AppName, replicas: number | undefined, resources: Resources) => {
      const port =
        app === 'api'
          ? { name: 'http', containerPort: API_PORT }
          : { name: 'health', containerPort: HEALTH_PORT };
      const appLabels = labels(app);
      return new k8s.apps.v1.Deployment(
        `${name}-${app}`,
        {
          metadata: meta(`updraft-${app}`, app),
          spec: {
            ...(replicas === undefined ? {} : { replicas }),
            selector: { matchLabels: appLabels },
            strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
            template: {
              metadata: {
                labels: appLabels,
                annotations: { 'updraft.dev/config-hash': configHash },
              },
              spec: {
                ...podSpecBase(kubeServiceAccountName(app), app === 'worker'),
                terminationGracePeriodSeconds: 60,
                topologySpreadConstraints: [
                  {
                    maxSkew: 1,
                    topologyKey: 'topology.kubernetes.io/zone',
                    whenUnsatisfiable: 'ScheduleAnyway',
                    labelSelector: { matchLabels: appLabels },
                  },
                ],
                containers: [
                  {
                    name: app,
                    image: image(app),
                    ports: [port],
                    envFrom,
                    resources: toResources(resources),
                    livenessProbe: {
                      httpGet: { path: '/healthz', port: port.name },
                      initialDelaySeconds: 10,
                      periodSeconds: 10,
                      timeoutSeconds: 3,
                      failureThreshold: 3,
                    },
                    readinessProbe: {
                      httpGet: { path: '/readyz', port: port.name },
                      periodSeconds: 5,
                      timeoutSeconds: 3,
                      failureThreshold: 3,
                    },
                    securityContext: containerSecurityContext,
                    volumeMounts: [
                      { name: 'teams', mountPath: TEAMS_MOUNT, readOnly: true },
                      { name: 'tmp', mountPath: '/tmp' },
                    ],
                  },
                ],
                volumes: [
                  { name: 'teams', configMap: { name: teamsConfig.metadata.name } },
                  { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
                ],
              },
            },
          },
        },
        { ...child, dependsOn: [this.namespace, migrate] },
      );
    };
    deployment('scheduler', cfg.apps.scheduler.replicas, cfg.apps.scheduler.resources);
    // The worker's replica count belongs to its HPA.
    deployment('worker', undefined, cfg.apps.worker.resources);
    deployment('api', cfg.apps.api.replicas, cfg.apps.api.resources);

    new k8s.autoscaling.v2.HorizontalPodAutoscaler(
      `${name}-worker-hpa`,
      {
        metadata: meta('updraft-worker', 'worker'),
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'updraft-worker' },
          minReplicas: cfg.apps.worker.minReplicas,
          maxReplicas: cfg.apps.worker.maxReplicas,
          metrics: [
            {
              type: 'Resource',
              resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
            },
          ],
          behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
        },
      },
      child,
    );

    const pdbs: [AppName, Record<string, number>][] = [
      ['scheduler', { minAvailable: 1 }],
      ['worker', { maxUnavailable: 1 }],
      ['api', { minAvailable: 1 }],
    ];
    for (const [app, budget] of pdbs) {
      new k8s.policy.v1.PodDisruptionBudget(
        `${name}-${app}-pdb`,
        {
          metadata: meta(`updraft-${app}`, app),
          spec: { ...budget, selector: { matchLabels: labels(app) } },
        },
        child,
      );
    }

    // --- the api's way in: Service (NEG) → Ingress (global HTTPS LB) with a managed certificate.
    new k8s.core.v1.Service(
      `${name}-api-service`,
      {
        metadata: {
          ...meta('updraft-api', 'api'),
          annotations: { 'cloud.google.com/neg': '{"ingress": true}' },
        },
        spec: {
          type: 'ClusterIP',
          selector: labels('api'),
          ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
        },
      },
      child,
    );
    const certificate = new k8s.apiextensions.CustomResource(
      `${name}-api-certificate`,
      {
        apiVersion: 'networking.gke.io/v1',
        kind: 'ManagedCertificate',
        metadata: meta('updraft-api', 'api'),
        spec: { domains: [cfg.domain] },
      },
      child,
    );
    new k8s.networking.v1.Ingress(
      `${name}-api-ingress`,
      {
        metadata: {
          ...meta('updraft-api', 'api'),
          annotations: {
            'kubernetes.io/ingress.class': 'gce',
            'kubernetes.io/ingress.global-static-ip-name': args.apiAddressName,
            'networking.gke.io/managed-certificates': certificate.metadata.name,
            'kubernetes.io/ingress.allow-http': 'false',
          },
        },
        spec: { defaultBackend: { service: { name: 'updraft-api', port: { number: 80 } } } },
      },
      child,
    );

    // --- network policies: deny everything, then open exactly what the apps need.
    const policy = (suffix: string, spec: k8s.types.input.networking.v1.NetworkPolicySpec) =>
      new k8s.networking.v1.NetworkPolicy(
        `${name}-${suffix}`,
        { metadata: meta(suffix), spec },
        child,
      );
    const apps = (...names: AppName[]) => ({
      matchExpressions: [{ key: 'app.kubernetes.io/component', operator: 'In', values: names }],
    });
    policy('default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    policy('allow-dns-egress', dnsEgressPolicy());
    policy('allow-postgres-egress', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ ipBlock: { cidr: cfg.network.privateServicesCidr } }],
          ports: [{ protocol: 'TCP', port: 5432 }],
        },
      ],
    });
    policy('allow-google-apis-egress', {
      podSelector: apps(...APPS),
      policyTypes: ['Egress'],
      egress: [
        // GKE metadata server (workload identity tokens).
        {
          to: [{ ipBlock: { cidr: '169.254.169.252/32' } }, { ipBlock: { cidr: '127.0.0.1/32' } }],
          ports: [{ protocol: 'TCP', port: 988 }],
        },
        {
          to: [{ ipBlock: { cidr: '169.254.169.254/32' } }],
          ports: [{ protocol: 'TCP', port: 80 }],
        },
        // Google APIs (Cloud Storage) over HTTPS.
        {
          to: [{ ipBlock: { cidr: '0.0.0.0/0', except: NON_PUBLIC_RANGES } }],
          ports: [{ protocol: 'TCP', port: 443 }],
        },
      ],
    });
    policy('allow-kube-api-egress', {
      podSelector: apps('worker'),
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ ipBlock: { cidr: cfg.network.masterCidr } }],
          ports: [{ protocol: 'TCP', port: 443 }],
        },
      ],
    });
    policy('allow-api-ingress', {
      podSelector: apps('api'),
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: GOOGLE_LB_RANGES.map((cidr) => ({ ipBlock: { cidr } })),
          ports: [{ protocol: 'TCP', port: API_PORT }],
        },
      ],
    });

    // --- teams
    this.teams = cfg.teams.map(
      (team) => new Team(`team-${team.id}`, { cfg, team }, { parent: this }),
    );

    this.registerOutputs({ namespace: ns });
  }
}
