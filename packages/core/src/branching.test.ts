import { describe, expect, it } from 'vitest';
import { BranchResultError, branchChoice, controlFlowSkips } from './branching.ts';

// branch → a → join, branch → b → join, branch → join; branch → c → d
const tasks = [
  { taskId: 'branch', upstream: [] },
  { taskId: 'a', upstream: ['branch'] },
  { taskId: 'b', upstream: ['branch'] },
  { taskId: 'c', upstream: ['branch'] },
  { taskId: 'd', upstream: ['c'] },
  { taskId: 'join', upstream: ['a', 'b', 'branch'] },
] as never;
const spec = { tasks };

describe('controlFlowSkips', () => {
  it.each([
    ['one id', 'a', ['b', 'c']],
    ['a list', ['a', 'c'], ['b']],
    ['a task-like object', { id: 'b' }, ['a', 'c']],
    ['null (follow nothing)', null, ['a', 'b', 'c', 'join']],
    ['the join itself', 'join', ['a', 'b', 'c']],
  ])('branch returning %s skips the other direct downstream tasks', (_name, result, skipped) => {
    expect(controlFlowSkips(spec, 'branch', { kind: 'branch' }, result).sort()).toEqual(
      [...skipped].sort(),
    );
  });

  it('keeps a join that is downstream of both the branch and the chosen path', () => {
    expect(controlFlowSkips(spec, 'branch', { kind: 'branch' }, 'a')).not.toContain('join');
  });

  it('rejects a choice that is not directly downstream, naming the choices', () => {
    expect(() => controlFlowSkips(spec, 'branch', { kind: 'branch' }, 'd')).toThrow(
      BranchResultError,
    );
    expect(() => controlFlowSkips(spec, 'branch', { kind: 'branch' }, 'd')).toThrow(
      'branch task "branch" chose "d", which is not directly downstream of it; choose from "a", "b", "c", "join"',
    );
    expect(() => branchChoice(42, 'branch')).toThrow(/must return a task id/);
  });

  it.each([
    [true, true, []],
    [{ rows: 1 }, true, []],
    [false, true, ['a', 'b', 'c', 'd', 'join']],
    [0, true, ['a', 'b', 'c', 'd', 'join']],
    ['', false, ['a', 'b', 'c', 'join']],
    [null, false, ['a', 'b', 'c', 'join']],
  ])(
    'short-circuit with result %j (ignore downstream trigger rules: %s) skips %j',
    (result, ignore, skipped) => {
      expect(
        controlFlowSkips(
          spec,
          'branch',
          { kind: 'short_circuit', ignoreDownstreamTriggerRules: ignore },
          result,
        ).sort(),
      ).toEqual([...skipped].sort());
    },
  );
});
