import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatabaseHandle, MIGRATIONS_FOLDER, openDatabase, rowsOf } from './index.ts';

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

describe('a new embedded data directory', () => {
  let parent: string;
  beforeAll(() => {
    parent = mkdtempSync(join(tmpdir(), 'updraft-pglite-'));
  });
  afterAll(() => {
    rmSync(parent, { recursive: true, force: true });
  });

  const migrationsApplied = async (handle: DatabaseHandle) =>
    Number(
      rowsOf<{ n: number }>(
        await handle.db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations`),
      )[0]!.n,
    );

  it('is created with the migrations applied, outside this process, and opens again', async () => {
    const dataDir = join(parent, 'pgdata');
    const handle = await openDatabase({ dataDir });
    try {
      // Nobody migrated here: the child that created it did.
      expect(await migrationsApplied(handle)).toBe(
        readdirSync(MIGRATIONS_FOLDER).filter((f) => f.endsWith('.sql')).length,
      );
      await handle.db.execute(
        sql`insert into teams (id, name, namespace) values ('t', 'T', 'ns-t')`,
      );
    } finally {
      await handle.close();
    }
    // Only the data directory: the side directory it was made in was moved into place.
    expect(readdirSync(parent)).toEqual(['pgdata']);
    const again = await openDatabase({ dataDir });
    try {
      const [team] = rowsOf<{ id: string }>(await again.db.execute(sql`select id from teams`));
      expect(team!.id).toBe('t');
    } finally {
      await again.close();
    }
  });

  it('removes what a killed creation left beside it, and only that', async () => {
    const dataDir = join(parent, 'stale');
    // No process has this pid (above the kernel's pid_max); the live one is this test's.
    mkdirSync(join(parent, '.stale.creating-99999999'));
    mkdirSync(join(parent, `.stale.creating-${process.ppid}`));
    const handle = await openDatabase({ dataDir });
    await handle.close();
    expect(readdirSync(parent).filter((e) => e.startsWith('.stale'))).toEqual([
      `.stale.creating-${process.ppid}`,
    ]);
  });

  it('is used by one process at a time: a live holder is named, a dead one is taken over', async () => {
    const dataDir = join(parent, 'locked');
    const lockPath = `${dataDir}.lock`;
    // Held by a process that runs (this test's parent).
    writeFileSync(lockPath, `${process.ppid} ${hostname()}\n`);
    await expect(openDatabase({ dataDir })).rejects.toThrow(
      `the embedded database in ${dataDir} is in use by another process (pid ${process.ppid})`,
    );
    // Held on another host: whether it runs cannot be known here.
    writeFileSync(lockPath, `1 elsewhere\n`);
    await expect(openDatabase({ dataDir })).rejects.toThrow('(pid 1 on elsewhere)');
    expect(existsSync(dataDir)).toBe(false);
    // Left by a process that is gone.
    writeFileSync(lockPath, `99999999 ${hostname()}\n`);
    const handle = await openDatabase({ dataDir });
    try {
      expect(readFileSync(lockPath, 'utf8').trim()).toBe(`${process.pid} ${hostname()}`);
      // Not twice in one process either.
      await expect(openDatabase({ dataDir })).rejects.toThrow('is already open in this process');
    } finally {
      await handle.close();
    }
    expect(existsSync(lockPath)).toBe(false);
    // Only the data directory is left beside the others: no lock or temporary files.
    expect(readdirSync(parent).filter((e) => e.startsWith('locked'))).toEqual(['locked']);
  });

  it('replaces an empty directory made beforehand', async () => {
    const dataDir = join(parent, 'empty');
    mkdirSync(dataDir);
    const handle = await openDatabase({ dataDir });
    try {
      expect(await migrationsApplied(handle)).toBeGreaterThan(0);
    } finally {
      await handle.close();
    }
    expect(readdirSync(dataDir)).toContain('PG_VERSION');
  });
});
