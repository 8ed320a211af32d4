/** Rows in `processes` let operators see which schedulers and workers are alive. */
import { hostname } from 'node:os';
import { schema } from '@updraft/db';
import { eq } from 'drizzle-orm';
import type { EngineResources } from './resources.ts';

type Kind = 'scheduler' | 'worker' | 'api' | 'standalone';

export async function registerProcess(r: EngineResources, id: string, kind: Kind): Promise<void> {
  const now = r.clock.now();
  await r.database.db
    .insert(schema.processes)
    .values({
      id,
      kind,
      hostname: hostname(),
      pid: process.pid,
      environment: r.environment,
      startedAt: now,
      heartbeatAt: now,
    })
    .onConflictDoUpdate({
      target: schema.processes.id,
      set: { heartbeatAt: now, stoppedAt: null, startedAt: now },
    });
}

export async function heartbeatProcess(r: EngineResources, id: string): Promise<void> {
  await r.database.db
    .update(schema.processes)
    .set({ heartbeatAt: r.clock.now() })
    .where(eq(schema.processes.id, id));
}

export async function stopProcess(r: EngineResources, id: string): Promise<void> {
  await r.database.db
    .update(schema.processes)
    .set({ stoppedAt: r.clock.now() })
    .where(eq(schema.processes.id, id));
}
