/**
 * Test helper (not exported): where the runner e2e suite runs. By default a fresh
 * @updraft/kube-test-server; with UPDRAFT_KUBE_E2E=1 the cluster of KUBECONFIG
 * (namespace UPDRAFT_KUBE_E2E_NAMESPACE, default `default`).
 */
import type { KubeTestServer } from '@updraft/kube-test-server';
import { createKubeClients, type KubeClients } from './client.ts';

export interface E2eTarget {
  real: boolean;
  clients: KubeClients;
  namespace: string;
  /** The test server, when the target is one (scenario hooks, stats). */
  server: KubeTestServer | undefined;
  /** Multiplier for time limits (image pulls and scheduling are slower on a real cluster). */
  slow: number;
  /** Pods created for a label selector: server stats, or (real cluster) pods listed. */
  podsCreated(labelSelector: string): Promise<number>;
  close(): Promise<void>;
}

export async function openE2eTarget(): Promise<E2eTarget> {
  if (process.env.UPDRAFT_KUBE_E2E === '1') {
    const clients = await createKubeClients({
      ...(process.env.KUBECONFIG ? { kubeconfigPath: process.env.KUBECONFIG } : {}),
      ...(process.env.UPDRAFT_KUBE_E2E_CONTEXT
        ? { context: process.env.UPDRAFT_KUBE_E2E_CONTEXT }
        : {}),
    });
    const namespace = process.env.UPDRAFT_KUBE_E2E_NAMESPACE ?? 'default';
    return {
      real: true,
      clients,
      namespace,
      server: undefined,
      slow: 20,
      async podsCreated(labelSelector) {
        const list = await clients.core.listNamespacedPod({ namespace, labelSelector });
        return list.items.length;
      },
      async close() {},
    };
  }
  const { startKubeTestServer } = await import('@updraft/kube-test-server');
  const namespace = 'team-e2e';
  const server = await startKubeTestServer({ namespaces: ['default', namespace], stepMs: 5 });
  const clients = await createKubeClients({ kubeconfigPath: server.kubeconfigPath });
  return {
    real: false,
    clients,
    namespace,
    server,
    slow: 1,
    async podsCreated(labelSelector) {
      return server.stats.podsCreated(namespace, labelSelector);
    },
    close: () => server.close(),
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `ms`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
