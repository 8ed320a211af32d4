import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase, rowsOf } from './index.ts';

describe('embedded PGlite', () => {
  let handle: DatabaseHandle;
  beforeAll(async () => {
    handle = await openDatabase({});
  });
  afterAll(async () => {
    await handle.close();
  });

  it('runs with buffers sized for one laptop, not for a server', async () => {
    const settings = rowsOf<{ name: string; setting: string }>(
      await handle.db.execute(
        sql`select name, current_setting(name) as setting from unnest(array['shared_buffers', 'wal_buffers', 'temp_buffers']) as name`,
      ),
    );
    expect(Object.fromEntries(settings.map((s) => [s.name, s.setting]))).toEqual({
      shared_buffers: '16MB',
      wal_buffers: '1MB',
      temp_buffers: '2MB',
    });
  });

  it('keeps PGlite’s own start settings', async () => {
    const [row] = rowsOf<{ workers: string }>(
      await handle.db.execute(sql`select current_setting('max_worker_processes') as workers`),
    );
    expect(row!.workers).toBe('0');
  });
});
