/**
 * /healthz (liveness: the process is up) and /readyz (readiness: it can do its work — the database
 * answers, and for a scheduler its loop is not stuck). Every app serves these.
 */

import type { DatabaseHandle } from '@updraft/db';
import { sql } from 'drizzle-orm';
import { Hono } from 'hono';

export interface HealthOptions {
  component: string;
  environment: string;
  database: DatabaseHandle;
  version?: string | undefined;
  /** Extra readiness check; return a reason string when not ready. */
  notReadyReason?: () => string | null;
}

export function healthRoutes(opts: HealthOptions) {
  const app = new Hono();
  const who = { component: opts.component, environment: opts.environment };
  app.get('/healthz', (c) => c.json({ status: 'ok', ...who, version: opts.version ?? null }));
  app.get('/readyz', async (c) => {
    try {
      await opts.database.db.execute(sql`select 1`);
    } catch {
      return c.json({ status: 'unavailable', ...who, reason: 'database unreachable' }, 503);
    }
    const reason = opts.notReadyReason?.() ?? null;
    if (reason) return c.json({ status: 'unavailable', ...who, reason }, 503);
    return c.json({ status: 'ready', ...who });
  });
  return app;
}

export function createHealthApp(opts: HealthOptions) {
  const app = healthRoutes(opts);
  app.notFound((c) =>
    c.json({ error: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` }, 404),
  );
  return app;
}
