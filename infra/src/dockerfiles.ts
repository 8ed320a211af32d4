/**
 * Lints the apps' Dockerfiles: syntax and instruction errors from `dockerfile-utils` (the
 * validator behind the VS Code Dockerfile support; hadolint is not packaged for Debian), plus the
 * house rules the cluster relies on.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { validate } from 'dockerfile-utils';
import { APPS, type AppName } from './components/identity.ts';
import { API_PORT, APP_UID, HEALTH_PORT } from './components/platform.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const dockerfilePath = (app: AppName) => `${REPO_ROOT}apps/${app}/Dockerfile`;

const BASE_IMAGE = /^node:24(\.\d+){0,2}-[a-z]+-slim@sha256:[0-9a-f]{64}$/;

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] ?? '';
    const start = i + 1;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      i++;
      line = `${line.slice(0, -1)} ${lines[i] ?? ''}`;
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(line);
    if (m)
      out.push({ keyword: (m[1] ?? '').toUpperCase(), args: (m[2] ?? '').trim(), line: start });
  }
  return out;
}

/** Problems in `text` as the Dockerfile of `app`; empty when it is fine. */
export function lintDockerfile(text: string, app: AppName): string[] {
  const problems = validate(text).map(
    (d) =>
      `line ${d.range.start.line + 1}: ${d.message} (${d.severity === 1 ? 'error' : 'warning' /* LSP: 1 error, 2 warning */})`,
  );
  const ins = instructions(text);
  const froms = ins.filter((i) => i.keyword === 'FROM');
  const arg = ins.find((i) => i.keyword === 'ARG' && i.args.startsWith('NODE_IMAGE='));
  const image = arg?.args.slice('NODE_IMAGE='.length) ?? '';

  if (!BASE_IMAGE.test(image))
    problems.push('ARG NODE_IMAGE must be a Node 24 slim image pinned by digest');
  if (froms.length < 2)
    problems.push('must be a multi-stage build (a build stage and a runtime stage)');
  for (const f of froms) {
    if (!f.args.startsWith(`\${NODE_IMAGE}`))
      problems.push(`line ${f.line}: FROM must use \${NODE_IMAGE}`);
  }
  const lastFrom = froms.at(-1)?.line ?? 0;
  const runtime = ins.filter((i) => i.line > lastFrom);
  const user = runtime.filter((i) => i.keyword === 'USER').at(-1);
  if (!user || !/^[1-9]\d*(:[1-9]\d*)?$/.test(user.args)) {
    problems.push('runtime stage must switch to a numeric non-root USER');
  } else if (Number(user.args.split(':')[0]) !== APP_UID) {
    problems.push(`USER must be ${APP_UID}, the uid the Kubernetes manifests run as`);
  }
  const cmd = runtime.find((i) => i.keyword === 'CMD');
  if (cmd?.args !== `["node", "apps/${app}/src/main.ts"]`)
    problems.push(`CMD must run apps/${app}/src/main.ts (exec form)`);
  if (user && cmd && user.line > cmd.line) problems.push('USER must come before CMD');
  const install = ins.find((i) => i.keyword === 'RUN' && /pnpm install/.test(i.args));
  if (!install || !/--prod\b/.test(install.args) || !/--frozen-lockfile\b/.test(install.args)) {
    problems.push('dependencies must be installed with pnpm install --prod --frozen-lockfile');
  }
  if (install && !install.args.includes(`"@updraft/app-${app}..."`))
    problems.push(`install must include @updraft/app-${app} and its dependencies`);
  const port = app === 'api' ? API_PORT : HEALTH_PORT;
  if (!runtime.some((i) => i.keyword === 'EXPOSE' && i.args === String(port)))
    problems.push(`runtime stage must EXPOSE ${port}`);
  if (!runtime.some((i) => i.keyword === 'ENV' && /^MALLOC_ARENA_MAX=[1-9]\d*$/.test(i.args)))
    problems.push('runtime stage must set MALLOC_ARENA_MAX (glibc arenas per process)');
  if (runtime.some((i) => i.keyword === 'RUN' && /\b(apt-get|npm|pnpm) install\b/.test(i.args))) {
    problems.push('the runtime stage must not install anything');
  }
  return problems;
}

export function lintAllDockerfiles(): Record<AppName, string[]> {
  return Object.fromEntries(
    APPS.map((app) => [app, lintDockerfile(readFileSync(dockerfilePath(app), 'utf8'), app)]),
  ) as Record<AppName, string[]>;
}
