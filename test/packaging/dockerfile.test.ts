// The Dockerfile, checked without a Docker engine (none runs on the test machines): every file it
// COPYs from the build context exists and is not excluded by .dockerignore, the runtime stage runs the
// package's own bin as a non-root user, exposes DNS and the API, health-checks /healthz, and sets only
// environment variables the config loader reads.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/meridian-process.js';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** The instructions in order, continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const space = line.indexOf(' ');
      return { keyword: line.slice(0, space).toUpperCase(), args: line.slice(space + 1).trim() };
    });
}

const dockerfile = instructions(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const stages = dockerfile.filter((i) => i.keyword === 'FROM');
/** The instructions of the last (runtime) stage. */
const runtime = dockerfile.slice(dockerfile.lastIndexOf(stages.at(-1) as Instruction));
const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
};

void describe('Dockerfile', () => {
  void it('is multi-stage on node:20-bookworm-slim with the addon toolchain in the build stage only', () => {
    assert.ok(stages.length >= 2, 'expected a build and a runtime stage');
    for (const stage of stages) assert.match(stage.args, /^node:20-bookworm-slim\b/);
    const build = dockerfile.slice(0, dockerfile.indexOf(stages[1] as Instruction));
    const apt = build.filter((i) => i.keyword === 'RUN' && i.args.includes('apt-get install'));
    assert.ok(
      apt.some((i) => /\bpython3\b/.test(i.args) && /\bmake\b/.test(i.args) && /\bg\+\+/.test(i.args)),
    );
    assert.ok(!runtime.some((i) => i.keyword === 'RUN' && i.args.includes('apt-get install')));
  });

  void it('copies only files that exist and that .dockerignore lets through', () => {
    const copies = dockerfile.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'));
    assert.ok(copies.length > 0);
    for (const copy of copies) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const source of sources) {
        const path = source.replace(/\/$/, '');
        assert.ok(existsSync(join(REPO_ROOT, path)), `COPY ${source}: no such file in the checkout`);
        assert.ok(
          !ignored.some((pattern) => path === pattern || path.startsWith(`${pattern}/`)),
          `COPY ${source}: excluded by .dockerignore`,
        );
      }
    }
    // The host's builds must not leak into the image.
    for (const pattern of ['node_modules', 'dist', 'src/dns/transport/native/build'])
      assert.ok(ignored.includes(pattern), `.dockerignore does not exclude ${pattern}`);
  });

  void it('runs the package bin `meridian serve` as a non-root user', () => {
    assert.deepEqual(Object.keys(pkg.bin), ['meridian']);
    const cmd = runtime.find((i) => i.keyword === 'CMD');
    assert.deepEqual(JSON.parse(cmd?.args ?? 'null'), ['meridian', 'serve']);
    const user = runtime.find((i) => i.keyword === 'USER');
    assert.ok(
      user !== undefined && user.args !== 'root' && user.args !== '0',
      'the runtime stage runs as root',
    );
    // The bin is put on PATH from the installed prefix the build stage copies over.
    assert.ok(
      runtime.some(
        (i) => i.keyword === 'COPY' && /--from=build \/opt\/meridian \/opt\/meridian/.test(i.args),
      ),
    );
    assert.ok(runtime.some((i) => i.keyword === 'ENV' && i.args.includes('PATH=/opt/meridian/bin:$PATH')));
  });

  void it('exposes DNS and the API and health-checks /healthz', () => {
    const exposed = runtime.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
    assert.deepEqual(exposed.sort(), ['53/tcp', '53/udp', '8053']);
    const health = runtime.find((i) => i.keyword === 'HEALTHCHECK');
    assert.match(health?.args ?? '', /http:\/\/127\.0\.0\.1:8053\/healthz/);
  });

  void it('sets only MERIDIAN_* variables the config loader reads', () => {
    const loader = readFileSync(join(REPO_ROOT, 'src/config/load.ts'), 'utf8');
    const names = runtime
      .filter((i) => i.keyword === 'ENV')
      .flatMap((i) => [...i.args.matchAll(/\b(MERIDIAN_[A-Z_]+)=/g)].map((m) => m[1] as string));
    assert.ok(names.length > 0);
    for (const name of names)
      assert.ok(loader.includes(`env.${name}`), `${name} is not read by src/config/load.ts`);
  });
});
