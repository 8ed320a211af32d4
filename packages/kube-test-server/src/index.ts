/**
 * @updraft/kube-test-server — FOR TESTS AND DEMOS ONLY.
 *
 * A plain-HTTP fake of the slice of the Kubernetes API that Updraft uses, with a simulated
 * one-node kubelet that really runs allow-listed images as local processes. Never point a
 * production deployment at it: it has no authentication and keeps everything in memory.
 */

export {
  type AllowedImage,
  SCENARIO_AFTER_MS_ANNOTATION,
  SCENARIO_ANNOTATION,
  SCENARIO_KINDS,
  SCENARIO_MESSAGE_ANNOTATION,
  type ScenarioKind,
  type ScenarioRule,
} from './kubelet.ts';
export {
  type KubeTestServer,
  type KubeTestServerOptions,
  kubeconfigFor,
  type ScenarioApi,
  startKubeTestServer,
} from './server.ts';
