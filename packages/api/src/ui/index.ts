/**
 * The web UI: an HTML shell, one vanilla-JS ES module and one stylesheet, served as they are (no
 * build step). The page talks to the REST API under /api/v1 like any other client. The assets are
 * read once at start-up, relative to this file, so the process may run from any directory.
 */
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import type { ApiDeps } from '../app.ts';

const asset = (name: string) => readFileSync(new URL(`./${name}`, import.meta.url), 'utf8');

const SHELL = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Updraft</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/app.css">
<script type="module" src="/ui/app.js"></script>
</head>
<body>
<a class="skip-link" href="#main">Skip to content</a>
<header class="topbar">
  <a class="brand" href="#/">Updraft</a>
  <nav aria-label="Main"><a href="#/">DAGs</a></nav>
  <span class="env-badge env-unknown" data-testid="env-badge" title="Environment">…</span>
</header>
<main id="main" tabindex="-1"><p class="muted">Loading…</p></main>
<noscript>The Updraft UI needs JavaScript. The REST API is at <a href="/api/v1/dags">/api/v1/dags</a>.</noscript>
</body>
</html>
`;

/** Only our own script, style and API: data shown by the UI can never run as code. */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function uiRoutes(_deps: ApiDeps) {
  const js = asset('app.js');
  const css = asset('app.css');
  const app = new Hono();
  // Headers per route, not middleware: this app is mounted at "/" and must not touch the API.
  const headers = (type: string) => ({
    'content-type': type,
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-cache',
  });
  app.get('/', (c) => c.body(SHELL, 200, headers('text/html; charset=utf-8')));
  app.get('/ui/app.js', (c) => c.body(js, 200, headers('text/javascript; charset=utf-8')));
  app.get('/ui/app.css', (c) => c.body(css, 200, headers('text/css; charset=utf-8')));
  return app;
}
