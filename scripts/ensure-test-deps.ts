/**
 * Checks what the test suite needs beyond npm packages, before vitest starts:
 *  - Chromium for the web UI tests (installed from Debian when missing and we are root);
 *  - PostgreSQL at DATABASE_URL or 127.0.0.1:5432 (started when the local cluster is down).
 * Fails with a clear message rather than letting tests skip.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';

const CHROMIUM = '/usr/bin/chromium';

function log(message: string): void {
  process.stdout.write(`[test deps] ${message}\n`);
}

function run(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'inherit' }).status === 0;
}

if (!existsSync(CHROMIUM)) {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !existsSync('/usr/bin/apt-get')) {
    process.stderr.write(
      `Chromium is missing at ${CHROMIUM}; install it (Debian: apt-get install -y chromium) and run again.\n`,
    );
    process.exit(1);
  }
  log('installing Chromium from Debian for the web UI tests');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

const url = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
const host = url.hostname || '127.0.0.1';
const port = Number(url.port || 5432);
if (!(await reachable(host, port))) {
  const local = !process.env.DATABASE_URL && existsSync('/etc/postgresql');
  if (local) {
    const version = readdirSync('/etc/postgresql')[0];
    log(
      `PostgreSQL is not answering on ${host}:${port}; starting the local cluster ${version}/main`,
    );
    run('pg_ctlcluster', ['--skip-systemctl-redirect', String(version), 'main', 'start']);
  }
  if (!(await reachable(host, port))) {
    process.stderr.write(
      `PostgreSQL is not reachable at ${host}:${port}. The integration tests run against real PostgreSQL: start it or set DATABASE_URL.\n`,
    );
    process.exit(1);
  }
}
log(`Chromium at ${CHROMIUM}; PostgreSQL at ${host}:${port}`);
