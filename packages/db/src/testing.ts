/**
 * Test databases: a fresh, migrated database per test file on real PostgreSQL (cloned from a
 * migrated template, so it takes milliseconds) or on embedded PGlite. Never used in production.
 *
 * PostgreSQL is found at DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Database,
  type DatabaseHandle,
  MIGRATIONS_FOLDER,
  migrateDatabase,
  openDatabase,
} from './index.ts';
import * as schema from './schema/index.ts';

export type TestDatabaseKind = 'postgres' | 'pglite';

/** Polls `check` until it returns a truthy value or the deadline passes (no fixed sleeps in tests). */
export async function waitFor<T>(
  check: () => Promise<T | undefined | null | false>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string | (() => string) } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 25));
  }
  const what = typeof opts.what === 'function' ? opts.what() : (opts.what ?? 'condition');
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** A TCP port that was free a moment ago on 127.0.0.1, for servers started by tests. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}
export const TEST_DATABASE_KINDS: readonly TestDatabaseKind[] = ['postgres', 'pglite'];

export interface TestDatabase {
  handle: DatabaseHandle;
  kind: TestDatabaseKind;
  /** Connection URL (PostgreSQL only), for child processes under test. */
  url: string | undefined;
  /** Closes the connection and drops the database. */
  drop(): Promise<void>;
}

export function adminDatabaseUrl(): string {
  return process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function migrationsHash(): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(MIGRATIONS_FOLDER).sort()) {
    if (name.endsWith('.sql'))
      hash.update(name).update(readFileSync(join(MIGRATIONS_FOLDER, name)));
  }
  return hash.digest('hex').slice(0, 12);
}

async function ensureTemplate(adminUrl: string): Promise<string> {
  const template = `updraft_tpl_${migrationsHash()}`;
  const { default: postgres } = await import('postgres');
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin`select pg_advisory_lock(7265002)`;
    const exists = await admin`select 1 from pg_database where datname = ${template}`;
    if (exists.length === 0) {
      await admin.unsafe(`create database "${template}"`);
      const handle = await openDatabase({
        url: withDatabase(adminUrl, template),
        maxConnections: 1,
      });
      try {
        await migrateDatabase(handle);
      } catch (error) {
        await handle.close();
        await admin.unsafe(`drop database if exists "${template}"`);
        throw error;
      }
      await handle.close();
    }
    await admin`select pg_advisory_unlock(7265002)`;
  } finally {
    await admin.end({ timeout: 5 });
  }
  return template;
}

export async function createTestDatabase(
  kind: TestDatabaseKind,
  opts: { adminUrl?: string } = {},
): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const handle = await openDatabase({});
    await migrateDatabase(handle);
    return { handle, kind, url: undefined, drop: () => handle.close() };
  }
  const adminUrl = opts.adminUrl ?? adminDatabaseUrl();
  const template = await ensureTemplate(adminUrl);
  const name = `updraft_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const { default: postgres } = await import('postgres');
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}" template "${template}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = withDatabase(adminUrl, name);
  const handle = await openDatabase({ url, maxConnections: 10 });
  return {
    handle,
    kind,
    url,
    async drop() {
      await handle.close();
      const dropper = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await dropper.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await dropper.end({ timeout: 5 });
      }
    },
  };
}

/**
 * A team, a DAG and one version of it, as rows only (no DAG file, an empty spec): for tests of
 * queries that need runs to hang off a DAG. Returns the version's id.
 */
export async function insertBareDag(db: Database, dagId: string): Promise<number> {
  await db
    .insert(schema.teams)
    .values({ id: 't', name: 'T', namespace: 'ns-t' })
    .onConflictDoNothing();
  await db.insert(schema.dags).values({
    dagId,
    teamId: 't',
    fileloc: `${dagId}.ts`,
    maxActiveRuns: 1,
    maxActiveTasks: 1,
  });
  const [version] = await db
    .insert(schema.dagVersions)
    .values({
      dagId,
      versionNumber: 1,
      contentHash: 'h',
      sourceHash: 'h',
      fileloc: `${dagId}.ts`,
      spec: {} as never,
    })
    .returning({ id: schema.dagVersions.id });
  return version!.id;
}

/**
 * A throwaway PostgreSQL cluster of its own (initdb + pg_ctl, fsync off), for tests that stop or
 * restart the server. Runs the server as the `postgres` user when started as root.
 */
export interface ThrowawayCluster {
  adminUrl: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startThrowawayCluster(): Promise<ThrowawayCluster> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { chown, mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const run = promisify(execFile);
  const bin = (name: string) =>
    `/usr/lib/postgresql/${process.env.UPDRAFT_PG_VERSION ?? '15'}/bin/${name}`;
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'updraft-pg-'));
  const asRoot = process.getuid?.() === 0;
  const as = async (cmd: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : run(cmd, args);
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, 'data');
  await as(bin('initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const ctl = (action: string, extra: string[] = []) =>
    as(bin('pg_ctl'), [
      '-D',
      data,
      '-o',
      options,
      '-l',
      join(dir, 'server.log'),
      '-w',
      ...extra,
      action,
    ]);
  await ctl('start');
  return {
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    restart: async () => {
      await ctl('restart', ['-m', 'fast']);
    },
    stop: async () => {
      await ctl('stop', ['-m', 'immediate']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
