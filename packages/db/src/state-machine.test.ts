import { RUN_TRANSITIONS, TASK_STATES, TASK_TRANSITIONS } from '@updraft/core/state';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseError, rowsOf } from './index.ts';
import { dagRuns, dags, dagVersions, taskInstances, teams } from './schema/index.ts';
import { createTestDatabase, TEST_DATABASE_KINDS, type TestDatabase } from './testing.ts';

async function failureOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return databaseError(error).message;
  }
  throw new Error('expected the statement to fail');
}

describe.each(TEST_DATABASE_KINDS)('state machine in the database (%s)', (kind) => {
  let t: TestDatabase;
  let tiId: number;

  beforeAll(async () => {
    t = await createTestDatabase(kind);
    const { db } = t.handle;
    await db.insert(teams).values({ id: 'team-a', name: 'A', namespace: 'team-a' });
    await db.insert(dags).values({
      dagId: 'd',
      teamId: 'team-a',
      fileloc: 'd.ts',
      maxActiveRuns: 1,
      maxActiveTasks: 1,
    });
    const [version] = await db
      .insert(dagVersions)
      .values({
        dagId: 'd',
        versionNumber: 1,
        contentHash: 'h',
        sourceHash: 's',
        fileloc: 'd.ts',
        spec: {} as never,
      })
      .returning();
    const now = new Date();
    const [run] = await db
      .insert(dagRuns)
      .values({
        dagId: 'd',
        runId: 'r1',
        dagVersionId: version!.id,
        runType: 'manual',
        state: 'queued',
        logicalDate: now,
        dataIntervalStart: now,
        dataIntervalEnd: now,
        triggeredBy: 'test',
      })
      .returning();
    const [ti] = await db
      .insert(taskInstances)
      .values({ dagRunId: run!.id, dagId: 'd', runId: 'r1', taskId: 't', operator: 'shell' })
      .returning();
    tiId = ti!.id;
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('holds exactly the transitions of the TypeScript tables', async () => {
    const taskRows = rowsOf<{ from_state: string; to_state: string }>(
      await t.handle.db.execute(sql`select from_state, to_state from task_state_transitions`),
    );
    const expected = Object.entries(TASK_TRANSITIONS).flatMap(([f, tos]) =>
      tos.map((to) => `${f}->${to}`),
    );
    expect(taskRows.map((r) => `${r.from_state}->${r.to_state}`).sort()).toEqual(expected.sort());
    const runRows = rowsOf<{ from_state: string; to_state: string }>(
      await t.handle.db.execute(sql`select from_state, to_state from run_state_transitions`),
    );
    const expectedRuns = Object.entries(RUN_TRANSITIONS).flatMap(([f, tos]) =>
      tos.map((to) => `${f}->${to}`),
    );
    expect(runRows.map((r) => `${r.from_state}->${r.to_state}`).sort()).toEqual(
      expectedRuns.sort(),
    );
  });

  it("writes each table's edges into its trigger's WHEN clause (migration 0010)", async () => {
    for (const [trigger, table] of [
      ['task_instances_state_transition', 'task_state_transitions'],
      ['dag_runs_state_transition', 'run_state_transitions'],
    ] as const) {
      const [def] = rowsOf<{ def: string }>(
        await t.handle.db.execute(
          sql`select pg_get_triggerdef(oid) as def from pg_trigger where tgname = ${trigger}`,
        ),
      );
      const edges = /ANY \('\{([^}]*)\}'::text\[\]\)/.exec(def?.def ?? '')?.[1]?.split(',');
      const rows = rowsOf<{ edge: string }>(
        await t.handle.db.execute(
          sql`select from_state || '->' || to_state as edge from ${sql.identifier(table)}`,
        ),
      );
      expect(edges?.sort(), trigger).toEqual(rows.map((r) => r.edge).sort());
    }
  });

  it('rejects an illegal task transition and accepts a legal one', async () => {
    const { db } = t.handle;
    await expect(
      db.execute(sql`update task_instances set state = 'success' where id = ${tiId} and false`),
    ).resolves.toBeDefined();
    // none -> running skips queued: illegal.
    expect(
      await failureOf(
        db.execute(sql`update task_instances set state = 'running' where id = ${tiId}`),
      ),
    ).toMatch(/illegal task instance transition none -> running/);
    await db.execute(sql`update task_instances set state = 'scheduled' where id = ${tiId}`);
    await db.execute(sql`update task_instances set state = 'queued' where id = ${tiId}`);
    await db.execute(sql`update task_instances set state = 'running' where id = ${tiId}`);
    const rows = rowsOf<{ state: string }>(
      await db.execute(sql`select state from task_instances where id = ${tiId}`),
    );
    expect(rows[0]?.state).toBe('running');
  });

  it('checks every row of a statement: one illegal row rejects the whole statement', async () => {
    const { db } = t.handle;
    const [run] = rowsOf<{ id: number }>(await db.execute(sql`select id from dag_runs limit 1`));
    await db.insert(taskInstances).values(
      ['many_a', 'many_b', 'many_c'].map((taskId) => ({
        dagRunId: run!.id,
        dagId: 'd',
        runId: 'r1',
        taskId,
        operator: 'shell',
      })),
    );
    const states = async () =>
      rowsOf<{ task_id: string; state: string }>(
        await db.execute(
          sql`select task_id, state from task_instances where task_id like 'many_%' order by task_id`,
        ),
      ).map((r) => `${r.task_id}:${r.state}`);
    // many_b would skip from none to running.
    expect(
      await failureOf(
        db.execute(sql`update task_instances
          set state = case when task_id = 'many_b' then 'running' else 'scheduled' end
          where task_id like 'many_%'`),
      ),
    ).toMatch(/illegal task instance transition none -> running \(dag d, run r1, task many_b\)/);
    expect(await states()).toEqual(['many_a:none', 'many_b:none', 'many_c:none']);
    await db.execute(
      sql`update task_instances set state = 'scheduled' where task_id like 'many_%'`,
    );
    // Rows whose state does not change are not transitions.
    await db.execute(sql`update task_instances set pool = 'other' where task_id like 'many_%'`);
    expect(await states()).toEqual(['many_a:scheduled', 'many_b:scheduled', 'many_c:scheduled']);
  });

  it('rejects unknown states outright', async () => {
    expect(
      await failureOf(
        t.handle.db.execute(sql`update task_instances set state = 'bogus' where id = ${tiId}`),
      ),
    ).toMatch(/task_instances_state_check|illegal/);
    expect(TASK_STATES).not.toContain('bogus');
  });

  it('rejects an illegal run transition', async () => {
    await expect(
      t.handle.db.execute(
        sql`update dag_runs set state = 'queued' where run_id = 'r1' and state = 'queued'`,
      ),
    ).resolves.toBeDefined();
    await t.handle.db.execute(sql`update dag_runs set state = 'running' where run_id = 'r1'`);
    await t.handle.db.execute(sql`update dag_runs set state = 'success' where run_id = 'r1'`);
    // success -> running is not an edge (a cleared run goes back to queued first).
    expect(
      await failureOf(
        t.handle.db.execute(sql`update dag_runs set state = 'running' where run_id = 'r1'`),
      ),
    ).toMatch(/illegal dag run transition success -> running/);
  });
});
