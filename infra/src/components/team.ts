import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { Team as TeamSpec } from '@updraft/core/environment';
import { type EnvironmentConfig, PLATFORM_NAMESPACE } from '../config.ts';
import { kubeServiceAccountName } from './identity.ts';
import { COMPONENT_TYPES } from './naming.ts';
import { dnsEgressPolicy } from './network-policies.ts';

/** Rules of the worker's Role in each team namespace: run task pods, read their logs and events. */
export const WORKER_TEAM_RULES = [
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'create', 'delete'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['events'], verbs: ['get', 'list', 'watch'] },
];

/** Private, link-local and metadata ranges that task pods may not reach. */
export const NON_PUBLIC_RANGES = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '169.254.0.0/16',
  '100.64.0.0/10',
];

/**
 * One team: its namespace with quota and default container resources, the worker's Role there,
 * and network policies (deny by default; DNS and the public internet allowed out).
 */
export class Team extends pulumi.ComponentResource {
  readonly namespace: k8s.core.v1.Namespace;

  constructor(
    name: string,
    args: { cfg: EnvironmentConfig; team: TeamSpec },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(COMPONENT_TYPES.team, name, {}, opts);
    const { cfg, team } = args;
    const parent = { parent: this };
    const labels = { 'app.kubernetes.io/part-of': 'updraft', 'updraft.dev/team': team.id };

    this.namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      {
        metadata: {
          name: team.namespace,
          labels: {
            ...labels,
            // Team images are the teams' own: root is warned about, privileged pods are refused.
            'pod-security.kubernetes.io/enforce': 'baseline',
            'pod-security.kubernetes.io/warn': 'restricted',
          },
        },
      },
      parent,
    );
    const ns = this.namespace.metadata.name;
    const inNs = (metaName: string) => ({ name: metaName, namespace: ns, labels });
    const childOpts = { parent: this, dependsOn: [this.namespace] };

    new k8s.core.v1.ResourceQuota(
      `${name}-quota`,
      {
        metadata: inNs('team-quota'),
        spec: {
          hard: {
            'requests.cpu': team.quota.cpu,
            'requests.memory': team.quota.memory,
            'limits.memory': team.quota.memory,
            pods: String(team.quota.pods),
          },
        },
      },
      childOpts,
    );
    const defaults = team.defaultContainerResources ?? cfg.teamDefaults;
    new k8s.core.v1.LimitRange(
      `${name}-limits`,
      {
        metadata: inNs('team-defaults'),
        spec: {
          limits: [
            {
              type: 'Container',
              defaultRequest: { cpu: defaults.cpu, memory: defaults.memory },
              default: { memory: defaults.memory },
            },
          ],
        },
      },
      childOpts,
    );

    const role = new k8s.rbac.v1.Role(
      `${name}-worker-role`,
      { metadata: inNs('updraft-worker'), rules: WORKER_TEAM_RULES },
      childOpts,
    );
    new k8s.rbac.v1.RoleBinding(
      `${name}-worker-binding`,
      {
        metadata: inNs('updraft-worker'),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name },
        subjects: [
          {
            kind: 'ServiceAccount',
            name: kubeServiceAccountName('worker'),
            namespace: PLATFORM_NAMESPACE,
          },
        ],
      },
      childOpts,
    );

    new k8s.networking.v1.NetworkPolicy(
      `${name}-default-deny`,
      {
        metadata: inNs('default-deny'),
        spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
      },
      childOpts,
    );
    new k8s.networking.v1.NetworkPolicy(
      `${name}-allow-dns`,
      { metadata: inNs('allow-dns-egress'), spec: dnsEgressPolicy() },
      childOpts,
    );
    new k8s.networking.v1.NetworkPolicy(
      `${name}-allow-internet`,
      {
        metadata: inNs('allow-internet-egress'),
        spec: {
          podSelector: {},
          policyTypes: ['Egress'],
          egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: NON_PUBLIC_RANGES } }] }],
        },
      },
      childOpts,
    );

    this.registerOutputs({ namespace: ns });
  }
}
