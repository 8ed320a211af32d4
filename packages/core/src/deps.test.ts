import { describe, expect, it } from 'vitest';
import { TRIGGER_RULES, type TriggerRule } from './dag.ts';
import { countUpstream, evaluateTriggerRule, type TriggerDecision } from './deps.ts';
import { TASK_STATES, type TaskState, TERMINAL_TASK_STATES } from './state.ts';

type Outcome = TriggerDecision['outcome'];

const S: TaskState = 'success';
const F: TaskState = 'failed';
const U: TaskState = 'upstream_failed';
const K: TaskState = 'skipped';
const R: TaskState = 'running';
const N: TaskState = 'none';
const X: TaskState = 'removed';

const decide = (rule: TriggerRule, states: TaskState[]): Outcome =>
  evaluateTriggerRule(rule, countUpstream(states)).outcome;

describe('countUpstream', () => {
  it.each<[TaskState[], Partial<ReturnType<typeof countUpstream>>]>([
    [[], { total: 0, done: 0 }],
    [[S, S, F], { total: 3, success: 2, failed: 1, done: 3 }],
    [[K, U, X], { total: 3, skipped: 1, upstreamFailed: 1, removed: 1, done: 3 }],
    [[R, N, S], { total: 3, success: 1, done: 1 }],
  ])('%j → %j', (states, expected) => {
    expect(countUpstream(states)).toMatchObject(expected);
  });

  it.each(TASK_STATES.filter((s) => !TERMINAL_TASK_STATES.has(s)))(
    'an upstream in %s is not done and counts as nothing but total',
    (state) => {
      expect(countUpstream([state])).toEqual({
        total: 1,
        success: 0,
        skipped: 0,
        failed: 0,
        upstreamFailed: 0,
        removed: 0,
        done: 0,
      });
    },
  );

  it.each([...TERMINAL_TASK_STATES])('an upstream in %s is done', (state) => {
    expect(countUpstream([state]).done).toBe(1);
  });
});

/**
 * Expected outcomes follow airflow/ti_deps/deps/trigger_rule_dep.py (_evaluate_direct_relatives):
 * the flag_upstream_failed branch decides skipped/upstream_failed, the failing-status branch
 * decides wait, and anything else passes (ready).
 */
const TABLE: Record<TriggerRule, [TaskState[], Outcome][]> = {
  all_success: [
    [[S, S], 'ready'],
    [[S, R], 'wait'],
    [[N, N], 'wait'],
    [[S, F], 'upstream_failed'],
    [[F, R], 'upstream_failed'],
    [[S, U], 'upstream_failed'],
    [[S, K], 'skip'],
    [[K, R], 'skip'],
    [[F, K], 'upstream_failed'],
    [[S, X], 'ready'],
  ],
  all_failed: [
    [[F, F], 'ready'],
    [[F, U], 'ready'],
    [[U, U], 'ready'],
    [[F, R], 'wait'],
    [[N, N], 'wait'],
    [[F, S], 'skip'],
    [[S, R], 'skip'],
    [[F, K], 'skip'],
  ],
  all_done: [
    [[S, F, K, U], 'ready'],
    [[K, K], 'ready'],
    [[F, F], 'ready'],
    [[S, R], 'wait'],
    [[F, N], 'wait'],
  ],
  all_done_min_one_success: [
    [[S, S], 'ready'],
    [[S, F], 'ready'],
    [[S, U], 'ready'],
    [[S, R], 'wait'],
    [[F, R], 'wait'],
    [[F, F], 'upstream_failed'],
    [[F, U], 'upstream_failed'],
    [[S, K], 'skip'],
    [[K, R], 'skip'],
    [[K, K], 'skip'],
  ],
  all_skipped: [
    [[K, K], 'ready'],
    [[K, R], 'wait'],
    [[N, N], 'wait'],
    [[K, S], 'skip'],
    [[K, F], 'skip'],
    [[U, R], 'skip'],
    [[S, R], 'skip'],
  ],
  one_success: [
    [[S, R], 'ready'],
    [[S, N], 'ready'],
    [[S, F], 'ready'],
    [[K, S], 'ready'],
    [[F, R], 'wait'],
    [[K, R], 'wait'],
    [[N, N], 'wait'],
    [[F, F], 'upstream_failed'],
    [[F, K], 'upstream_failed'],
    [[U, K], 'upstream_failed'],
    [[K, K], 'skip'],
  ],
  one_failed: [
    [[F, R], 'ready'],
    [[U, N], 'ready'],
    [[F, S], 'ready'],
    [[S, R], 'wait'],
    [[K, N], 'wait'],
    [[S, S], 'skip'],
    [[S, K], 'skip'],
    [[K, K], 'skip'],
  ],
  one_done: [
    [[S, R], 'ready'],
    [[F, R], 'ready'],
    [[F, K], 'ready'],
    [[K, R], 'wait'],
    [[U, R], 'wait'],
    [[N, N], 'wait'],
    [[K, K], 'skip'],
    [[K, U], 'skip'],
    [[U, U], 'skip'],
  ],
  none_failed: [
    [[S, S], 'ready'],
    [[S, K], 'ready'],
    [[K, K], 'ready'],
    [[S, R], 'wait'],
    [[K, N], 'wait'],
    [[F, R], 'upstream_failed'],
    [[U, S], 'upstream_failed'],
    [[F, K], 'upstream_failed'],
  ],
  none_failed_min_one_success: [
    [[S, S], 'ready'],
    [[S, K], 'ready'],
    [[S, R], 'wait'],
    [[K, R], 'wait'],
    [[K, K], 'skip'],
    [[F, K], 'upstream_failed'],
    [[U, R], 'upstream_failed'],
    [[S, F], 'upstream_failed'],
  ],
  none_skipped: [
    [[S, S], 'ready'],
    [[S, F], 'ready'],
    [[S, U], 'ready'],
    [[F, F], 'ready'],
    [[S, R], 'wait'],
    [[F, N], 'wait'],
    [[K, R], 'skip'],
    [[S, K], 'skip'],
  ],
  always: [
    [[R, N], 'ready'],
    [[F, F], 'ready'],
    [[K, K], 'ready'],
    [[U, S], 'ready'],
  ],
};

describe('evaluateTriggerRule', () => {
  it('the table covers every trigger rule', () => {
    expect(Object.keys(TABLE).sort()).toEqual([...TRIGGER_RULES].sort());
  });

  describe.each(TRIGGER_RULES.map((rule) => [rule, TABLE[rule]] as const))('%s', (rule, cases) => {
    it.each(cases)(`upstream %j → %s`, (states, expected) => {
      const decision = evaluateTriggerRule(rule, countUpstream(states));
      expect(decision.outcome).toBe(expected);
      expect(decision.reason).not.toBe('');
    });

    it('is ready with no upstream tasks', () => {
      expect(decide(rule, [])).toBe('ready');
    });

    it('never waits once every upstream task is finished', () => {
      const finished: TaskState[] = [S, F, U, K];
      for (const a of finished) {
        for (const b of finished) {
          for (const c of finished) {
            expect(decide(rule, [a, b, c]), `${rule} on ${[a, b, c].join(',')}`).not.toBe('wait');
          }
        }
      }
    });
  });

  it.each<[TriggerRule, TaskState[]]>([
    ['one_success', [S, R, R, N]],
    ['one_failed', [F, R, R, N]],
    ['one_done', [F, N, N, N]],
  ])('%s fires as soon as one upstream allows it, without waiting for %j', (rule, states) => {
    expect(decide(rule, states)).toBe('ready');
  });

  it('a wait reason reports the upstream counts', () => {
    const decision = evaluateTriggerRule('all_success', countUpstream([S, R, N]));
    expect(decision.outcome).toBe('wait');
    expect(decision.reason).toContain('1 succeeded');
    expect(decision.reason).toContain('2 not done, of 3');
  });

  it('rejects an unknown trigger rule', () => {
    expect(() => evaluateTriggerRule('bogus' as TriggerRule, countUpstream([S]))).toThrow(
      /unexpected trigger rule/,
    );
  });
});
