/**
 * HTTP jobs against a local job service: start with an Idempotency-Key, poll in reschedule mode
 * (no worker slot between polls), the result from a configured field, a failed job's error as the
 * task's failure, secrets from the environment masked, and many waiting jobs on one worker slot.
 */
import { createServer, type Server } from 'node:http';
import { rowsOf, schema } from '@updraft/db';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, waitFor } from '../../testing.ts';
import { idempotencyKey } from './http-job.ts';

interface Job {
  id: number;
  key: string;
  polls: number;
  body: { outcome: 'done' | 'fail'; polls: number; hold?: boolean; day?: string };
}

let h: EngineHarness;
let server: Server;
let base: string;
const jobs: Job[] = [];
let released = false;
/** Idempotency-Key of every start request received. */
const starts: string[] = [];
const token = 'job-token-7f1e2d-secret';

beforeAll(async () => {
  h = await createEngineHarness('postgres');
  server = createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    res.setHeader('content-type', 'application/json');
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.statusCode = 500;
      // A careless service echoing the credential: it must not reach logs or messages.
      return res.end(JSON.stringify({ error: `bad credential ${req.headers.authorization}` }));
    }
    if (req.method === 'POST' && req.url === '/jobs') {
      const key = String(req.headers['idempotency-key']);
      starts.push(key);
      let job = jobs.find((j) => j.key === key);
      if (!job) {
        job = { id: jobs.length + 1, key, polls: 0, body: JSON.parse(text) };
        jobs.push(job);
        // The first answer to a "lose_worker" job never arrives while its worker is alive.
        if (job.body.day === 'lose_worker') await new Promise((r) => setTimeout(r, 60_000).unref());
      }
      res.statusCode = 202;
      return res.end(JSON.stringify({ name: `jobs/${job.id}`, id: job.id }));
    }
    // A start that answers text, and a status behind a gateway's error page.
    if (req.url === '/text-start') return res.end('accepted');
    if (req.url === '/gateway') return res.end('<html>gateway</html>');
    const job = jobs.find((j) => req.url === `/jobs/${j.id}`);
    if (!job) {
      res.statusCode = 404;
      return res.end('{}');
    }
    job.polls++;
    const finished = job.polls >= job.body.polls && (!job.body.hold || released);
    if (!finished) return res.end(JSON.stringify({ status: 'RUNNING' }));
    if (job.body.outcome === 'fail') {
      return res.end(JSON.stringify({ status: 'FAILED', error: { message: 'quota exceeded' } }));
    }
    res.end(JSON.stringify({ status: 'SUCCEEDED', output: { rows: job.id, day: job.body.day } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  await h.scheduler().start();
});

afterAll(async () => {
  await h?.close();
  server?.close();
});

/** Each test has its own worker (its own environment), stopped at the end. */
async function withWorker(
  opts: Parameters<EngineHarness['worker']>[0],
  fn: () => Promise<void>,
): Promise<void> {
  const w = h.worker(opts);
  await w.start();
  try {
    await fn();
  } finally {
    await w.stop();
  }
}

const tis = async (runId: string) =>
  h.resources.database.db
    .select()
    .from(schema.taskInstances)
    .where(eq(schema.taskInstances.runId, runId));

const xcom = async (runId: string, taskId: string) => {
  const [row] = rowsOf<{ value: string }>(
    await h.resources.database.db.execute(sql`select x.value::text as value from xcoms x
      join dag_runs r on r.id = x.dag_run_id
      where r.run_id = ${runId} and x.task_id = ${taskId} and x.key = 'return_value'`),
  );
  return row ? JSON.parse(row.value) : undefined;
};

function jobTask(id: string, body: Job['body'], extra = '') {
  return `
  d.httpJob('${id}', {
    start: {
      url: '${base}/jobs',
      headers: { Authorization: 'Bearer \${JOB_TOKEN}' },
      body: ${JSON.stringify(body)},
    },
    status: {
      url: '${base}/{{ job.name }}',
      done: ['SUCCEEDED'], failed: ['FAILED'], errorField: 'error.message', resultField: 'output',
    },
    pollInterval: 20,
    ${extra}
  });`;
}

describe('HTTP jobs', () => {
  it('starts once with an Idempotency-Key, polls without a slot and stores the result', async () => {
    await h.writeDag(
      'job_ok.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'job_ok', team: 'data-eng' }, (d) => {
  ${jobTask('export', { outcome: 'done', polls: 3, day: '{{ ds }}' })}
});
`,
    );
    await h.processor.sync();
    await withWorker({ concurrency: 1, env: { JOB_TOKEN: token } }, async () => {
      const logicalDate = new Date('2026-06-01T00:00:00Z');
      const { runId } = await h.ops.triggerRun('job_ok', { actor: 'test', logicalDate });
      expect((await h.finishedRun(runId)).state).toBe('success');
      const [ti] = await tis(runId);
      expect(ti!.tryNumber).toBe(1);
      expect(ti!.rescheduleCount).toBe(2);
      expect(await xcom(runId, 'export')).toEqual({ rows: expect.any(Number), day: '2026-06-01' });
      const job = jobs.find((j) => j.body.day === '2026-06-01')!;
      expect(job.key).toBe(
        idempotencyKey({
          run: { dagId: 'job_ok', runId },
          taskId: 'export',
          mapIndex: -1,
          tryNumber: 1,
        }),
      );
      expect(job.key).toMatch(/^updraft-[0-9a-f]{32}$/);
    });
  });

  it('fails with the job error message; secrets never reach logs or messages', async () => {
    await h.writeDag(
      'job_fail.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'job_fail', team: 'data-eng' }, (d) => {
  ${jobTask('load', { outcome: 'fail', polls: 2 })}
  d.httpJob('bad_token', {
    start: { url: '${base}/jobs', headers: { Authorization: 'Bearer \${WRONG_TOKEN}' }, body: {} },
    status: { url: '${base}/{{ job.name }}' },
  });
});
`,
    );
    await h.processor.sync();
    await withWorker(
      { concurrency: 1, env: { JOB_TOKEN: token, WRONG_TOKEN: 'wrong-token-0000' } },
      async () => {
        const { runId } = await h.ops.triggerRun('job_fail', { actor: 'test' });
        expect((await h.finishedRun(runId)).state).toBe('failed');
        const byId = new Map((await tis(runId)).map((t) => [t.taskId, t]));
        expect(byId.get('load')!.state).toBe('failed');
        expect(byId.get('load')!.stateReason).toBe('the job failed: quota exceeded');
        const bad = byId.get('bad_token')!;
        expect(bad.state).toBe('failed');
        expect(bad.stateReason).toMatch(
          /^starting the job: POST .*\/jobs answered 500: .*bad credential/,
        );
        const logs = rowsOf<{ content: string }>(
          await h.resources.database.db.execute(sql`select l.content from task_logs l
          join task_instances t on t.id = l.task_instance_id where t.run_id = ${runId}`),
        );
        const everything = JSON.stringify([logs, bad.stateReason]);
        expect(everything).not.toContain('wrong-token-0000');
        expect(everything).not.toContain(token);
      },
    );
  });

  it('fails at once on a reply that is not JSON where fields are read from it', async () => {
    await h.writeDag(
      'job_text.ts',
      `
import { dag } from '@updraft/sdk';
const auth = { Authorization: 'Bearer \${JOB_TOKEN}' };
export default dag({ id: 'job_text', team: 'data-eng' }, (d) => {
  d.httpJob('text_start', {
    start: { url: '${base}/text-start', headers: auth, body: {} },
    status: { url: '${base}/{{ job.name }}' },
    timeout: '1h',
  });
  d.httpJob('html_status', {
    start: { url: '${base}/jobs', headers: auth, body: { outcome: 'done', polls: 1 } },
    status: { url: '${base}/gateway' },
    pollInterval: 20,
    timeout: '1h',
  });
});
`,
    );
    await h.processor.sync();
    await withWorker({ concurrency: 2, env: { JOB_TOKEN: token } }, async () => {
      const { runId } = await h.ops.triggerRun('job_text', { actor: 'test' });
      expect((await h.finishedRun(runId)).state).toBe('failed');
      const byId = new Map((await tis(runId)).map((t) => [t.taskId, t]));
      expect(byId.get('text_start')!.stateReason).toMatch(
        /^starting the job: POST .*\/text-start answered 200 with a body that is not JSON, but the status request reads fields of it .*: accepted$/,
      );
      expect(byId.get('html_status')!.stateReason).toMatch(
        /^polling the job: GET .*\/gateway answered 200 with a body that is not JSON: <html>gateway<\/html>$/,
      );
    });
  });

  it('many waiting jobs progress on one worker slot', async () => {
    const n = 12;
    await h.writeDag(
      'job_many.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'job_many', team: 'data-eng', maxActiveTasks: ${n} }, (d) => {
  for (let i = 0; i < ${n}; i++) {
    d.httpJob('job_' + i, {
      start: {
        url: '${base}/jobs',
        headers: { Authorization: 'Bearer \${JOB_TOKEN}' },
        body: { outcome: 'done', polls: 1, hold: true, day: 'many-' + i },
      },
      status: { url: '${base}/{{ job.name }}', done: ['SUCCEEDED'], resultField: 'output' },
      pollInterval: 20,
    });
  }
});
`,
    );
    await h.processor.sync();
    await withWorker({ concurrency: 1, env: { JOB_TOKEN: token } }, async () => {
      const { runId } = await h.ops.triggerRun('job_many', { actor: 'test' });
      // Every job is started and waiting before any can finish: none holds the only slot.
      await waitFor(
        () => Promise.resolve(jobs.filter((j) => j.body.day?.startsWith('many-')).length === n),
        { what: `${n} started jobs` },
      );
      const waiting = await tis(runId);
      expect(waiting.filter((t) => t.state === 'running').length).toBeLessThanOrEqual(1);
      released = true;
      expect((await h.finishedRun(runId)).state).toBe('success');
      const done = await tis(runId);
      expect(done.every((t) => t.state === 'success' && t.tryNumber === 1)).toBe(true);
      expect(
        new Set(jobs.filter((j) => j.body.day?.startsWith('many-')).map((j) => j.key)).size,
      ).toBe(n);
    });
  });
});

describe('a lost worker', () => {
  it('its try is adopted and the start is repeated with the same key: one job', async () => {
    await h.writeDag(
      'job_lost.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'job_lost', team: 'data-eng' }, (d) => {
  ${jobTask('export', { outcome: 'done', polls: 1, day: 'lose_worker' })}
});
`,
    );
    await h.processor.sync();
    // The "lost" worker sends the start, then freezes: it never heartbeats again.
    const lost = h.worker({
      id: 'lost',
      concurrency: 1,
      heartbeatIntervalMs: 3_600_000,
      shutdownGraceMs: 0,
      env: { JOB_TOKEN: token },
    });
    await lost.start();
    const reaper = h.scheduler({ zombieThresholdMs: 2_000 });
    await reaper.start();
    try {
      const { runId } = await h.ops.triggerRun('job_lost', { actor: 'test' });
      await waitFor(() => Promise.resolve(jobs.some((j) => j.body.day === 'lose_worker')), {
        what: 'the lost worker to start the job',
      });
      await withWorker({ id: 'adopter', env: { JOB_TOKEN: token } }, async () => {
        expect((await h.finishedRun(runId)).state).toBe('success');
      });
      const [ti] = await tis(runId);
      expect([ti!.tryNumber, ti!.workerId]).toEqual([1, 'adopter']);
      const job = jobs.find((j) => j.body.day === 'lose_worker')!;
      expect(starts.filter((k) => k === job.key).length).toBe(2);
      expect(jobs.filter((j) => j.body.day === 'lose_worker').length).toBe(1);
    } finally {
      await reaper.stop();
      await lost.stop();
    }
  });
});

describe('idempotencyKey', () => {
  const ti = { run: { dagId: 'd', runId: 'r' }, taskId: 't', mapIndex: -1, tryNumber: 1 };
  it.each([
    ['the same try', { ...ti }, true],
    ['another try', { ...ti, tryNumber: 2 }, false],
    ['another map index', { ...ti, mapIndex: 0 }, false],
    ['another run', { ...ti, run: { dagId: 'd', runId: 'r2' } }, false],
  ])('%s → same key: %s', (_name, other, same) => {
    expect(idempotencyKey(other) === idempotencyKey(ti)).toBe(same);
  });
});
