/**
 * The one factory for Kubernetes access. @kubernetes/client-node is heavy (~0.65 s to import),
 * so it is loaded here lazily, on the first call, never at module load.
 */
import type { CoreV1Api, KubeConfig, Log, Watch } from '@kubernetes/client-node';

export interface KubeClientOptions {
  /** Use the pod's service account (KUBERNETES_SERVICE_HOST, mounted token). Wins over the rest. */
  inCluster?: boolean;
  /**
   * A kubeconfig file. The caller passes it (an app typically reads `KUBECONFIG` in its env
   * schema). When neither this nor `inCluster` is given, client-node's default lookup applies
   * (`KUBECONFIG`, `~/.kube/config`, then in-cluster).
   */
  kubeconfigPath?: string;
  /** A context of the kubeconfig; default: its current-context. */
  context?: string;
}

export interface KubeClients {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  watch: Watch;
  log: Log;
  /** The context in use ('inCluster' for in-cluster config). */
  context: string;
  /** The API server URL. */
  server: string;
}

export async function createKubeClients(options: KubeClientOptions = {}): Promise<KubeClients> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  if (options.inCluster) kc.loadFromCluster();
  else if (options.kubeconfigPath !== undefined) kc.loadFromFile(options.kubeconfigPath);
  else kc.loadFromDefault();
  if (options.context !== undefined) {
    const names = kc.getContexts().map((c) => c.name);
    if (!names.includes(options.context)) {
      throw new Error(
        `Kubernetes context '${options.context}' not found in kubeconfig${options.kubeconfigPath ? ` ${options.kubeconfigPath}` : ''} (available: ${names.join(', ') || 'none'})`,
      );
    }
    kc.setCurrentContext(options.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new Error(
      `no Kubernetes cluster configured${options.kubeconfigPath ? ` in kubeconfig ${options.kubeconfigPath}` : ''}`,
    );
  }
  return {
    kubeConfig: kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    watch: new k8s.Watch(kc),
    log: new k8s.Log(kc),
    context: kc.getCurrentContext(),
    server: cluster.server,
  };
}
