/**
 * @updraft/kube — Kubernetes for Updraft: the client factory, the pod spec builder and the pod
 * workload runner. Importing this module does not load @kubernetes/client-node; the factory
 * loads it on first use. Pure parts only: import `@updraft/kube/spec`.
 */
export { createKubeClients, type KubeClientOptions, type KubeClients } from './client.ts';
export { apiErrorCode, apiErrorMessage, apiErrorStatus, type KubeStatus } from './errors.ts';
export {
  createKubernetesPodRunner,
  type KubernetesPodRunnerOptions,
  type PodWorkloadRunner,
  parseResult,
  type RunPodOutcome,
  type RunPodRequest,
} from './runner.ts';
export * from './spec.ts';
