// A real Knot DNS secondary (`knotd`, Debian package knot) for zone transfer tests: its own temp
// directory and config, listening on a free loopback port, transferring one zone from a primary
// with a TSIG key and accepting NOTIFY from it (signed with the same key). Stopped by its pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TsigArg } from './kdig.js';
import { kdig } from './kdig.js';
import { waitFor } from './wait.js';

export interface KnotSecondary {
  readonly port: number;
  /** knotd's log so far (stderr), for assertions and failure messages. */
  log(): string;
  close(): Promise<void>;
}

export interface KnotOptions {
  readonly port: number;
  readonly zone: string;
  readonly primaryPort: number;
  readonly key: TsigArg;
}

export async function startKnotSecondary(options: KnotOptions): Promise<KnotSecondary> {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-knot-'));
  const config = [
    'server:',
    `    rundir: "${dir}"`,
    `    listen: 127.0.0.1@${options.port}`,
    `    pidfile: "${join(dir, 'knot.pid')}"`,
    'database:',
    `    storage: "${dir}"`,
    'log:',
    '  - target: stderr',
    '    any: info',
    'key:',
    `  - id: ${options.key.name}`,
    '    algorithm: hmac-sha256',
    `    secret: ${options.key.secret}`,
    'remote:',
    '  - id: meridian',
    `    address: 127.0.0.1@${options.primaryPort}`,
    `    key: ${options.key.name}`,
    'acl:',
    '  - id: notify-from-meridian',
    '    address: 127.0.0.1',
    `    key: ${options.key.name}`,
    '    action: notify',
    'zone:',
    `  - domain: ${options.zone}`,
    '    master: meridian',
    '    acl: notify-from-meridian',
    `    file: "${join(dir, `${options.zone}.zone`)}"`,
    '',
  ].join('\n');
  const configPath = join(dir, 'knot.conf');
  writeFileSync(configPath, config);
  let log = '';
  const child: ChildProcess = spawn('knotd', ['-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(new Error(`knotd did not start (install Debian's knot): ${err.message}`)),
    ),
  );
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.pid !== undefined) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      spawnError,
      waitFor('knotd to answer', async () => {
        if (child.exitCode !== null) throw new Error(`knotd exited: ${log}`);
        const r = await kdig({ host: '127.0.0.1', port: options.port }, ['+notcp', options.zone, 'SOA']);
        return r.status !== '';
      }),
    ]);
  } catch (err) {
    await close();
    throw err;
  }
  return { port: options.port, log: () => log, close };
}
