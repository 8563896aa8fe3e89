// Runs the real `meridian` command in child processes: `serve` in the background (its admin API
// address parsed from stdout) and one-shot CLI invocations with their exit code and output.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(REPO_ROOT, 'src/cli/main.ts');
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const CLI_TIMEOUT_MS = 30_000;

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface MeridianProcess {
  /** e.g. http://127.0.0.1:41234 */
  readonly apiUrl: string;
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then waits for the exit (SIGKILL after 10 s). Idempotent. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The parent's environment without MERIDIAN_* variables (so a developer's shell cannot leak in). */
function baseEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MERIDIAN_')) env[k] = v;
  return { ...env, ...extra };
}

/** A temp folder for one test file. */
export function tempDir(prefix = 'meridian-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Writes a config derived from config/meridian.yaml into `dir`: ports 0 on loopback, a state file in
 * `dir`, geo database paths made absolute, logs at warn. `mutate` edits the parsed document last.
 */
/** A parsed YAML config document, edited freely by tests. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ConfigDoc = Record<string, any>;

export function writeTestConfig(
  dir: string,
  mutate?: (doc: ConfigDoc) => void,
  name = 'meridian.yaml',
): string {
  const configDir = join(REPO_ROOT, 'config');
  const doc = parse(readFileSync(join(configDir, 'meridian.yaml'), 'utf8')) as ConfigDoc;
  doc.state = { ...doc.state, file: join(dir, 'state.json') };
  doc.api = { ...doc.api, listen: '127.0.0.1:0' };
  doc.dns = { ...doc.dns, listen: ['127.0.0.1:0'] };
  if (doc.dns.geo?.databases !== undefined) {
    doc.dns.geo.databases = (doc.dns.geo.databases as string[]).map((p) =>
      isAbsolute(p) ? p : resolve(configDir, p),
    );
  }
  doc.log = { level: 'warn' };
  mutate?.(doc);
  const path = join(dir, name);
  writeFileSync(path, stringify(doc));
  return path;
}

/**
 * Starts `meridian serve --config <configPath>` and resolves once its admin API address is printed.
 * `cwd` defaults to the checkout root; elsewhere the CLI is started through src/cli/bin.js, as an
 * installed `meridian` would be (a bare `--import tsx` would not resolve outside the checkout).
 */
export function startMeridian(
  configPath: string,
  env: NodeJS.ProcessEnv = {},
  options: { cwd?: string } = {},
): Promise<MeridianProcess> {
  const entry = options.cwd === undefined ? ['--import', 'tsx', MAIN] : [join(REPO_ROOT, 'src/cli/bin.js')];
  const child = spawn(process.execPath, [...entry, 'serve', '--config', configPath], {
    cwd: options.cwd ?? REPO_ROOT,
    env: baseEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });
  let stopping: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;

  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    })();
    return stopping;
  };

  return new Promise((resolveStart, reject) => {
    const deadline = setTimeout(() => {
      void stop();
      reject(
        new Error(
          `meridian serve did not print its admin API address within ${START_TIMEOUT_MS} ms\n${out}\n${err}`,
        ),
      );
    }, START_TIMEOUT_MS);
    const onData = (): void => {
      const m = /meridian: admin API on (https?:\/\/\S+)/.exec(out);
      if (m?.[1] === undefined) return;
      clearTimeout(deadline);
      child.stdout.off('data', onData);
      resolveStart({ apiUrl: m[1], child, stdout: () => out, stderr: () => err, stop });
    };
    child.stdout.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(deadline);
      reject(
        new Error(`meridian serve exited (code ${code}, signal ${signal}) before starting:\n${out}\n${err}`),
      );
    });
  });
}

/** Runs `meridian ARGS` to completion (bounded) with `env` on top of a MERIDIAN_*-free environment. */
export function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  options: {
    bin?: boolean;
    /** Written to the CLI's stdin (a password); else stdin is empty. */ input?: string;
  } = {},
): Promise<CliResult> {
  const entry = options.bin === true ? [join(REPO_ROOT, 'src/cli/bin.js')] : ['--import', 'tsx', MAIN];
  const child = spawn(process.execPath, [...entry, ...args], {
    cwd: REPO_ROOT,
    env: baseEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // Without input, stdin is empty (ends at once), as when it was ignored.
  child.stdin.end(options.input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((resolveRun) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, stdout, stderr });
    });
  });
}
