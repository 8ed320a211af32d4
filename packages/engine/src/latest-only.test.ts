/**
 * Latest-only end to end on PostgreSQL with a fake clock: in catch-up runs only the latest
 * interval runs the tasks after the latest-only task (skips propagate through trigger rules);
 * manual runs never skip; the YAML form works the same.
 */
import { schema } from '@updraft/db';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from './resources.ts';
import { createEngineHarness, type EngineHarness, waitFor } from './testing.ts';

const clock: Clock & { current: Date } = {
  current: new Date('2026-01-04T00:00:01Z'),
  now() {
    return new Date(this.current);
  },
};

const DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'latest', team: 'data-eng', schedule: '@daily', startDate: '2026-01-01', catchup: true }, (d) => {
  const gate = d.latestOnly('latest_only');
  const notify = d.shell('notify', { command: 'true' });
  const after = d.shell('after', { command: 'true' });
  const always = d.shell('always', { command: 'true', triggerRule: 'all_done' });
  d.shell('independent', { command: 'true' });
  gate.then(notify).then(after).then(always);
});
`;

const YAML = `
id: latest_yaml
team: data-eng
schedule: "@daily"
startDate: "2026-01-02"
catchup: true
tasks:
  - id: gate
    latestOnly: true
  - id: publish
    upstream: [gate]
    shell: "true"
`;

describe('latest-only (postgres)', () => {
  let h: EngineHarness;

  beforeAll(async () => {
    h = await createEngineHarness('postgres', { clock });
    await h.writeDag('latest.ts', DAG);
    await h.writeDag('latest.yaml', YAML);
    await h.processor.sync();
    h.worker().start();
    const scheduler = h.scheduler();
    // Catch up: 2026-01-01, -02 and -03 for "latest"; -02 and -03 for "latest_yaml".
    await waitFor(
      async () => {
        await scheduler.runOnce();
        const runs = await h.resources.database.db.select().from(schema.dagRuns);
        return runs.length === 5 && runs.every((r) => r.state === 'success') ? runs : null;
      },
      { timeoutMs: 30_000, what: 'catch-up runs to finish' },
    );
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  const states = async (dagId: string, runId: string) =>
    Object.fromEntries(
      (
        await h.resources.database.db
          .select()
          .from(schema.taskInstances)
          .where(and(eq(schema.taskInstances.dagId, dagId), eq(schema.taskInstances.runId, runId)))
          .orderBy(asc(schema.taskInstances.taskId))
      ).map((t) => [t.taskId, t.state]),
    );

  const SKIPPED = {
    latest_only: 'success',
    notify: 'skipped',
    after: 'skipped',
    always: 'success',
    independent: 'success',
  };
  const RAN = {
    latest_only: 'success',
    notify: 'success',
    after: 'success',
    always: 'success',
    independent: 'success',
  };

  it.each<[string, string, Record<string, string>]>([
    ['latest', 'scheduled__2026-01-01T00:00:00.000Z', SKIPPED],
    ['latest', 'scheduled__2026-01-02T00:00:00.000Z', SKIPPED],
    ['latest', 'scheduled__2026-01-03T00:00:00.000Z', RAN],
    ['latest_yaml', 'scheduled__2026-01-02T00:00:00.000Z', { gate: 'success', publish: 'skipped' }],
    ['latest_yaml', 'scheduled__2026-01-03T00:00:00.000Z', { gate: 'success', publish: 'success' }],
  ])('%s %s', async (dagId, runId, expected) => {
    expect(await states(dagId, runId)).toEqual(expected);
  });

  it('a manual run is never skipped, whatever its interval', async () => {
    // Its logical date is old: as a scheduled run it would not be the latest.
    const run = await h.ops.triggerRun('latest', {
      actor: 'test',
      runId: 'manual_run',
      logicalDate: new Date('2026-01-01T12:00:00Z'),
    });
    h.scheduler().start();
    await h.finishedRun(run.runId);
    expect(await states('latest', 'manual_run')).toEqual(RAN);
  });

  it('logs why it skipped', async () => {
    const [ti] = await h.resources.database.db
      .select()
      .from(schema.taskInstances)
      .where(
        and(
          eq(schema.taskInstances.runId, 'scheduled__2026-01-01T00:00:00.000Z'),
          eq(schema.taskInstances.taskId, 'latest_only'),
        ),
      );
    const logs = await h.resources.database.db
      .select()
      .from(schema.taskLogs)
      .where(eq(schema.taskLogs.taskInstanceId, ti!.id));
    expect(logs.map((l) => l.content).join('')).toMatch(
      /is outside \[2026-01-02T00:00:00.000Z, 2026-01-03T00:00:00.000Z\]: not the latest run/,
    );
  });
});
