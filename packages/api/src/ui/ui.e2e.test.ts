/**
 * The web UI in real headless Chromium against a real server: engine (PGlite), scheduler and
 * worker running, the API served on a free port. One browser and one page for the whole file; the
 * tests run in order, as one person would click through.
 */
import { createEngineHarness, type EngineHarness } from '@updraft/engine/testing';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../app.ts';
import { serveApp } from '../serve.ts';

const DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'etl', team: 'data-eng', description: '<i>not italic</i> & co', tags: ['demo'], schedule: '@daily', startDate: '2026-01-01', params: { rows: 5, api_token: 'tok-s3cret-42' } }, (d) => {
  const extract = d.shell('extract', { command: 'echo "rows={{ params.rows }} <b>not bold</b>"' });
  const load = d.fn('load', async (ctx) => ({ loaded: ctx.params.rows }));
  const report = d.shell('report', { command: 'echo done' });
  extract.then(load);
  extract.then(report);
});
`;
const MANUAL_DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'manual_only', team: 'analytics', schedule: null }, (d) => {
  d.shell('hello', { command: 'echo hello' });
});
`;
const MAPPED_DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'mapped', team: 'data-eng', schedule: null }, (d) => {
  const square = d.map('square', [2, 3, 4], (ctx) => { ctx.log('squaring ' + ctx.item); return ctx.item * ctx.item; });
  square.then(d.fn('total', async () => 29));
});
`;
const BROKEN_DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'broken', team: 'data-eng', schedule: 'every day' }, (d) => { d.shell('a', { command: 'true' }); });
`;

const POLL = { timeout: 30_000, interval: 100 };

describe('web UI (headless Chromium)', () => {
  let h: EngineHarness;
  let server: { port: number; close(): Promise<void> };
  let browser: Browser;
  let page: Page;
  let base: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const [harness, launched] = await Promise.all([
      createEngineHarness('pglite'),
      chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
          '--disable-quic',
        ],
      }),
    ]);
    h = harness;
    browser = launched;
    await h.writeDag('etl.ts', DAG);
    await h.writeDag('manual.ts', MANUAL_DAG);
    await h.writeDag('broken.ts', BROKEN_DAG);
    await h.writeDag('mapped.ts', MAPPED_DAG);
    await h.processor.sync();
    h.worker().start();
    h.scheduler().start();
    server = await serveApp(createApp(h.resources, { component: 'api' }), {
      port: 0,
      hostname: '127.0.0.1',
    });
    base = `http://127.0.0.1:${server.port}`;
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('dialog', (dialog) => void dialog.accept());
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await h?.close();
  });

  it('lists DAGs and import errors, with the environment badge', async () => {
    await page.goto(`${base}/`);
    await expect.poll(() => page.getByTestId('env-badge').textContent(), POLL).toBe('local');
    const rows = page.getByTestId('dag-table').locator('tbody tr');
    await expect.poll(() => rows.count(), POLL).toBe(3);
    const etl = page.getByTestId('dag-row-etl');
    expect(await etl.textContent()).toContain('data-eng');
    expect(await etl.textContent()).toContain('demo');
    // The description is shown as text, not markup.
    expect(await etl.textContent()).toContain('<i>not italic</i> & co');
    expect(await etl.locator('i').count()).toBe(0);
    expect(await page.getByTestId('dag-row-manual_only').textContent()).toContain('analytics');

    const importErrors = page.getByTestId('import-error');
    await expect.poll(() => importErrors.count(), POLL).toBe(1);
    const text = await importErrors.first().textContent();
    expect(text).toContain('broken.ts');
    expect(text).toMatch(/DAG "broken".*schedule.*"every day"/);
  });

  it('pauses and unpauses a DAG from the list', async () => {
    const toggle = page.getByTestId('pause-toggle-manual_only');
    expect(await toggle.getAttribute('aria-checked')).toBe('true');
    await toggle.click();
    await expect
      .poll(() => page.getByTestId('pause-toggle-manual_only').getAttribute('aria-checked'), POLL)
      .toBe('false');
    expect(await page.getByTestId('pause-toggle-manual_only').textContent()).toContain('paused');
    await page.getByTestId('pause-toggle-manual_only').click();
    await expect
      .poll(() => page.getByTestId('pause-toggle-manual_only').getAttribute('aria-checked'), POLL)
      .toBe('true');
  });

  it('opens a DAG with its task graph and rejects a bad conf', async () => {
    await page.getByTestId('dag-row-etl').getByTestId('dag-link').click();
    await expect.poll(() => page.getByTestId('dag-title').textContent(), POLL).toBe('etl');
    for (const task of ['extract', 'load', 'report']) {
      expect(await page.getByTestId(`graph-node-${task}`).count()).toBe(1);
    }
    // The params a conf overrides, with their defaults; a secret-looking one is masked.
    const params = page.getByTestId('trigger-params');
    await expect.poll(() => params.textContent(), POLL).toContain('rows5');
    expect(await params.textContent()).toContain('api_token"***"');
    expect(await page.content()).not.toContain('tok-s3cret-42');
    expect(await page.getByTestId('trigger-conf').getAttribute('placeholder')).toBe('{"rows":5}');

    // Not JSON at all: caught before sending.
    await page.getByTestId('trigger-conf').fill('{rows: 7');
    await page.getByTestId('trigger-button').click();
    await expect
      .poll(() => page.getByTestId('trigger-error').textContent(), POLL)
      .toContain('not valid JSON');

    // JSON, but not an object: the API's 400 message is shown.
    await page.getByTestId('trigger-conf').fill('[1, 2]');
    await page.getByTestId('trigger-button').click();
    await expect
      .poll(() => page.getByTestId('trigger-error').textContent(), POLL)
      .toMatch(/invalid body: conf: .*\(HTTP 400\)/);
    expect(await page.getByTestId('trigger-error').isVisible()).toBe(true);
  });

  it('triggers a run and watches its tasks succeed', async () => {
    await page.getByTestId('trigger-conf').fill('{"rows": 7}');
    await page.getByTestId('trigger-button').click();
    const link = page.getByTestId('triggered-run-link');
    await expect.poll(() => link.count(), POLL).toBe(1);
    expect(await page.getByTestId('trigger-error').isHidden()).toBe(true);
    const runId = (await link.textContent()) ?? '';
    expect(runId).not.toBe('');

    // The graph shows the triggered run; polling brings every task to success.
    for (const task of ['extract', 'load', 'report']) {
      await expect
        .poll(() => page.getByTestId(`graph-node-${task}`).getAttribute('data-state'), POLL)
        .toBe('success');
    }
    await expect
      .poll(() => page.getByTestId(`run-row-${runId}`).getByTestId('run-state').textContent(), POLL)
      .toBe('success');

    // The run page: task instances, a log by try number, and the event log.
    await link.click();
    await expect.poll(() => page.getByTestId('run-title').textContent(), POLL).toBe(`Run ${runId}`);
    await expect
      .poll(() => page.getByTestId('ti-row-extract').getByTestId('ti-state').textContent(), POLL)
      .toBe('success');
    expect(await page.getByTestId('ti-row-extract').getByTestId('ti-try').textContent()).toBe('1');
    await page.getByTestId('log-button-extract').click();
    const log = page.getByTestId('log-content');
    await expect.poll(() => log.textContent(), POLL).toContain('rows=7');
    // Log output is text: the <b> in it is not an element.
    expect(await log.textContent()).toContain('<b>not bold</b>');
    expect(await log.locator('b').count()).toBe(0);
    expect(await page.getByTestId('log-try-1').getAttribute('aria-pressed')).toBe('true');
    await expect
      .poll(() => page.getByTestId('event-table').locator('tbody tr').count(), POLL)
      .toBeGreaterThan(3);
    expect(pageErrors).toEqual([]);
  });

  it('clears tasks and marks them failed from the run page', async () => {
    const row = (task: string) => page.getByTestId(`ti-row-${task}`);
    await page.getByTestId('clear-report').click();
    await expect.poll(() => row('report').getByTestId('ti-try').textContent(), POLL).toBe('2');
    await expect
      .poll(() => row('report').getByTestId('ti-state').textContent(), POLL)
      .toBe('success');
    await page.getByTestId('log-button-report').click();
    await expect
      .poll(() => page.getByTestId('log-try-2').getAttribute('aria-pressed'), POLL)
      .toBe('true');
    await expect.poll(() => page.getByTestId('log-content').textContent(), POLL).toContain('done');

    await page.getByTestId('mark-failed-load').click();
    await expect.poll(() => row('load').getByTestId('ti-state').textContent(), POLL).toBe('failed');
    // "Clear failed tasks" runs it again.
    await page.getByTestId('clear-failed').click();
    await expect.poll(() => row('load').getByTestId('ti-try').textContent(), POLL).toBe('2');
    await expect
      .poll(() => row('load').getByTestId('ti-state').textContent(), POLL)
      .toBe('success');
    await expect.poll(() => page.getByTestId('run-state').textContent(), POLL).toBe('success');
    await page.getByTestId('mark-failed-report').click();
    await expect
      .poll(() => row('report').getByTestId('ti-state').textContent(), POLL)
      .toBe('failed');
    await page.screenshot({ path: '/tmp/updraft-ui.png', fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('shows a mapped task as one graph node and one row per instance, each with its log', async () => {
    const { runId } = await h.ops.triggerRun('mapped', { actor: 'test' });
    await h.finishedRun(runId);
    await page.goto(`${base}/#/dags/mapped/runs/${encodeURIComponent(runId)}`);
    const node = page.getByTestId('graph-node-square');
    await expect.poll(() => node.getAttribute('data-state'), POLL).toBe('success');
    expect(await node.locator('title').textContent()).toContain('3 mapped instances');
    for (const i of [0, 1, 2]) {
      await expect
        .poll(
          () => page.getByTestId(`ti-row-square[${i}]`).getByTestId('ti-state').textContent(),
          POLL,
        )
        .toBe('success');
    }
    // In task order, the instances by map index, though the expansion created them last.
    await expect.poll(() => page.getByTestId('ti-row-total').count(), POLL).toBe(1);
    const rowIds = await page
      .getByTestId('ti-table')
      .locator('tbody tr')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-testid')));
    expect(rowIds).toEqual([
      'ti-row-square[0]',
      'ti-row-square[1]',
      'ti-row-square[2]',
      'ti-row-total',
    ]);
    // The event log names the instance.
    await expect
      .poll(() => page.getByTestId('event-table').textContent(), POLL)
      .toContain('square[1]');
    await page.getByTestId('log-button-square[2]').click();
    await expect
      .poll(() => page.getByTestId('log-content').textContent(), POLL)
      .toContain('squaring 4');
    expect(await page.getByTestId('log-title').textContent()).toContain('square[2]');
    // Marking one instance changes that instance only.
    await page.getByTestId('mark-failed-square[1]').click();
    await expect
      .poll(() => page.getByTestId('ti-row-square[1]').getByTestId('ti-state').textContent(), POLL)
      .toBe('failed');
    expect(await page.getByTestId('ti-row-square[0]').getByTestId('ti-state').textContent()).toBe(
      'success',
    );
    await expect.poll(() => node.getAttribute('data-state'), POLL).toBe('failed');
    expect(pageErrors).toEqual([]);
  });

  it.each([
    ['a DAG', '#/dags/no_such_dag', /DAG "no_such_dag" does not exist/, 'trigger-button'],
    ['a run', '#/dags/etl/runs/no_such_run', /no run "no_such_run"/, 'clear-failed'],
  ])(
    'says %s does not exist, without the page that would wait for it',
    async (_what, hash, message, action) => {
      await page.goto(`${base}/${hash}`);
      await expect.poll(() => page.getByTestId('load-error').textContent(), POLL).toMatch(message);
      expect(await page.getByTestId('load-error').isVisible()).toBe(true);
      // No endless "Loading…", and no action on something that is not there.
      expect(await page.getByTestId(action).isVisible()).toBe(false);
      const visibleLoading = await page
        .getByText('Loading…')
        .evaluateAll(
          (nodes) =>
            nodes.filter((n) => (n as { offsetParent: unknown }).offsetParent !== null).length,
        );
      expect(visibleLoading).toBe(0);
      expect(pageErrors).toEqual([]);
    },
  );

  it("says on a DAG's page that its file no longer loads, and which version runs", async () => {
    await h.writeDag('manual.ts', `${MANUAL_DAG}\nexport const broken = ;\n`);
    await h.processor.sync();
    try {
      const res = await fetch(`${base}/api/v1/dags/manual_only`);
      const body = (await res.json()) as { has_import_errors: boolean; import_error: unknown };
      expect(body.has_import_errors).toBe(true);
      await page.goto(`${base}/#/dags/manual_only`);
      const note = page.getByTestId('dag-import-error');
      await expect
        .poll(() => note.textContent(), POLL)
        .toMatch(/The DAG file does not load: runs use version v1, the last that did.*manual\.ts/s);
    } finally {
      await h.writeDag('manual.ts', MANUAL_DAG);
      await h.processor.sync();
    }
    await page.reload();
    await expect.poll(() => page.getByTestId('dag-title').textContent(), POLL).toBe('manual_only');
    expect(await page.getByTestId('dag-import-error').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
