import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { APPS } from './components/identity.ts';
import { dockerfilePath, lintAllDockerfiles, lintDockerfile, REPO_ROOT } from './dockerfiles.ts';

const scheduler = readFileSync(dockerfilePath('scheduler'), 'utf8');

describe('Dockerfiles', () => {
  it('pass the linter and the house rules', () => {
    expect(lintAllDockerfiles()).toEqual({ scheduler: [], worker: [], api: [] });
  });

  it('all three use the same pinned base image', () => {
    const images = APPS.map(
      (app) => /ARG NODE_IMAGE=(\S+)/.exec(readFileSync(dockerfilePath(app), 'utf8'))?.[1],
    );
    expect(new Set(images).size).toBe(1);
  });

  it('the scheduler image carries the CLI the migration Job runs', () => {
    expect(scheduler).toMatch(/--filter "@updraft\/cli\.\.\."/);
  });

  it('.dockerignore keeps node_modules, git and secrets out of the context', () => {
    const ignore = readFileSync(`${REPO_ROOT}.dockerignore`, 'utf8').split('\n');
    for (const entry of ['**/node_modules', '.git', '**/.env']) expect(ignore).toContain(entry);
  });

  const breakages: [string, (s: string) => string, RegExp][] = [
    ['runs as root', (s) => s.replace('USER 1000:1000', 'USER root'), /numeric non-root USER/],
    ['no USER at all', (s) => s.replace(/^USER .*$/m, ''), /numeric non-root USER/],
    ['base image by tag only', (s) => s.replace(/@sha256:[0-9a-f]{64}/, ''), /pinned by digest/],
    ['wrong Node major', (s) => s.replace('node:24.21.0', 'node:22.11.0'), /Node 24 slim/],
    [
      'single stage',
      (s) => s.replace(/FROM \$\{NODE_IMAGE\} AS runtime[\s\S]*?WORKDIR \/app/, ''),
      /multi-stage/,
    ],
    [
      'dev dependencies installed',
      (s) => s.replace('--prod "', '"').replace(' --prod ', ' '),
      /--prod --frozen-lockfile/,
    ],
    [
      'shell-form CMD',
      (s) =>
        s.replace(
          'CMD ["node", "apps/scheduler/src/main.ts"]',
          'CMD node apps/scheduler/src/main.ts',
        ),
      /CMD must run/,
    ],
    [
      'leaves glibc its default arenas',
      (s) => s.replace(/^ENV MALLOC_ARENA_MAX=.*$/m, ''),
      /MALLOC_ARENA_MAX/,
    ],
    [
      'invalid instruction',
      (s) => s.replace('EXPOSE 8081', 'EXPOSE health'),
      /Invalid containerPort/,
    ],
  ];
  it.each(breakages)('the lint fails when the image %s', (_name, breakIt, expected) => {
    const broken = breakIt(scheduler);
    expect(broken).not.toBe(scheduler);
    expect(lintDockerfile(broken, 'scheduler').join('\n')).toMatch(expected);
  });
});
