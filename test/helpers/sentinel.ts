// A throw-away Redis Sentinel topology on loopback for failover tests: one primary, one replica and
// three sentinels (quorum 2), all on free ports, data nodes protected by a password when one is
// given. Every wait is bounded. (A shared `startSentinelTopology` may land in redis-server.ts; this one stands alone.)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server.js';
import { waitFor } from './wait.js';

export const SENTINEL_MASTER = 'mymaster';

export interface SentinelTopology {
  /** The data nodes' password; undefined: none. */
  readonly password: string | undefined;
  /** The sentinels' addresses, for `state.redis.sentinels`. */
  readonly sentinels: readonly { host: string; port: number }[];
  /** The current primary's port, as the sentinels say. */
  primaryPort(): Promise<number>;
  /** SIGKILLs the data node on `port` (no shutdown, no save). */
  killDataNode(port: number): void;
  /** Sends one command to a data node (with AUTH) and returns the raw RESP reply. */
  command(port: number, ...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

const WAIT_MS = 20_000;
/** Starting nodes are probed every 100 ms for up to WAIT_MS. */
const SENTINEL_WAIT = { timeoutMs: WAIT_MS, intervalMs: 100 };

const resp = (args: readonly string[]): string =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** Sends commands on one connection and resolves with the raw text once `done(text)` says so. */
function send(
  port: number,
  commands: string[][],
  done: (text: string) => boolean,
  timeoutMs = 2000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`port ${port}: no complete reply within ${timeoutMs} ms (got ${JSON.stringify(data)})`),
      );
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8');
      if (done(data)) {
        clearTimeout(timer);
        socket.end();
        resolve(data);
      }
    });
    socket.write(commands.map(resp).join(''));
  });
}

/** Whether `text` holds `n` complete top-level simple/integer/error/bulk replies (enough for INFO and PING). */
function repliesComplete(text: string, n: number): boolean {
  let at = 0;
  for (let i = 0; i < n; i++) {
    const eol = text.indexOf('\r\n', at);
    if (eol < 0) return false;
    if (text[at] === '$') {
      const len = Number(text.slice(at + 1, eol));
      const end = eol + 2 + Math.max(0, len) + (len < 0 ? 0 : 2);
      if (Buffer.byteLength(text) < end) return false;
      at = end;
    } else if (text[at] === '*') {
      return true; // arrays: callers wait for their own marker
    } else {
      at = eol + 2;
    }
  }
  return true;
}

/** A probe of a node that may not be listening yet: a connection error counts as "not yet". */
function tolerant(check: () => Promise<boolean>): () => Promise<boolean> {
  return () => check().catch(() => false);
}

export async function startSentinelTopology(options: { password?: string } = {}): Promise<SentinelTopology> {
  const password = options.password;
  const dir = mkdtempSync(join(tmpdir(), 'meridian-sentinel-'));
  const children: ChildProcess[] = [];
  const byPort = new Map<number, ChildProcess>();
  const killAll = (): void => {
    for (const c of children) c.kill('SIGKILL');
  };
  process.on('exit', killAll);

  const launch = (port: number, args: string[]): void => {
    const child = spawn('redis-server', args, { cwd: dir, stdio: 'ignore' });
    children.push(child);
    byPort.set(port, child);
  };
  const command = (port: number, ...args: string[]): Promise<string> =>
    password === undefined
      ? send(port, [args], (t) => repliesComplete(t, 1))
      : send(port, [['AUTH', password], args], (t) => repliesComplete(t, 2)).then((t) =>
          t.slice(t.indexOf('\r\n') + 2),
        );

  const [primary, replica, ...sentinelPorts] = await Promise.all([1, 2, 3, 4, 5].map(() => freePort()));
  const dataArgs = (port: number): string[] => [
    ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', `dump-${port}.rdb`],
    ...['--save', '', '--appendonly', 'no'],
    ...(password === undefined ? [] : ['--requirepass', password, '--masterauth', password]),
  ];
  try {
    launch(primary!, dataArgs(primary!));
    launch(replica!, [...dataArgs(replica!), '--replicaof', '127.0.0.1', String(primary)]);
    await waitFor(
      'replica in sync',
      tolerant(async () =>
        (await command(replica!, 'INFO', 'replication')).includes('master_link_status:up'),
      ),
      SENTINEL_WAIT,
    );
    for (const port of sentinelPorts) {
      const file = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${primary} 2`,
          ...(password === undefined ? [] : [`sentinel auth-pass ${SENTINEL_MASTER} ${password}`]),
          `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
          `sentinel failover-timeout ${SENTINEL_MASTER} 5000`,
          `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
          '',
        ].join('\n'),
      );
      launch(port, [file, '--sentinel']);
    }
    // Every sentinel knows the replica and its two peers before anything is killed.
    for (const port of sentinelPorts) {
      await waitFor(
        `sentinel ${port} ready`,
        tolerant(async () => {
          const text = await send(
            port,
            [['SENTINEL', 'MASTER', SENTINEL_MASTER]],
            // Field names and values are bulk strings; `quorum` comes after the two counts read here.
            (t) => t.includes('quorum'),
          );
          return /num-slaves\r\n\$1\r\n1\r\n/.test(text) && /num-other-sentinels\r\n\$1\r\n2\r\n/.test(text);
        }),
        SENTINEL_WAIT,
      );
    }
  } catch (err) {
    killAll();
    process.off('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    password,
    sentinels: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
    primaryPort: async () => {
      const text = await send(
        sentinelPorts[0]!,
        [['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER]],
        (t) => /^\*2\r\n\$\d+\r\n[^\r]*\r\n\$\d+\r\n\d+\r\n$/.test(t),
      );
      return Number(text.trim().split('\r\n').pop());
    },
    killDataNode: (port) => {
      byPort.get(port)?.kill('SIGKILL');
    },
    command,
    stop: async () => {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) {
                resolve();
                return;
              }
              c.once('exit', () => resolve());
              c.kill('SIGKILL');
            }),
        ),
      );
      process.off('exit', killAll);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
