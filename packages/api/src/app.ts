/**
 * The Hono application: health endpoints, the REST API under /api/v1 and the web UI. Built from
 * its dependencies so tests call it in-process with `app.request()`.
 */
import { randomUUID } from 'node:crypto';
import type { DatabaseHandle } from '@updraft/db';
import { type EngineResources, Operations } from '@updraft/engine';
import { Backfills } from '@updraft/engine/backfill';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import { errorResponse } from './errors.ts';
import { healthRoutes } from './health.ts';
import { backfillRoutes } from './routes/backfills.ts';
import { manualRoutes } from './routes/manual.ts';
import { poolRoutes } from './routes/pools.ts';
import { v1Routes } from './routes/v1.ts';
import { uiRoutes } from './ui/index.ts';

export interface ApiDeps {
  database: DatabaseHandle;
  logger: Logger;
  environment: string;
  /** Which process serves this (api, standalone), reported by /healthz. */
  component: string;
  version?: string;
}

export function createApp(
  resources: EngineResources,
  opts: { component: string; version?: string; notReadyReason?: () => string | null },
) {
  const deps: ApiDeps = {
    database: resources.database,
    logger: resources.logger,
    environment: resources.environment,
    component: opts.component,
    ...(opts.version && { version: opts.version }),
  };
  const ops = new Operations(resources);
  const app = new Hono();

  app.use('*', async (c, next) => {
    const requestId = c.req.header('x-request-id') ?? randomUUID();
    c.set('requestId' as never, requestId as never);
    c.header('x-request-id', requestId);
    // No id, name or value may hold a NUL character (PostgreSQL's text cannot): say so here,
    // once, for every path and query parameter.
    if (/%00/i.test(c.req.url)) {
      return c.json(
        {
          error: 'invalid',
          message: 'the request URL contains a NUL character (%00), which no id or value may hold',
        },
        400,
      );
    }
    await next();
  });

  app.route(
    '/',
    healthRoutes({ ...deps, ...(opts.notReadyReason && { notReadyReason: opts.notReadyReason }) }),
  );

  app.use(
    '/api/*',
    bodyLimit({
      maxSize: 1024 * 1024,
      onError: (c) =>
        c.json({ error: 'too_large', message: 'request body is larger than 1 MiB' }, 413),
    }),
  );
  app.route('/api/v1', v1Routes({ ...deps, ops }));
  app.route('/api/v1', backfillRoutes(new Backfills(resources)));
  app.route('/api/v1', poolRoutes(deps));
  app.route('/api/v1', manualRoutes({ ...deps, ops }));
  app.route('/', uiRoutes(deps));

  app.notFound((c) =>
    c.json({ error: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` }, 404),
  );
  app.onError((error, c) => errorResponse(error, c, deps.logger));
  return app;
}

export type UpdraftApp = ReturnType<typeof createApp>;
