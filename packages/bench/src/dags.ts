/** DAG file sources for the workloads. */
import { TEAM } from './env.ts';

const FIBO = 'function fibo(n: number): number { return n < 2 ? n : fibo(n - 1) + fibo(n - 2); }';

/** A chain of `length` tasks, each computing fibo(n): in the worker (fn) or in its own node process (shell). */
export function chainDag(
  id: string,
  length: number,
  fiboN: number,
  mode: 'function' | 'shell',
): string {
  const task =
    mode === 'function'
      ? `d.fn(\`t\${i}\`, () => fibo(${fiboN}))`
      : `d.shell(\`t\${i}\`, { command: ${JSON.stringify(
          `'${process.execPath}' -e 'function f(n){return n<2?n:f(n-1)+f(n-2)} console.log(f(${fiboN}))'`,
        )} })`;
  return `import { dag } from '@updraft/sdk';
${FIBO}
export default dag({ id: '${id}', team: '${TEAM}', schedule: null, maxActiveTasks: 64 }, (d) => {
  let prev: ReturnType<typeof d.fn> | ReturnType<typeof d.shell> | undefined;
  for (let i = 0; i < ${length}; i++) {
    const t = ${task};
    if (prev) prev.then(t);
    prev = t;
  }
});
`;
}

/**
 * Where the no-op chain's tasks note when their body runs (`performance.now()`), when the bench
 * puts an array there: the worker runs function tasks in the bench's own process.
 */
export const BODY_MARKS = '__updraftBenchBodyMarks';

/** A chain of `length` no-op function tasks; each notes when its body runs (BODY_MARKS). */
export function noopChainDag(id: string, length: number): string {
  return `import { dag } from '@updraft/sdk';
export default dag({ id: '${id}', team: '${TEAM}', schedule: null, maxActiveTasks: 64 }, (d) => {
  let prev: ReturnType<typeof d.fn> | undefined;
  for (let i = 0; i < ${length}; i++) {
    const t = d.fn(\`t\${i}\`, () => {
      (globalThis as { ${BODY_MARKS}?: number[] }).${BODY_MARKS}?.push(performance.now());
    });
    if (prev) prev.then(t);
    prev = t;
  }
});
`;
}

/** `width` independent no-op function tasks; enough room for `runs` runs at once. */
export function fanOutDag(id: string, width: number, runs: number, team = TEAM): string {
  return `import { dag } from '@updraft/sdk';
export default dag({ id: '${id}', team: '${team}', schedule: null, maxActiveRuns: ${Math.max(runs, 1)}, maxActiveTasks: ${width * Math.max(runs, 1)} }, (d) => {
  for (let i = 0; i < ${width}; i++) d.fn(\`t\${i}\`, () => undefined);
});
`;
}

/**
 * A large DAG of joins: layers of `width` no-op tasks, each task downstream of `fanIn` tasks of the
 * layer before (chosen by a fixed pseudo-random sequence, so every run builds the same DAG).
 */
export function layeredDag(id: string, tasks: number, width: number, fanIn: number): string {
  return `import { dag } from '@updraft/sdk';
export default dag({ id: '${id}', team: '${TEAM}', schedule: null, maxActiveTasks: 64 }, (d) => {
  let seed = 1;
  const next = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  let before: ReturnType<typeof d.fn>[] = [];
  for (let layer = 0; layer * ${width} < ${tasks}; layer++) {
    const current: ReturnType<typeof d.fn>[] = [];
    for (let i = 0; i < ${width} && layer * ${width} + i < ${tasks}; i++) {
      const t = d.fn(\`l\${layer}_\${i}\`, () => undefined);
      for (let k = 0; k < ${fanIn} && before.length > 0; k++) before[Math.floor(next() * before.length)]!.then(t);
      current.push(t);
    }
    before = current;
  }
});
`;
}

/** A one-task DAG on a one-minute schedule. */
export function scheduledDag(id: string): string {
  return `import { dag } from '@updraft/sdk';
export default dag({ id: '${id}', team: '${TEAM}', schedule: '* * * * *', startDate: '2026-01-01', catchup: false }, (d) => {
  d.fn('t', () => undefined);
});
`;
}
