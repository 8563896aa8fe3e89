// A real validating resolver (`unbound`, Debian package unbound) for DNSSEC tests: its own temp
// directory and config, on a free loopback port, in the foreground (-d), with one zone's trust anchor
// and that zone as a stub zone on a given address — with the client-subnet module, so ECS from the
// client reaches the stub. The Debian service and its config play no part. Stopped by its pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pickFreePort } from '../../src/dns/transport/server.js';
import { dig } from './dig.js';
import { waitFor } from './wait.js';

export interface Unbound {
  readonly port: number;
  /** unbound's log so far (stderr), for failure messages. */
  log(): string;
  close(): Promise<void>;
}

export interface UnboundOptions {
  /** The zone (no trailing dot), validated with `trustAnchor` and resolved through `stubPort`. */
  readonly zone: string;
  /** The KSK in presentation form (`zone. IN DNSKEY 257 3 13 …`). */
  readonly trustAnchor: string;
  readonly stubPort: number;
}

export async function startUnbound(options: UnboundOptions): Promise<Unbound> {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-unbound-'));
  const port = await pickFreePort('127.0.0.1');
  const config = [
    'server:',
    '  interface: 127.0.0.1',
    `  port: ${port}`,
    '  username: ""',
    '  chroot: ""',
    `  directory: "${dir}"`,
    '  pidfile: ""',
    '  use-syslog: no',
    '  logfile: ""',
    '  verbosity: 1',
    '  val-log-level: 2',
    '  num-threads: 1',
    '  do-ip6: no',
    // The stub is on loopback; unbound refuses to query it otherwise.
    '  do-not-query-localhost: no',
    '  access-control: 127.0.0.0/8 allow',
    // *.test is one of unbound's built-in local zones (RFC 6761): let ours through.
    '  local-zone: "test." nodefault',
    '  qname-minimisation: no',
    '  module-config: "subnetcache validator iterator"',
    `  client-subnet-zone: "${options.zone}"`,
    '  send-client-subnet: 127.0.0.1',
    '  max-client-subnet-ipv4: 24',
    `  trust-anchor: "${options.trustAnchor}"`,
    'stub-zone:',
    `  name: "${options.zone}"`,
    `  stub-addr: 127.0.0.1@${options.stubPort}`,
    'remote-control:',
    '  control-enable: no',
    '',
  ].join('\n');
  const configPath = join(dir, 'unbound.conf');
  writeFileSync(configPath, config);
  let log = '';
  const child: ChildProcess = spawn('unbound', ['-d', '-c', configPath], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(new Error(`unbound did not start (install Debian's unbound): ${err.message}`)),
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
      waitFor(
        'unbound to answer',
        async () => {
          if (child.exitCode !== null) throw new Error(`unbound exited: ${log}`);
          // Any reply will do (the zone may be SERVFAIL on purpose): unbound is up.
          return (
            (await dig({ host: '127.0.0.1', port }, ['+norec', 'localhost', 'A'], { timeoutSeconds: 1 }))
              .status !== ''
          );
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      ),
    ]);
  } catch (err) {
    await close();
    throw err;
  }
  return { port, log: () => log, close };
}
