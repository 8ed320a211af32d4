/**
 * @updraft/kube — Kubernetes for Updraft: the client factory, the pod spec builder and the pod
 * workload runner. Importing this module does not load @kubernetes/client-node; the factory
 * loads it on first use. Pure parts only: import `@updraft/kube/spec`.
 */
export { type KubeClientOptions, type KubeClients, createKubeClients } from './client.ts';
export { type KubeStatus, apiErrorCode, apiErrorMessage, apiErrorStatus } from './errors.ts';
export {
  type KubernetesPodRunnerOptions,
  type PodWorkloadRunner,
  type RunPodOutcome,
  type RunPodRequest,
  createKubernetesPodRunner,
  parseResult,
} from './runner.ts';
export * from './spec.ts';
