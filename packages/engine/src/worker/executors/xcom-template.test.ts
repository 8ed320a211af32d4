/**
 * `{{ xcom.<task>.<field> }}` in shell commands and env and in HTTP url, headers and body, with a
 * clear failure naming the task and field when the upstream result is missing.
 */
import { createServer, type Server } from 'node:http';
import { rowsOf, schema } from '@updraft/db';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness } from '../../testing.ts';

let h: EngineHarness;
let server: Server;
let base: string;

beforeAll(async () => {
  h = await createEngineHarness('postgres');
  server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    res.setHeader('content-type', 'application/json');
    // A refusal that echoes the credentials it got: the task's error must not show them.
    if (req.url?.startsWith('/forbidden')) res.statusCode = 403;
    res.end(
      JSON.stringify({
        url: req.url,
        n: req.headers['x-n'],
        authorized: req.headers.authorization === 'Bearer s3cret-token',
        echo:
          req.url?.startsWith('/forbidden') || req.url?.startsWith('/echo')
            ? req.headers.authorization
            : undefined,
        body: JSON.parse(body || 'null'),
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  await h.scheduler().start();
  await h.worker({ env: { API_TOKEN: 's3cret-token' } }).start();
});

afterAll(async () => {
  await h?.close();
  server?.close();
});

describe('XCom in shell and HTTP templates', () => {
  it('renders upstream results and fails clearly when one is missing', async () => {
    await h.writeDag(
      'xcom_templates.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'xcom_templates', team: 'data-eng' }, (d) => {
  const produce = d.fn('produce', () => ({ table: 'sales', n: 3, nested: { day: 'mon' } }));
  const quiet = d.shell('quiet', { command: 'true' });
  produce.then(d.shell('cmd', {
    command: 'echo {{ xcom.produce.table }}-{{ xcom.produce.nested.day }}-$ROWS',
    env: { ROWS: '{{ xcom.produce.n }}' },
  }));
  produce.then(d.http('call', {
    method: 'POST',
    url: '${base}/load/{{ xcom.produce.table }}',
    headers: { 'X-N': '{{ xcom.produce.n }}' },
    body: { table: '{{ xcom.produce.table }}', all: '{{ xcom.produce }}' },
  }));
  produce.then(d.shell('missing_field', { command: 'echo {{ xcom.produce.rows }}' }));
  quiet.then(d.shell('missing_result', { command: 'echo {{ xcom.quiet }}' }));
});
`,
    );
    await h.processor.sync();
    const { runId } = await h.ops.triggerRun('xcom_templates', { actor: 'test' });
    expect((await h.finishedRun(runId)).state).toBe('failed');
    const tis = await h.resources.database.db
      .select()
      .from(schema.taskInstances)
      .where(eq(schema.taskInstances.runId, runId));
    const byId = new Map(tis.map((t) => [t.taskId, t]));
    const results = new Map(
      rowsOf<{ task_id: string; value: string }>(
        await h.resources.database.db.execute(sql`select x.task_id, x.value::text as value
          from xcoms x join dag_runs r on r.id = x.dag_run_id where r.run_id = ${runId}`),
      ).map((r) => [r.task_id, JSON.parse(r.value)]),
    );
    expect(results.get('cmd')).toBe('sales-mon-3');
    const call = results.get('call');
    expect([call.url, call.n, call.body.table]).toEqual(['/load/sales', '3', 'sales']);
    // A whole result renders as JSON.
    expect(JSON.parse(call.body.all)).toEqual({ table: 'sales', n: 3, nested: { day: 'mon' } });
    expect([byId.get('missing_field')!.state, byId.get('missing_field')!.stateReason]).toEqual([
      'failed',
      'template {{ xcom.produce.rows }}: the result of task "produce" has no field "rows"',
    ]);
    expect([byId.get('missing_result')!.state, byId.get('missing_result')!.stateReason]).toEqual([
      'failed',
      'template {{ xcom.quiet }}: task "quiet" has no result (XCom "return_value") in this run',
    ]);
  });

  it('takes header secrets from the worker environment in HTTP tasks and never shows them', async () => {
    await h.writeDag(
      'http_secrets.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'http_secrets', team: 'data-eng' }, (d) => {
  d.http('ok', { url: '${base}/ok', headers: { Authorization: 'Bearer \${API_TOKEN}' } });
  d.http('refused', { url: '${base}/forbidden', headers: { Authorization: 'Bearer \${API_TOKEN}' } });
  d.http('not_allowed', { url: '${base}/ok', headers: { 'X-Db': '\${DATABASE_URL}' } });
});
`,
    );
    await h.processor.sync();
    const { runId } = await h.ops.triggerRun('http_secrets', { actor: 'test' });
    await h.finishedRun(runId);
    const { db } = h.resources.database;
    const tis = await db
      .select()
      .from(schema.taskInstances)
      .where(eq(schema.taskInstances.runId, runId));
    const byId = new Map(tis.map((t) => [t.taskId, t]));
    expect(byId.get('ok')!.state).toBe('success');
    const [ok] = rowsOf<{ value: string }>(
      await db.execute(
        sql`select value::text as value from xcoms where task_instance_id = ${byId.get('ok')!.id}`,
      ),
    );
    expect(JSON.parse(ok!.value).authorized).toBe(true);
    expect(byId.get('refused')!.state).toBe('failed');
    expect(byId.get('refused')!.stateReason).toMatch(/answered 403/);
    expect(byId.get('not_allowed')!.stateReason).toMatch(
      /DATABASE_URL belongs to the worker's own configuration/,
    );
    const logs = rowsOf<{ content: string }>(
      await db.execute(sql`select l.content from task_logs l join task_instances t on t.id = l.task_instance_id
        where t.run_id = ${runId}`),
    );
    const everything = [...tis.map((t) => t.stateReason ?? ''), ...logs.map((l) => l.content)].join(
      '\n',
    );
    expect(everything).not.toContain('s3cret-token');
    expect(everything).toContain('***');
  });

  it('keeps a secret a service echoes out of the result, and any task log that shows it', async () => {
    await h.writeDag(
      'echo_secret.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'echo_secret', team: 'data-eng' }, (d) => {
  const who = d.http('who', { url: '${base}/echo', headers: { Authorization: 'Bearer \${API_TOKEN}' } });
  who.then(d.shell('show', { command: 'echo "got {{ xcom.who.echo }}"' }));
  // A function that has the value some other way (its own config, a file) and logs it.
  d.fn('leaky', (ctx) => { ctx.log('token: s3cret-token and more'); return 1; });
});
`,
    );
    await h.processor.sync();
    const { runId } = await h.ops.triggerRun('echo_secret', { actor: 'test' });
    expect((await h.finishedRun(runId)).state).toBe('success');
    const { db } = h.resources.database;
    const stored = rowsOf<{ text: string }>(
      await db.execute(sql`select coalesce((select string_agg(x.value::text, ' ') from xcoms x
          join dag_runs r on r.id = x.dag_run_id where r.run_id = ${runId}), '') ||
        coalesce((select string_agg(l.content, ' ') from task_logs l
          join task_instances t on t.id = l.task_instance_id where t.run_id = ${runId}), '') as text`),
    )[0]!.text;
    // The whole header value is the request's secret; the token alone is the worker's.
    expect(stored).toContain('"echo": "***"');
    expect(stored).toContain('got ***');
    expect(stored).toContain('token: *** and more');
    expect(stored).not.toContain('s3cret-token');
  });

  it("masks in task logs the conf's and params' values that the API masks", async () => {
    await h.writeDag(
      'conf_secrets.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'conf_secrets', team: 'data-eng', params: { api_key: 'ParamKey-123', region: 'eu-west-1' } }, (d) => {
  d.shell('show', { command: 'echo "key={{ params.api_key }} pin={{ conf.pin }} db={{ conf.db_url }} in={{ params.region }}"' });
});
`,
    );
    await h.processor.sync();
    const { runId } = await h.ops.triggerRun('conf_secrets', {
      actor: 'test',
      conf: { pin: 40962, db_url: 'postgres://svc:Conf-Pw-77@db.internal/sales' },
    });
    expect((await h.finishedRun(runId)).state).toBe('success');
    const [log] = rowsOf<{ text: string }>(
      await h.resources.database.db.execute(sql`select string_agg(l.content, '') as text
        from task_logs l join task_instances t on t.id = l.task_instance_id
        where t.run_id = ${runId}`),
    );
    expect(log!.text).toContain(
      'key=*** pin=*** db=postgres://svc:***@db.internal/sales in=eu-west-1',
    );
    for (const secret of ['ParamKey-123', '40962', 'Conf-Pw-77'])
      expect(log!.text).not.toContain(secret);
  });

  it('says why a request could not be sent (fetch only says "fetch failed")', async () => {
    // A port nothing listens on.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    await h.writeDag(
      'refused.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'refused', team: 'data-eng' }, (d) => {
  d.http('call', { url: 'http://127.0.0.1:${port}/start', retries: 0 });
});
`,
    );
    await h.processor.sync();
    const { runId } = await h.ops.triggerRun('refused', { actor: 'test' });
    expect((await h.finishedRun(runId)).state).toBe('failed');
    const [ti] = await h.resources.database.db
      .select()
      .from(schema.taskInstances)
      .where(eq(schema.taskInstances.runId, runId));
    expect(ti!.stateReason).toMatch(/\/start failed: fetch failed \(.*ECONNREFUSED/);
  });
});
