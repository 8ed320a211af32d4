/**
 * Updraft web UI: a hash-routed single page in plain JavaScript on top of the REST API.
 *
 *   #/                         DAG list and import errors
 *   #/dags/:dagId              task graph, runs, trigger, pause
 *   #/dags/:dagId/runs/:runId  task instances, logs, clear/mark, event log
 *
 * Every piece of API data reaches the page as a text node or an attribute value (see `el`), never
 * as HTML, so DAG ids, confs and logs cannot inject markup. Views poll every 2 s while something
 * is unfinished.
 */

const POLL_MS = 2000;
const SVG_NS = 'http://www.w3.org/2000/svg';
const SVG_TAGS = new Set(['svg', 'g', 'rect', 'path', 'text', 'title', 'a', 'defs', 'marker']);
const UNFINISHED_RUN_STATES = new Set(['queued', 'running']);
const TERMINAL_TASK_STATES = new Set([
  'success',
  'failed',
  'upstream_failed',
  'skipped',
  'removed',
]);

// ---------------------------------------------------------------------------------------------
// DOM helpers

/**
 * Creates an element. Props become attributes (`testid` → data-testid, `on` → listeners); children
 * are nodes or strings, and strings always become text nodes.
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...any} children
 * @returns {any}
 */
function el(tag, props = {}, ...children) {
  const svg = props.svg === true;
  const node =
    svg || (SVG_TAGS.has(tag) && tag !== 'a')
      ? document.createElementNS(SVG_NS, tag)
      : document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'svg' || value === null || value === undefined || value === false) continue;
    if (key === 'on') {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else if (key === 'testid') {
      node.setAttribute('data-testid', String(value));
    } else {
      node.setAttribute(key, value === true ? '' : String(value));
    }
  }
  add(node, children);
  return node;
}

/** @param {Node} node @param {any[]} children */
function add(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/**
 * Replaces a container's children unless the data they show is unchanged, and keeps keyboard
 * focus on the "same" control (by data-testid) across the swap, so polling does not steal focus.
 * @param {Element} container
 * @param {unknown} data
 * @param {() => any} build
 */
const shown = new WeakMap();
function render(container, data, build) {
  const key = JSON.stringify(data);
  if (shown.get(container) === key) return;
  shown.set(container, key);
  const active = document.activeElement;
  const focusId =
    active && container.contains(active) ? active.getAttribute('data-testid') : undefined;
  container.replaceChildren();
  add(container, [build()]);
  if (focusId) {
    const again = [...container.querySelectorAll('[data-testid]')].find(
      (n) => n.getAttribute('data-testid') === focusId,
    );
    if (again instanceof HTMLElement || again instanceof SVGElement) again.focus();
  }
}

const enc = encodeURIComponent;
const hrefDag = (/** @type {string} */ dagId) => `#/dags/${enc(dagId)}`;
const hrefRun = (/** @type {string} */ dagId, /** @type {string} */ runId) =>
  `#/dags/${enc(dagId)}/runs/${enc(runId)}`;

/** A state as text with its colour: never colour alone. */
function statePill(/** @type {string | null} */ state, testid = undefined) {
  const s = state ?? 'none';
  return el('span', { class: `pill state-${cssToken(s)}`, testid, 'data-state': s }, label(s));
}

const label = (/** @type {string} */ s) => s.replaceAll('_', ' ');
const cssToken = (/** @type {string} */ s) => s.toLowerCase().replace(/[^a-z0-9_-]/g, '');

function time(/** @type {string | null} */ iso) {
  if (!iso) return el('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  return el(
    'time',
    { datetime: iso, title: d.toString() },
    `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`,
  );
}

function duration(/** @type {number | null | undefined} */ ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

function runDuration(/** @type {any} */ run) {
  if (!run.start_date) return '—';
  const end = run.end_date ? Date.parse(run.end_date) : Date.now();
  return duration(end - Date.parse(run.start_date));
}

// ---------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  /** @param {number} status @param {string} message @param {string} [code] */
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * @param {string} path
 * @param {{ method?: string, body?: unknown }} [init]
 * @returns {Promise<any>}
 */
async function api(path, init = {}) {
  /** @type {RequestInit} */
  const request = { method: init.method ?? 'GET', headers: { accept: 'application/json' } };
  if (init.body !== undefined) {
    request.headers = { accept: 'application/json', 'content-type': 'application/json' };
    request.body = JSON.stringify(init.body);
  }
  const res = await fetch(path, request);
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: keep the status line below
  }
  if (!res.ok) {
    const message = body && typeof body.message === 'string' ? body.message : res.statusText;
    throw new ApiError(res.status, `${message} (HTTP ${res.status})`, body?.error);
  }
  return body;
}

const dagPath = (/** @type {string} */ dagId) => `/api/v1/dags/${enc(dagId)}`;
const runPath = (/** @type {string} */ dagId, /** @type {string} */ runId) =>
  `${dagPath(dagId)}/dagRuns/${enc(runId)}`;

// ---------------------------------------------------------------------------------------------
// Polling

/**
 * Runs `refresh` now and again every POLL_MS for as long as it returns true. Calls never overlap:
 * a request for a refresh while one is in flight runs once more after it.
 * @param {() => Promise<boolean>} refresh
 * @param {(error: unknown) => void} onError
 */
function poller(refresh, onError) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let stopped = false;
  let running = false;
  let again = false;
  async function tick() {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = true;
    let keepPolling = true;
    try {
      keepPolling = await refresh();
      onError(null);
    } catch (error) {
      onError(error);
      // What the page shows does not exist (a DAG or run id from an old link): nothing to poll.
      if (error instanceof ApiError && error.status === 404) keepPolling = false;
    } finally {
      running = false;
    }
    if (stopped) return;
    if (again) {
      again = false;
      void tick();
    } else if (keepPolling) {
      timer = setTimeout(tick, POLL_MS);
    }
  }
  return {
    now: tick,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * A page's load errors: shown in `errors`; a 404 (the DAG or run does not exist) also hides the
 * page's content, which could only wait for data (and offer actions) that will never come.
 * @param {{ show(error: unknown): void }} errors @param {HTMLElement[]} content
 */
function loadErrors(errors, content) {
  /** @type {HTMLElement[]} */
  let hidden = [];
  return (/** @type {unknown} */ error) => {
    errors.show(error);
    if (error instanceof ApiError && error.status === 404) {
      hidden = content.filter((node) => !node.hidden);
      for (const node of hidden) node.hidden = true;
    } else if (!error) {
      for (const node of hidden) node.hidden = false;
      hidden = [];
    }
  };
}

function errorBox(testid = 'error') {
  const box = el('p', { class: 'error', role: 'alert', testid, hidden: true });
  return {
    box,
    /** @param {unknown} error */
    show(error) {
      if (!error) {
        box.hidden = true;
        box.textContent = '';
        return;
      }
      box.hidden = false;
      box.textContent = error instanceof Error ? error.message : String(error);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

function pauseSwitch(/** @type {any} */ dag, /** @type {() => void} */ changed, onError) {
  const active = !dag.is_paused;
  return el(
    'button',
    {
      type: 'button',
      class: `switch ${active ? 'on' : 'off'}`,
      role: 'switch',
      'aria-checked': String(active),
      'aria-label': `${dag.dag_id} active (unpaused)`,
      title: active ? 'Active: click to pause' : 'Paused: click to unpause',
      testid: `pause-toggle-${dag.dag_id}`,
      on: {
        click: async (/** @type {Event} */ e) => {
          const button = /** @type {HTMLButtonElement} */ (e.currentTarget);
          button.disabled = true;
          try {
            await api(dagPath(dag.dag_id), { method: 'PATCH', body: { is_paused: active } });
            changed();
          } catch (error) {
            onError(error);
            button.disabled = false;
          }
        },
      },
    },
    el('span', { class: 'knob', 'aria-hidden': 'true' }),
    el('span', { class: 'switch-text' }, active ? 'active' : 'paused'),
  );
}

/** Layer index of each task: 0 for roots, else one more than its deepest upstream. */
function depths(/** @type {any[]} */ tasks) {
  const byId = new Map(tasks.map((t) => [t.task_id, t]));
  /** @type {Map<string, number>} */
  const depth = new Map();
  /** @param {string} id @param {Set<string>} seen @returns {number} */
  const visit = (id, seen) => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    if (seen.has(id)) return 0; // cycles are rejected by the parser; be safe anyway
    seen.add(id);
    const ups = byId.get(id)?.upstream_task_ids ?? [];
    const d =
      ups.length === 0 ? 0 : 1 + Math.max(...ups.map((/** @type {string} */ u) => visit(u, seen)));
    depth.set(id, d);
    return d;
  };
  for (const t of tasks) visit(t.task_id, new Set());
  return depth;
}

/** A task instance's name: its task id, with [map index] for an instance of a mapped task. */
function instanceName(/** @type {any} */ t) {
  return t.map_index >= 0 ? `${t.task_id}[${t.map_index}]` : t.task_id;
}

/**
 * One entry per task for the graph: the instance itself, or for a mapped task a summary of its
 * instances (unfinished while any is; failed if any failed; skipped if all skipped).
 * @param {any[]} tis
 * @returns {Map<string, any>}
 */
function instancesByTask(tis) {
  /** @type {Map<string, any[]>} */
  const groups = new Map();
  for (const t of tis) groups.set(t.task_id, [...(groups.get(t.task_id) ?? []), t]);
  const out = new Map();
  for (const [taskId, list] of groups) {
    if (list.length === 1 && list[0].map_index < 0) {
      out.set(taskId, list[0]);
      continue;
    }
    const states = list.map((t) => t.state ?? 'none');
    const unfinished = states.filter((st) => !TERMINAL_TASK_STATES.has(st));
    const state =
      unfinished.length > 0
        ? (unfinished.find((st) => st === 'running') ?? unfinished[0])
        : states.includes('failed')
          ? 'failed'
          : states.includes('upstream_failed')
            ? 'upstream_failed'
            : states.every((st) => st === 'skipped')
              ? 'skipped'
              : 'success';
    out.set(taskId, { ...list[0], state, map_index: -1, mapped: list.length });
  }
  return out;
}

/**
 * The task graph as SVG, layered left to right by depth. Nodes carry the state of the selected
 * run (as text and colour) and link to its run page.
 * @param {string} dagId
 * @param {any[]} tasks
 * @param {Map<string, any>} instances task_id → task instance of the selected run
 * @param {string | null} runId
 */
function taskGraph(dagId, tasks, instances, runId) {
  if (tasks.length === 0) return el('p', { class: 'muted' }, 'This DAG has no tasks.');
  const W = 176;
  const H = 46;
  const GX = 56;
  const GY = 14;
  const PAD = 8;
  const depth = depths(tasks);
  /** @type {string[][]} */
  const layers = [];
  for (const t of tasks) {
    const d = depth.get(t.task_id) ?? 0;
    if (!layers[d]) layers[d] = [];
    layers[d].push(t.task_id);
  }
  /** @type {Map<string, {x: number, y: number}>} */
  const pos = new Map();
  const tallest = Math.max(...layers.map((l) => (l ? l.length : 0)));
  layers.forEach((layer, d) => {
    const offset = ((tallest - layer.length) * (H + GY)) / 2;
    layer.forEach((id, i) => {
      pos.set(id, { x: PAD + d * (W + GX), y: PAD + offset + i * (H + GY) });
    });
  });
  const width = PAD * 2 + layers.length * W + (layers.length - 1) * GX;
  const height = PAD * 2 + tallest * H + (tallest - 1) * GY;
  const edges = [];
  for (const t of tasks) {
    const to = pos.get(t.task_id);
    for (const up of t.upstream_task_ids) {
      const from = pos.get(up);
      if (!from || !to) continue;
      const x1 = from.x + W;
      const y1 = from.y + H / 2;
      const x2 = to.x - 4;
      const y2 = to.y + H / 2;
      const mx = (x1 + x2) / 2;
      edges.push(
        el('path', {
          class: 'edge',
          d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`,
          'marker-end': 'url(#arrow)',
        }),
      );
    }
  }
  const nodes = tasks.map((t) => {
    const p = pos.get(t.task_id) ?? { x: 0, y: 0 };
    const ti = instances.get(t.task_id);
    const state = runId ? (ti?.state ?? 'none') : null;
    const shortId = t.task_id.length > 22 ? `${t.task_id.slice(0, 21)}…` : t.task_id;
    const body = el(
      'g',
      {
        class: `node ${state ? `state-${cssToken(state)}` : 'no-run'}`,
        transform: `translate(${p.x},${p.y})`,
      },
      el(
        'title',
        {},
        `${t.task_id} (${t.type})${ti?.mapped ? `, ${ti.mapped} mapped instances` : ''}${state ? `: ${label(state)}` : ''}`,
      ),
      el('rect', { width: W, height: H, rx: 6 }),
      el('text', { x: 10, y: 19, class: 'node-id' }, shortId),
      el('text', { x: 10, y: 36, class: 'node-sub' }, state ? label(state) : t.type),
    );
    const attrs = { testid: `graph-node-${t.task_id}`, 'data-state': state ?? '' };
    return runId
      ? el('a', { svg: true, href: hrefRun(dagId, runId), ...attrs }, body)
      : el('g', attrs, body);
  });
  return el(
    'div',
    { class: 'graph-scroll' },
    el(
      'svg',
      {
        class: 'graph',
        width,
        height,
        viewBox: `0 0 ${width} ${height}`,
        role: 'img',
        'aria-label': `Task graph of ${dagId}${runId ? ` for run ${runId}` : ''}`,
        testid: 'task-graph',
      },
      el(
        'defs',
        {},
        el(
          'marker',
          {
            id: 'arrow',
            viewBox: '0 0 10 10',
            refX: 9,
            refY: 5,
            markerWidth: 7,
            markerHeight: 7,
            orient: 'auto-start-reverse',
          },
          el('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }),
        ),
      ),
      edges,
      nodes,
    ),
  );
}

function breadcrumbs(/** @type {[string, string | null][]} */ items) {
  return el(
    'nav',
    { 'aria-label': 'Breadcrumb', class: 'crumbs' },
    el(
      'ol',
      {},
      items.map(([text, href]) =>
        el('li', {}, href ? el('a', { href }, text) : el('span', { 'aria-current': 'page' }, text)),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Views. Each builds its skeleton into `main` once and returns a dispose function.

function dagListView(/** @type {HTMLElement} */ main) {
  document.title = 'DAGs · Updraft';
  const errors = errorBox('load-error');
  const importErrors = el('div');
  const list = el('div', { class: 'card' }, el('p', { class: 'muted' }, 'Loading DAGs…'));
  add(main, [el('h1', { tabindex: -1 }, 'DAGs'), errors.box, importErrors, list]);

  const poll = poller(async () => {
    const data = await api('/api/v1/dags?limit=1000');
    const recent = await Promise.all(
      data.dags.map((/** @type {any} */ d) =>
        api(`${dagPath(d.dag_id)}/dagRuns?limit=5`).then(
          (r) => r.dag_runs,
          () => [],
        ),
      ),
    );
    render(importErrors, data.import_errors, () => importErrorList(data.import_errors));
    render(list, [data.dags, recent], () => dagTable(data.dags, recent));
    return recent.some((runs) =>
      runs.some((/** @type {any} */ r) => UNFINISHED_RUN_STATES.has(r.state)),
    );
  }, errors.show);

  /** @param {any[]} items */
  function importErrorList(items) {
    if (items.length === 0) return null;
    return el(
      'section',
      { class: 'import-errors', testid: 'import-errors', 'aria-labelledby': 'import-errors-h' },
      el(
        'h2',
        { id: 'import-errors-h' },
        `Import errors (${items.length}): these files did not load`,
      ),
      el(
        'ul',
        {},
        items.map((e) =>
          el(
            'li',
            { testid: 'import-error' },
            el('code', { class: 'filename' }, e.filename),
            e.timestamp ? el('span', { class: 'muted' }, ' · ', time(e.timestamp)) : null,
            el('pre', { class: 'trace' }, e.stack_trace),
          ),
        ),
      ),
    );
  }

  /** @param {any[]} dags @param {any[][]} recent */
  function dagTable(dags, recent) {
    if (dags.length === 0) {
      return el('p', { class: 'muted' }, 'No DAGs yet. Put DAG files in the DAGs folder.');
    }
    return el(
      'table',
      { class: 'table', testid: 'dag-table' },
      el('caption', { class: 'sr-only' }, 'DAGs'),
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['DAG', 'Team', 'Schedule', 'Tags', 'Recent runs', 'Active'].map((h) =>
            el('th', { scope: 'col' }, h),
          ),
        ),
      ),
      el(
        'tbody',
        {},
        dags.map((d, i) =>
          el(
            'tr',
            { testid: `dag-row-${d.dag_id}`, class: d.is_paused ? 'paused' : null },
            el(
              'td',
              {},
              el('a', { href: hrefDag(d.dag_id), class: 'dag-link', testid: 'dag-link' }, d.dag_id),
              d.description ? el('div', { class: 'muted small' }, d.description) : null,
            ),
            el('td', { class: 'nowrap' }, d.team),
            el(
              'td',
              {},
              el('span', { title: d.schedule ?? d.schedule_description }, d.schedule_description),
              d.next_dagrun
                ? el('div', { class: 'muted small' }, 'next: ', time(d.next_dagrun))
                : null,
            ),
            el(
              'td',
              {},
              d.tags.map((/** @type {string} */ t) => el('span', { class: 'tag' }, t)),
            ),
            el(
              'td',
              { testid: 'recent-runs' },
              (recent[i] ?? []).length === 0
                ? el('span', { class: 'muted' }, 'no runs')
                : el(
                    'ul',
                    { class: 'inline-list' },
                    (recent[i] ?? []).map((/** @type {any} */ r) =>
                      el(
                        'li',
                        {},
                        el(
                          'a',
                          {
                            href: hrefRun(d.dag_id, r.dag_run_id),
                            class: `pill state-${cssToken(r.state)}`,
                            title: `${r.dag_run_id} (${r.run_type})`,
                          },
                          label(r.state),
                        ),
                      ),
                    ),
                  ),
            ),
            el(
              'td',
              {},
              pauseSwitch(d, () => poll.now(), errors.show),
            ),
          ),
        ),
      ),
    );
  }

  void poll.now();
  return () => poll.stop();
}

function dagView(/** @type {HTMLElement} */ main, /** @type {string} */ dagId) {
  document.title = `${dagId} · Updraft`;
  /** @type {string | null} */
  let selectedRun = null;
  const errors = errorBox('load-error');
  const header = el('div');
  const fileError = el('div');
  const graph = el('div', { class: 'card' }, el('p', { class: 'muted' }, 'Loading…'));
  const graphTitle = el('h2', { id: 'graph-h' }, 'Graph');
  const runs = el('div');

  const confId = 'trigger-conf';
  const conf = el('textarea', {
    id: confId,
    rows: 4,
    spellcheck: 'false',
    placeholder: '{"key": "value"}',
    testid: 'trigger-conf',
    'aria-describedby': 'trigger-help',
  });
  // The DAG's params and their defaults, which the run configuration overrides.
  const paramList = el('div', { testid: 'trigger-params' });
  const triggerError = errorBox('trigger-error');
  const triggerResult = el('p', { class: 'ok', role: 'status', testid: 'trigger-result' });
  const triggerButton = el(
    'button',
    { type: 'submit', class: 'primary', testid: 'trigger-button' },
    'Trigger',
  );
  const form = el(
    'form',
    { class: 'trigger', 'aria-labelledby': 'trigger-h', on: { submit: trigger } },
    el('h2', { id: 'trigger-h' }, 'Trigger a run'),
    el('label', { for: confId }, 'Run configuration (JSON object, optional)'),
    conf,
    el(
      'p',
      { id: 'trigger-help', class: 'muted small' },
      'Overrides the DAG params for this run, e.g. {"rows": 7}.',
    ),
    paramList,
    el('div', { class: 'row' }, triggerButton, triggerResult),
    triggerError.box,
  );

  const content = [
    header,
    fileError,
    el(
      'div',
      { class: 'columns' },
      el('section', { class: 'grow', 'aria-labelledby': 'graph-h' }, graphTitle, graph),
      el('section', { class: 'side card' }, form),
    ),
    el('section', { 'aria-labelledby': 'runs-h' }, el('h2', { id: 'runs-h' }, 'Runs'), runs),
  ];
  add(main, [
    breadcrumbs([
      ['DAGs', '#/'],
      [dagId, null],
    ]),
    errors.box,
    ...content,
  ]);

  /** @param {SubmitEvent} e */
  async function trigger(e) {
    e.preventDefault();
    triggerError.show(null);
    triggerResult.textContent = '';
    /** @type {{ conf?: unknown }} */
    const body = {};
    const text = conf.value.trim();
    if (text) {
      try {
        body.conf = JSON.parse(text);
      } catch (error) {
        triggerError.show(
          `Run configuration is not valid JSON: ${/** @type {Error} */ (error).message}`,
        );
        conf.focus();
        return;
      }
    }
    triggerButton.disabled = true;
    try {
      const run = await api(`${dagPath(dagId)}/dagRuns`, { method: 'POST', body });
      selectedRun = run.dag_run_id;
      triggerResult.replaceChildren(
        'Triggered ',
        el(
          'a',
          { href: hrefRun(dagId, run.dag_run_id), testid: 'triggered-run-link' },
          run.dag_run_id,
        ),
      );
      await poll.now();
    } catch (error) {
      triggerError.show(error);
    } finally {
      triggerButton.disabled = false;
    }
  }

  const poll = poller(
    async () => {
      const [dag, runList] = await Promise.all([
        api(dagPath(dagId)),
        api(`${dagPath(dagId)}/dagRuns?limit=25`),
      ]);
      const dagRuns = /** @type {any[]} */ (runList.dag_runs);
      if (!selectedRun || !dagRuns.some((r) => r.dag_run_id === selectedRun)) {
        selectedRun = dagRuns[0]?.dag_run_id ?? null;
      }
      const selected = dagRuns.find((r) => r.dag_run_id === selectedRun) ?? null;
      /** @type {any[]} */
      let tis = [];
      if (selected) {
        tis = (await api(`${runPath(dagId, selected.dag_run_id)}/taskInstances?limit=1000`))
          .task_instances;
      }
      const byTask = instancesByTask(tis);
      render(header, dag, () => dagHeader(dag));
      render(fileError, dag.import_error, () => fileErrorNote(dag));
      render(paramList, dag.params, () => paramFacts(dag.params));
      graphTitle.textContent = selected ? `Graph: run ${selected.dag_run_id}` : 'Graph';
      render(graph, [dag.tasks, tis, selectedRun], () =>
        taskGraph(dagId, dag.tasks, byTask, selectedRun),
      );
      render(runs, [dagRuns, selectedRun, runList.total_entries], () =>
        runTable(dagRuns, runList.total_entries),
      );
      return dagRuns.some((r) => UNFINISHED_RUN_STATES.has(r.state));
    },
    loadErrors(errors, content),
  );

  function fileErrorNote(/** @type {any} */ dag) {
    if (!dag.import_error) return null;
    return el(
      'section',
      { class: 'import-errors', testid: 'dag-import-error', role: 'alert' },
      el(
        'h2',
        {},
        `The DAG file does not load${dag.version ? `: runs use version v${dag.version.version_number}, the last that did` : ''}`,
      ),
      el('pre', { class: 'trace' }, dag.import_error.stack_trace),
    );
  }

  function paramFacts(/** @type {Record<string, unknown>} */ params) {
    const names = Object.keys(params ?? {});
    if (names.length === 0) return null;
    const first = names[0] ?? '';
    conf.placeholder = JSON.stringify({ [first]: params[first] });
    return el(
      'dl',
      { class: 'facts small', 'aria-label': 'Params and their defaults' },
      ...names.map((name) => fact(name, el('code', {}, JSON.stringify(params[name])))),
    );
  }

  function dagHeader(/** @type {any} */ dag) {
    return el(
      'div',
      { class: 'page-head' },
      el(
        'div',
        {},
        el('h1', { tabindex: -1, testid: 'dag-title' }, dag.dag_id),
        dag.description ? el('p', { class: 'lead' }, dag.description) : null,
        el(
          'dl',
          { class: 'facts' },
          fact('Team', dag.team),
          fact(
            'Schedule',
            `${dag.schedule_description}${dag.schedule ? ` (${dag.schedule})` : ''}`,
          ),
          fact('Next run', time(dag.next_dagrun)),
          fact(
            'Tags',
            dag.tags.length
              ? dag.tags.map((/** @type {string} */ t) => el('span', { class: 'tag' }, t))
              : '—',
          ),
          fact('File', el('code', {}, dag.fileloc)),
          dag.version ? fact('Version', `v${dag.version.version_number}`) : null,
        ),
      ),
      pauseSwitch(dag, () => poll.now(), errors.show),
    );
  }

  /** @param {any[]} dagRuns @param {number} total */
  function runTable(dagRuns, total) {
    if (dagRuns.length === 0) {
      return el('p', { class: 'muted card', testid: 'no-runs' }, 'No runs yet.');
    }
    return el(
      'div',
      { class: 'card' },
      el(
        'table',
        { class: 'table', testid: 'run-table' },
        el('caption', { class: 'sr-only' }, `Runs of ${dagId}`),
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            ['Run', 'Type', 'State', 'Logical date', 'Started', 'Duration', 'Graph'].map((h) =>
              el('th', { scope: 'col' }, h),
            ),
          ),
        ),
        el(
          'tbody',
          {},
          dagRuns.map((r) =>
            el(
              'tr',
              {
                testid: `run-row-${r.dag_run_id}`,
                class: r.dag_run_id === selectedRun ? 'selected' : null,
              },
              el('td', {}, el('a', { href: hrefRun(dagId, r.dag_run_id) }, r.dag_run_id)),
              el('td', {}, r.run_type),
              el('td', {}, statePill(r.state, 'run-state')),
              el('td', {}, time(r.logical_date)),
              el('td', {}, time(r.start_date)),
              el('td', {}, runDuration(r)),
              el(
                'td',
                {},
                el(
                  'button',
                  {
                    type: 'button',
                    class: 'small',
                    'aria-pressed': String(r.dag_run_id === selectedRun),
                    'aria-label': `Show run ${r.dag_run_id} in the graph`,
                    testid: `show-run-${r.dag_run_id}`,
                    on: {
                      click: () => {
                        selectedRun = r.dag_run_id;
                        void poll.now();
                      },
                    },
                  },
                  'Show',
                ),
              ),
            ),
          ),
        ),
      ),
      total > dagRuns.length
        ? el(
            'p',
            { class: 'muted small' },
            `Showing the latest ${dagRuns.length} of ${total} runs.`,
          )
        : null,
    );
  }

  void poll.now();
  return () => poll.stop();
}

function fact(/** @type {string} */ term, /** @type {any} */ value) {
  return el('div', {}, el('dt', {}, term), el('dd', {}, value));
}

function runView(
  /** @type {HTMLElement} */ main,
  /** @type {string} */ dagId,
  /** @type {string} */ runId,
) {
  document.title = `${runId} · ${dagId} · Updraft`;
  const errors = errorBox('load-error');
  const actionError = errorBox('action-error');
  const summary = el('div');
  const graph = el('div', { class: 'card' });
  const tiBox = el('div', { class: 'card' }, el('p', { class: 'muted' }, 'Loading…'));
  const eventsBox = el('div', { class: 'card' });
  const downstream = el('input', {
    type: 'checkbox',
    id: 'clear-downstream',
    testid: 'clear-downstream',
  });
  const logTitle = el('h2', { id: 'log-h', testid: 'log-title' }, 'Log');
  const logTries = el('div', { class: 'row' });
  const logContent = el('pre', { class: 'log', testid: 'log-content', tabindex: 0 });
  const logSection = el(
    'section',
    { class: 'card', 'aria-labelledby': 'log-h', testid: 'log-viewer', hidden: true },
    logTitle,
    logTries,
    logContent,
  );
  /** @type {{ taskId: string, tryNumber: number, mapIndex: number } | null} */
  let log = null;
  /** @type {any[]} */
  let tis = [];

  const content = [
    summary,
    el('section', { 'aria-label': 'Graph' }, graph),
    el(
      'section',
      { 'aria-labelledby': 'ti-h' },
      el(
        'div',
        { class: 'row spread' },
        el('h2', { id: 'ti-h' }, 'Task instances'),
        el(
          'div',
          { class: 'row' },
          el('label', { class: 'check' }, downstream, ' clear downstream tasks too'),
          el(
            'button',
            {
              type: 'button',
              testid: 'clear-failed',
              on: {
                click: () =>
                  act('Clear all failed tasks of this run?', () =>
                    api(`${dagPath(dagId)}/clearTaskInstances`, {
                      method: 'POST',
                      body: { dag_run_id: runId, only_failed: true, include_downstream: true },
                    }),
                  ),
              },
            },
            'Clear failed tasks',
          ),
        ),
      ),
      actionError.box,
      tiBox,
    ),
    logSection,
    el(
      'section',
      { 'aria-labelledby': 'events-h' },
      el('h2', { id: 'events-h' }, 'Event log'),
      eventsBox,
    ),
  ];
  add(main, [
    breadcrumbs([
      ['DAGs', '#/'],
      [dagId, hrefDag(dagId)],
      [runId, null],
    ]),
    errors.box,
    ...content,
  ]);

  /**
   * Runs a state-changing action after confirmation, then refreshes.
   * @param {string} question @param {() => Promise<unknown>} action
   */
  async function act(question, action) {
    if (!window.confirm(question)) return;
    actionError.show(null);
    try {
      await action();
    } catch (error) {
      actionError.show(error);
    }
    await poll.now();
  }

  function openLog(
    /** @type {string} */ taskId,
    /** @type {number} */ tryNumber,
    /** @type {number} */ mapIndex = -1,
  ) {
    log = { taskId, tryNumber, mapIndex };
    logSection.hidden = false;
    logContent.textContent = 'Loading…';
    shown.delete(logTries);
    void poll.now();
    logSection.scrollIntoView({ block: 'nearest' });
  }

  async function refreshLog() {
    if (!log) return;
    const { taskId, tryNumber, mapIndex } = log;
    const ti = tis.find((t) => t.task_id === taskId && t.map_index === mapIndex);
    const tries = Math.max(ti?.try_number ?? 1, 1);
    const name = mapIndex >= 0 ? `${taskId}[${mapIndex}]` : taskId;
    logTitle.textContent = `Log: ${name}, try ${tryNumber}`;
    render(logTries, [taskId, tryNumber, tries], () => [
      el('span', { class: 'muted' }, 'Try:'),
      Array.from({ length: tries }, (_, i) => i + 1).map((n) =>
        el(
          'button',
          {
            type: 'button',
            class: 'small',
            'aria-pressed': String(n === tryNumber),
            testid: `log-try-${n}`,
            on: { click: () => openLog(taskId, n, mapIndex) },
          },
          String(n),
        ),
      ),
    ]);
    try {
      const body = await api(
        `${runPath(dagId, runId)}/taskInstances/${enc(taskId)}/logs/${tryNumber}${mapIndex >= 0 ? `?map_index=${mapIndex}` : ''}`,
      );
      if (log?.taskId !== taskId || log.tryNumber !== tryNumber || log.mapIndex !== mapIndex)
        return;
      const text = body.content || '(no output yet)';
      if (logContent.textContent !== text) logContent.textContent = text;
    } catch (error) {
      logContent.textContent = error instanceof Error ? error.message : String(error);
    }
  }

  const poll = poller(
    async () => {
      const [run, dag, tiList, eventList] = await Promise.all([
        api(runPath(dagId, runId)),
        api(dagPath(dagId)),
        api(`${runPath(dagId, runId)}/taskInstances?limit=1000`),
        api(`${dagPath(dagId)}/events?dag_run_id=${enc(runId)}&limit=200`),
      ]);
      // In the DAG's task order, a mapped task's instances by map index (by id, the instances an
      // expansion added would come after later tasks).
      const order = new Map(
        dag.tasks.map((/** @type {any} */ t, /** @type {number} */ i) => [t.task_id, i]),
      );
      tis = [...tiList.task_instances].sort(
        (a, b) =>
          (order.get(a.task_id) ?? order.size) - (order.get(b.task_id) ?? order.size) ||
          a.map_index - b.map_index,
      );
      render(summary, run, () => runSummary(run));
      render(graph, [dag.tasks, tis], () =>
        taskGraph(dagId, dag.tasks, instancesByTask(tis), runId),
      );
      render(tiBox, [tis, log?.taskId], () => tiTable(tis));
      render(eventsBox, eventList.events, () => eventTable(eventList.events));
      await refreshLog();
      return (
        UNFINISHED_RUN_STATES.has(run.state) ||
        tis.some((t) => !TERMINAL_TASK_STATES.has(t.state ?? 'none'))
      );
    },
    loadErrors(errors, content),
  );

  function runSummary(/** @type {any} */ run) {
    document.title = `${label(run.state)} · ${runId} · ${dagId} · Updraft`;
    const conf =
      run.conf && Object.keys(run.conf).length > 0 ? JSON.stringify(run.conf, null, 2) : null;
    return el(
      'div',
      { class: 'page-head' },
      el(
        'div',
        {},
        el('h1', { tabindex: -1, testid: 'run-title' }, `Run ${run.dag_run_id}`),
        el(
          'dl',
          { class: 'facts' },
          fact('DAG', el('a', { href: hrefDag(dagId) }, dagId)),
          fact('State', statePill(run.state, 'run-state')),
          fact('Type', run.run_type),
          fact('Logical date', time(run.logical_date)),
          fact('Started', time(run.start_date)),
          fact('Ended', time(run.end_date)),
          fact('Duration', runDuration(run)),
          fact('Triggered by', run.triggered_by ?? '—'),
          run.note ? fact('Note', run.note) : null,
        ),
        conf
          ? el(
              'details',
              {},
              el('summary', {}, 'Configuration'),
              el('pre', { class: 'conf' }, conf),
            )
          : null,
      ),
      UNFINISHED_RUN_STATES.has(run.state)
        ? el('p', { class: 'live', role: 'status' }, 'Live: refreshing every 2 s')
        : null,
    );
  }

  /** @param {any[]} items */
  function tiTable(items) {
    if (items.length === 0) return el('p', { class: 'muted' }, 'No task instances yet.');
    return el(
      'table',
      { class: 'table', testid: 'ti-table' },
      el('caption', { class: 'sr-only' }, `Task instances of run ${runId}`),
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['Task', 'State', 'Try', 'Duration', 'Reason', 'Actions'].map((h) =>
            el('th', { scope: 'col' }, h),
          ),
        ),
      ),
      el(
        'tbody',
        {},
        items.map((t) => {
          // A mapped task's instances each get a row, named and acted on by map index.
          const id = instanceName(t);
          const tiPath = `${runPath(dagId, runId)}/taskInstances/${enc(t.task_id)}${t.map_index >= 0 ? `/${t.map_index}` : ''}`;
          const mark = (/** @type {'success' | 'failed'} */ state) => () =>
            act(`Mark task "${id}" as ${state}?`, () =>
              api(tiPath, {
                method: 'PATCH',
                body: { new_state: state },
              }),
            );
          return el(
            'tr',
            {
              testid: `ti-row-${id}`,
              class: log?.taskId === t.task_id && log.mapIndex === t.map_index ? 'selected' : null,
            },
            el('th', { scope: 'row' }, id, el('div', { class: 'muted small' }, t.operator)),
            el('td', {}, statePill(t.state, 'ti-state')),
            el(
              'td',
              {},
              el('span', { testid: 'ti-try' }, String(t.try_number)),
              t.max_tries > 1
                ? el('span', { class: 'muted small' }, ` (up to ${t.max_tries} per clear)`)
                : null,
            ),
            el('td', {}, duration(t.duration_ms)),
            el('td', { class: 'reason' }, t.state_reason ?? ''),
            el(
              'td',
              { class: 'actions' },
              el(
                'button',
                {
                  type: 'button',
                  class: 'small',
                  testid: `log-button-${id}`,
                  'aria-label': `Log of ${id}`,
                  on: { click: () => openLog(t.task_id, Math.max(t.try_number, 1), t.map_index) },
                },
                'Log',
              ),
              el(
                'button',
                {
                  type: 'button',
                  class: 'small',
                  testid: `clear-${id}`,
                  'aria-label': `Clear ${id}`,
                  on: {
                    click: () =>
                      act(`Clear task "${id}" so it runs again?`, () =>
                        api(`${dagPath(dagId)}/clearTaskInstances`, {
                          method: 'POST',
                          body: {
                            dag_run_id: runId,
                            task_ids: [t.task_id],
                            include_downstream: downstream.checked,
                          },
                        }),
                      ),
                  },
                },
                'Clear',
              ),
              el(
                'button',
                {
                  type: 'button',
                  class: 'small',
                  testid: `mark-success-${id}`,
                  'aria-label': `Mark ${id} success`,
                  disabled: t.state === 'success',
                  on: { click: mark('success') },
                },
                'Mark success',
              ),
              el(
                'button',
                {
                  type: 'button',
                  class: 'small danger',
                  testid: `mark-failed-${id}`,
                  'aria-label': `Mark ${id} failed`,
                  disabled: t.state === 'failed',
                  on: { click: mark('failed') },
                },
                'Mark failed',
              ),
            ),
          );
        }),
      ),
    );
  }

  /** @param {any[]} events */
  function eventTable(events) {
    if (events.length === 0) return el('p', { class: 'muted' }, 'No events yet.');
    return el(
      'table',
      { class: 'table compact', testid: 'event-table' },
      el('caption', { class: 'sr-only' }, `Events of run ${runId}, newest first`),
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['When', 'What', 'Task', 'Try', 'Change', 'By', 'Why'].map((h) =>
            el('th', { scope: 'col' }, h),
          ),
        ),
      ),
      el(
        'tbody',
        {},
        events.map((e) =>
          el(
            'tr',
            {},
            el('td', {}, time(e.when)),
            el('td', {}, e.entity),
            el('td', {}, e.task_id ? instanceName(e) : ''),
            el('td', {}, e.try_number ?? ''),
            el(
              'td',
              {},
              e.from_state ? statePill(e.from_state) : el('span', { class: 'muted' }, '—'),
              ' → ',
              e.to_state ? statePill(e.to_state) : el('span', { class: 'muted' }, '—'),
            ),
            el('td', {}, e.actor ?? ''),
            el('td', { class: 'reason' }, e.reason ?? ''),
          ),
        ),
      ),
    );
  }

  void poll.now();
  return () => poll.stop();
}

function notFoundView(/** @type {HTMLElement} */ main) {
  document.title = 'Not found · Updraft';
  add(main, [
    el('h1', { tabindex: -1 }, 'Page not found'),
    el('p', {}, el('a', { href: '#/' }, 'Back to the DAG list')),
  ]);
  return () => {};
}

// ---------------------------------------------------------------------------------------------
// Router and header

/** @type {(() => void) | null} */
let dispose = null;
let firstRoute = true;

function route() {
  dispose?.();
  const main = /** @type {HTMLElement} */ (document.getElementById('main'));
  main.replaceChildren();
  let parts;
  try {
    parts = (location.hash.replace(/^#\/?/, '') || '')
      .split('/')
      .filter(Boolean)
      .map(decodeURIComponent);
  } catch {
    parts = ['?'];
  }
  if (parts.length === 0) dispose = dagListView(main);
  else if (parts[0] === 'dags' && parts.length === 2) dispose = dagView(main, String(parts[1]));
  else if (parts[0] === 'dags' && parts.length === 4 && parts[2] === 'runs') {
    dispose = runView(main, String(parts[1]), String(parts[3]));
  } else dispose = notFoundView(main);
  // Move focus to the new page for keyboard and screen-reader users (not on the first load).
  if (!firstRoute) main.focus({ preventScroll: true });
  firstRoute = false;
  window.scrollTo(0, 0);
}

async function showEnvironment() {
  const badge = document.querySelector('[data-testid="env-badge"]');
  if (!badge) return;
  try {
    const health = await api('/healthz');
    const env = String(health.environment ?? 'unknown');
    badge.textContent = env;
    badge.setAttribute('class', `env-badge env-${cssToken(env)}`);
    badge.setAttribute('title', `Environment: ${env} (${health.component ?? 'api'})`);
    badge.setAttribute('aria-label', `Environment: ${env}`);
  } catch {
    badge.textContent = 'unknown';
  }
}

window.addEventListener('hashchange', route);
route();
void showEnvironment();
