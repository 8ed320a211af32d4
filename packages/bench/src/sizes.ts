/** Workload sizes for the full run, the quick run (under 2 minutes) and the smoke test. */
export interface Sizes {
  name: 'full' | 'quick' | 'tiny';
  /** W1: [tasks, fibo n] per chain, and measured runs per chain (after one warm-up run). */
  chains: [number, number][];
  chainReps: number;
  /** W2 */
  hops: number;
  /** W3 */
  fanOutRuns: number;
  fanOutWidth: number;
  concurrencies: number[];
  /** W4 */
  scheduledDags: number;
  historyTaskInstances: number;
  schedulerPasses: number;
  /** W4, DAG file loading on its own (`--only dagfiles`) */
  dagFiles: number;
  /** W7: tasks of the large DAG, tasks per layer */
  largeDagTasks: number;
  largeDagWidth: number;
  /** W5 */
  apiRuns: number;
  apiTasksPerRun: number;
  apiSeconds: number;
  apiConnections: number;
  /** W6 */
  idleSeconds: number;
  pgliteIdle: boolean;
}

export const SIZES: Record<Sizes['name'], Sizes> = {
  full: {
    name: 'full',
    chains: [
      [40, 10],
      [10, 33],
    ],
    chainReps: 3,
    hops: 500,
    fanOutRuns: 20,
    fanOutWidth: 500,
    concurrencies: [32, 64],
    scheduledDags: 1000,
    historyTaskInstances: 1_000_000,
    schedulerPasses: 20,
    dagFiles: 1000,
    largeDagTasks: 5000,
    largeDagWidth: 250,
    apiRuns: 100_000,
    apiTasksPerRun: 5,
    apiSeconds: 10,
    apiConnections: 10,
    idleSeconds: 10,
    pgliteIdle: true,
  },
  quick: {
    name: 'quick',
    chains: [
      [40, 10],
      [10, 33],
    ],
    chainReps: 1,
    hops: 100,
    fanOutRuns: 2,
    fanOutWidth: 250,
    concurrencies: [32],
    scheduledDags: 100,
    historyTaskInstances: 100_000,
    schedulerPasses: 6,
    dagFiles: 1000,
    largeDagTasks: 2000,
    largeDagWidth: 100,
    apiRuns: 10_000,
    apiTasksPerRun: 5,
    apiSeconds: 3,
    apiConnections: 10,
    idleSeconds: 2,
    pgliteIdle: false,
  },
  tiny: {
    name: 'tiny',
    chains: [[5, 10]],
    chainReps: 1,
    hops: 10,
    fanOutRuns: 1,
    fanOutWidth: 20,
    concurrencies: [32],
    scheduledDags: 10,
    historyTaskInstances: 2_000,
    schedulerPasses: 3,
    dagFiles: 10,
    largeDagTasks: 100,
    largeDagWidth: 25,
    apiRuns: 200,
    apiTasksPerRun: 2,
    apiSeconds: 1,
    apiConnections: 4,
    idleSeconds: 1,
    pgliteIdle: false,
  },
};
