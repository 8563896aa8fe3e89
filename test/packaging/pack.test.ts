// The package an operator installs: `npm pack` (which builds dist/ through the prepare script), a
// global install of the tarball into a temporary prefix, then the installed `meridian serve` started
// from another temporary folder with DNS workers: 2 — answering DNS through the native addon found
// from dist/, and /healthz — with no tsx anywhere in the install.
//
// Bounded: the install reads the npm cache first (--prefer-offline; `npm ci` filled it) and runs no
// dependency's install script (--ignore-scripts): re2 would otherwise compile from source for minutes
// wherever its prebuilt download is out of reach, so the checkout's own re2 binary (same Node, same
// machine) is copied in, and then the package's own install script — the one that builds the UDP
// addon from the shipped sources — is run in the installed package exactly as npm runs it.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { answerData, dig } from '../helpers/dig.js';
import { waitFor } from '../helpers/wait.js';
import { REPO_ROOT, tempDir, type ConfigDoc } from '../helpers/meridian-process.js';

const PACK_TIMEOUT_MS = 180_000;
const INSTALL_TIMEOUT_MS = 300_000;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion within `timeoutMs` (then kills it); never rejects. */
function run(
  file: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<Run> {
  return new Promise((resolveRun) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolveRun({ code, stdout, stderr });
      },
    );
  });
}

/**
 * The shipped example config as the README's systemd recipe makes it (copied elsewhere, its `../`
 * paths rewritten into the package: `sed "s|\.\./|$pkg/|"`), then made to run beside other tests:
 * loopback port 0, temp state, DNS workers: 2.
 */
function writeConfig(packageDir: string, dir: string): string {
  const shipped = readFileSync(join(packageDir, 'config', 'meridian.yaml'), 'utf8');
  const doc = parse(shipped.replace(/^(.*?)\.\.\//gm, `$1${packageDir}/`)) as ConfigDoc;
  doc.state = { ...doc.state, file: join(dir, 'state.json') };
  doc.api = { ...doc.api, listen: '127.0.0.1:0' };
  doc.dns = { ...doc.dns, listen: ['127.0.0.1:0'], workers: 2 };
  doc.log = { level: 'info' };
  const path = join(dir, 'meridian.yaml');
  writeFileSync(path, stringify(doc));
  return path;
}

function match(text: string, pattern: RegExp): string {
  const m = pattern.exec(text);
  assert.ok(m?.[1] !== undefined, `no match for ${String(pattern)} in:\n${text}`);
  return m[1];
}

void describe('npm pack → global install → meridian serve from another folder', () => {
  let prefix: string;
  let packageDir: string;
  let bin: string;
  let child: ChildProcess | undefined;
  let stdout = '';
  let stderr = '';
  let work: string | undefined;
  let cwd: string;

  // Packing (a full tsc build) and installing take minutes on a loaded 2-core machine: more than the
  // suite's per-test default, so the hook carries its own bound.
  before(
    async () => {
      work = tempDir('meridian-pack-');
      const packed = await run('npm', ['pack', '--pack-destination', work], {
        cwd: REPO_ROOT,
        timeoutMs: PACK_TIMEOUT_MS,
      });
      assert.equal(packed.code, 0, `npm pack failed:\n${packed.stdout}\n${packed.stderr}`);
      const tarball = join(work, `meridian-gslb-${VERSION}.tgz`);
      assert.ok(existsSync(tarball), `npm pack wrote no ${tarball}:\n${packed.stdout}`);

      prefix = join(work, 'prefix');
      const installed = await run(
        'npm',
        [
          'install',
          '-g',
          '--prefer-offline',
          '--ignore-scripts',
          '--no-audit',
          '--no-fund',
          '--prefix',
          prefix,
          tarball,
        ],
        { cwd: work, timeoutMs: INSTALL_TIMEOUT_MS },
      );
      assert.equal(installed.code, 0, `npm install -g failed:\n${installed.stdout}\n${installed.stderr}`);
      packageDir = join(prefix, 'lib', 'node_modules', 'meridian-gslb');
      bin = join(prefix, 'bin', 'meridian');
      const re2Build = join(packageDir, 'node_modules', 're2', 'build', 'Release');
      mkdirSync(re2Build, { recursive: true });
      copyFileSync(join(REPO_ROOT, 'node_modules/re2/build/Release/re2.node'), join(re2Build, 're2.node'));
      const addon = await run('npm', ['run', 'install'], { cwd: packageDir, timeoutMs: INSTALL_TIMEOUT_MS });
      assert.equal(addon.code, 0, `the package's install script failed:\n${addon.stdout}\n${addon.stderr}`);

      // Another folder than the checkout or the package, and the config elsewhere again (as /etc).
      cwd = join(work, 'cwd');
      mkdirSync(cwd);
      const etc = join(work, 'etc');
      mkdirSync(etc);
      const config = writeConfig(packageDir, etc);
      child = spawn(bin, ['serve', '--config', config], {
        cwd,
        env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MERIDIAN_'))),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      await waitFor(
        'the installed meridian to print its admin API address',
        () => {
          if (child?.exitCode !== null) throw new Error(`meridian serve exited:\n${stdout}\n${stderr}`);
          return stdout.includes('meridian: admin API on ');
        },
        { timeoutMs: START_TIMEOUT_MS },
      );
    },
    { timeout: PACK_TIMEOUT_MS + INSTALL_TIMEOUT_MS + START_TIMEOUT_MS },
  );

  after(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child?.once('exit', done));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    // The installed prefix holds a full node_modules: do not leave it in /tmp.
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  void it('installs the compiled bin, the built addon and the shipped files, without tsx', () => {
    assert.ok(existsSync(bin), `no ${bin}`);
    assert.ok(existsSync(join(packageDir, 'dist', 'cli', 'main.js')));
    assert.ok(existsSync(join(packageDir, 'src/dns/transport/native/build/Release/udp_batch.node')));
    assert.ok(existsSync(join(packageDir, 'src/dns/transport/native/build/Release/map_file.node')));
    assert.ok(existsSync(join(packageDir, 'geo-data', 'test-city.mmdb')));
    assert.ok(existsSync(join(packageDir, 'config', 'meridian.yaml')));
    assert.ok(
      !existsSync(join(packageDir, 'node_modules', 'tsx')),
      'tsx was installed as a runtime dependency',
    );
    const shipped = readdirSync(packageDir).sort();
    assert.deepEqual(shipped, [
      'CHANGELOG.md',
      'README.md',
      'config',
      'dist',
      'geo-data',
      'node_modules',
      'package.json',
      'src',
    ]);
  });

  void it('reports the version from package.json', async () => {
    const r = await run(bin, ['--version'], { cwd, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), VERSION);
  });

  void it('answers DNS from two workers through the native addon', async () => {
    const port = Number(match(stdout, /DNS udp on 127\.0\.0\.1:(\d+)/));
    const r = await dig({ host: '127.0.0.1', port }, ['+norec', 'ns1.example.test', 'A']);
    assert.equal(r.status, 'NOERROR', r.raw);
    assert.deepEqual(answerData(r, 'A'), ['192.0.2.53']);
    // Each worker (a thread: its process and thread id) logs its UDP engine: two workers, both on
    // the addon found from dist/.
    const batchedWorkers = new Set(
      stderr
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { pid?: number; worker?: number; udpEngine?: string })
        .filter((entry) => entry.udpEngine === 'batched')
        .map((entry) => `${entry.pid}/${entry.worker}`),
    );
    assert.equal(batchedWorkers.size, 2, `expected two workers on the batched addon:\n${stderr}`);
    assert.match(stderr, /"workerKind":"thread"/);
    assert.match(stderr, /"workers":2,.*"msg":"DNS listening \(cluster\)"/);
    assert.match(stderr, /"msg":"geo databases loaded"/);
    assert.ok(
      stderr.includes(`"path":"${packageDir}/geo-data/test-city.mmdb"`),
      'the bundled geo data was not loaded',
    );
  });

  void it('serves /healthz', async () => {
    const api = match(stdout, /meridian: admin API on (http:\/\/\S+)/);
    const res = await fetch(`${api}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { status?: unknown }).status, 'ok');
  });
});
