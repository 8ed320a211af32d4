import { rowsOf } from '@updraft/db';
import { TEST_DATABASE_KINDS } from '@updraft/db/testing';
import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, waitFor } from '../testing.ts';

const WIDE_DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'wide', team: 'data-eng', schedule: null }, (d) => {
  for (const id of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'poison']) d.fn(id, () => id);
});
`;

// Decisions after a success look only at the finished tasks' downstream tasks, also when one of
// them waits for another upstream task (m after x); a skip cascade and a run whose last try finds
// its downstream already done take the whole run.
const RULES_DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'rules', team: 'data-eng', schedule: null }, (d) => {
  const a = d.fn('a', () => 'a');
  const b = d.fn('b', () => 'b', { triggerRule: 'all_failed' });
  const c = d.fn('c', () => 'c');
  a.then(b).then(c);
  const x = d.fn('x', () => 'x');
  const slow = d.fn('slow', () => new Promise((resolve) => setTimeout(() => resolve('slow'), 400)));
  const j = d.fn('j', () => 'j', { triggerRule: 'one_success' });
  x.then(j);
  slow.then(j);
  const k = d.fn('k', () => 'k');
  j.then(k);
  const m = d.fn('m', () => 'm');
  x.then(m);
  slow.then(m);
});
`;

describe.each(TEST_DATABASE_KINDS)('decisions after a batch, without a scheduler (%s)', (kind) => {
  let h: EngineHarness;
  beforeEach(async () => {
    h = await createEngineHarness(kind);
    await h.writeDag('rules.ts', RULES_DAG);
    await h.processor.sync();
  });
  afterEach(async () => {
    await h?.close();
  });

  it('cascades skips, runs a one_success join early and finishes the run', async () => {
    const { runId } = await h.ops.triggerRun('rules', { actor: 'test' });
    h.worker({ concurrency: 4 }).start();
    const run = await h.finishedRun(runId, { timeoutMs: 20_000 });
    const states = Object.fromEntries(
      rowsOf<{ task_id: string; state: string }>(
        await h.resources.database.db.execute(
          sql`select task_id, state from task_instances where run_id = ${runId}`,
        ),
      ).map((r) => [r.task_id, r.state]),
    );
    expect(states).toEqual({
      a: 'success',
      b: 'skipped',
      c: 'skipped',
      x: 'success',
      slow: 'success',
      j: 'success',
      k: 'success',
      m: 'success',
    });
    expect(run.state).toBe('success');
    // j ran as soon as x succeeded, not after slow.
    const [order] = rowsOf<{ early: boolean }>(
      await h.resources.database.db.execute(sql`select
        (select start_date from task_instances where run_id = ${runId} and task_id = 'j')
        < (select end_date from task_instances where run_id = ${runId} and task_id = 'slow') as early`),
    );
    expect(order!.early).toBe(true);
    // m waited for slow (all_success), and left none once, after it succeeded.
    const [events] = rowsOf<{ waited: boolean; decided: number }>(
      await h.resources.database.db.execute(sql`select
        (select min(at) from events where run_id = ${runId} and task_id = 'm' and from_state = 'none')
          >= (select max(at) from events where run_id = ${runId} and task_id = 'slow' and to_state = 'success') as waited,
        (select count(*)::int from events where run_id = ${runId} and task_id = 'm' and from_state = 'none') as decided`),
    );
    expect(events).toEqual({ waited: true, decided: 1 });
    // j's hand-off queued k in the statement that decided it: no stop in scheduled, one row
    // version and one event fewer.
    const k = rowsOf<{ from_state: string; to_state: string; reason: string | null }>(
      await h.resources.database.db.execute(sql`select from_state, to_state, reason from events
        where run_id = ${runId} and task_id = 'k' order by id`),
    );
    expect(k.map((e) => `${e.from_state}>${e.to_state}`)).toEqual([
      'none>queued',
      'queued>running',
      'running>success',
    ]);
    expect(k[0]!.reason).toBe('slot available');
  });
});

describe.each(TEST_DATABASE_KINDS)('recording finished tries in batches (%s)', (kind) => {
  let h: EngineHarness;
  beforeEach(async () => {
    h = await createEngineHarness(kind);
    await h.writeDag('wide.ts', WIDE_DAG);
    await h.processor.sync();
  });
  afterEach(async () => {
    await h?.close();
  });

  const successes = async (runId: string) =>
    rowsOf<{ task_id: string; at: string }>(
      await h.resources.database.db.execute(sql`select task_id, at::text as at from events
        where entity = 'task_instance' and run_id = ${runId} and to_state = 'success'`),
    );

  it('records tries that finish together in one transaction, with their results', async () => {
    const { runId } = await h.ops.triggerRun('wide', { actor: 'test' });
    h.worker({ concurrency: 8 }).start();
    expect((await h.finishedRun(runId)).state).toBe('success');
    const events = await successes(runId);
    expect(events.map((e) => e.task_id).sort()).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
      'f',
      'g',
      'poison',
    ]);
    // now() is the transaction's start: one per transaction. One per try would be 8.
    expect(new Set(events.map((e) => e.at)).size).toBeLessThan(8);
    const results = rowsOf<{ task_id: string; value: string }>(
      await h.resources.database.db.execute(sql`select x.task_id, x.value #>> '{}' as value
        from xcoms x join dag_runs r on r.id = x.dag_run_id where r.run_id = ${runId}`),
    );
    expect(Object.fromEntries(results.map((r) => [r.task_id, r.value]))).toEqual({
      a: 'a',
      b: 'b',
      c: 'c',
      d: 'd',
      e: 'e',
      f: 'f',
      g: 'g',
      poison: 'poison',
    });
  });

  it('a try that cannot be recorded does not hold back the others of its batch', async () => {
    // The database refuses to record "poison" as finished until the trigger is dropped.
    await h.resources.database.db.execute(
      sql.raw(`create function refuse_poison() returns trigger language plpgsql as $$ begin
        if new.task_id = 'poison' and new.state = 'success' then raise exception 'poison refused'; end if;
        return new; end $$`),
    );
    await h.resources.database.db.execute(
      sql.raw(`create trigger refuse_poison before update on task_instances for each row
        execute function refuse_poison()`),
    );
    const { runId } = await h.ops.triggerRun('wide', { actor: 'test' });
    h.worker({ concurrency: 8 }).start();
    await waitFor(async () => ((await successes(runId)).length === 7 ? true : null), {
      timeoutMs: 20_000,
      what: 'the seven other tries to be recorded',
    });
    const [poison] = rowsOf<{ state: string }>(
      await h.resources.database.db.execute(
        sql`select state from task_instances where run_id = ${runId} and task_id = 'poison'`,
      ),
    );
    expect(poison!.state).toBe('running');
    await h.resources.database.db.execute(sql.raw('drop trigger refuse_poison on task_instances'));
    expect((await h.finishedRun(runId, { timeoutMs: 30_000 })).state).toBe('success');
    expect((await successes(runId)).map((e) => e.task_id)).toContain('poison');
  });
});
