/** Shared NetworkPolicy specs. */

/** Egress to kube-dns in kube-system on port 53. */
export function dnsEgressPolicy(podSelector: Record<string, unknown> = {}) {
  return {
    podSelector,
    policyTypes: ['Egress'],
    egress: [
      {
        to: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
            podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
          },
        ],
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', port: 53 },
        ],
      },
    ],
  };
}

/** Google's load-balancer and health-check source ranges (they reach the api's pods via NEGs). */
export const GOOGLE_LB_RANGES = ['35.191.0.0/16', '130.211.0.0/22'];
