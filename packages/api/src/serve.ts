import { serve } from '@hono/node-server';
import type { Hono } from 'hono';

/** Serves the app over HTTP; resolves once listening with the bound port and a close function. */
export function serveApp(
  app: Hono,
  opts: { port: number; hostname: string },
): Promise<{ port: number; close(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: opts.port, hostname: opts.hostname }, (info) => {
      resolve({
        port: info.port,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
    server.once('error', reject);
  });
}
