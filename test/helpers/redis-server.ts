// Spawns a real, throw-away redis-server on a free loopback port for a test file.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export interface RedisHandle {
  /** `redis://127.0.0.1:<port>`, with the password (`redis://:<password>@…`) when it has one. */
  readonly url: string;
  readonly port: number;
  /** Stops the server (idempotent). Its data is gone: it runs without persistence. */
  stop(): Promise<void>;
  /** Stops the server and starts a fresh, empty one on the same port. */
  restart(): Promise<void>;
  /** Kills the server process but keeps the handle (Redis is "down"); `start()` brings it back, empty. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Sends one command (RESP) and returns the raw reply text; authenticates first when password-protected. */
  command(...args: string[]): Promise<string>;
}

const START_TIMEOUT_MS = 10_000;

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port);
        else reject(new Error('could not pick a free port'));
      });
    });
  });
}

/** Whether `data` holds one complete RESP reply (simple, integer, error or bulk string). */
function complete(data: string): boolean {
  const eol = data.indexOf('\r\n');
  if (eol < 0) return false;
  if (data[0] !== '$') return true;
  const len = Number(data.slice(1, eol));
  return len < 0 || Buffer.byteLength(data) >= eol + 2 + len + 2;
}

/** Sends a command using RESP and resolves with the reply's raw text once it is complete. */
function rawCommand(port: number, args: string[], timeoutMs = 2000, password?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis on port ${port} did not answer ${args[0] ?? ''} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // With a password, AUTH goes first and its reply (+OK or an error) is dropped.
    let authReply = password !== undefined;
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8');
      if (authReply) {
        const eol = data.indexOf('\r\n');
        if (eol < 0) return;
        data = data.slice(eol + 2);
        authReply = false;
      }
      if (complete(data)) {
        clearTimeout(timer);
        socket.end();
        resolve(data);
      }
    });
    const encode = (cmd: string[]): string =>
      `*${cmd.length}\r\n${cmd.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
    socket.write((password === undefined ? '' : encode(['AUTH', password])) + encode(args));
  });
}

function assertInstalled(): void {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      'redis-server is not installed or not on PATH (install the redis-server package); ' +
        `these tests need a real Redis: ${probe.error?.message ?? probe.stderr}`,
    );
  }
}

export interface StartRedisOptions {
  /** `requirepass`: clients must authenticate (the handle's url carries it). */
  readonly password?: string;
  /** Extra redis-server arguments (e.g. `--replicaof`, `--masterauth`). */
  readonly args?: readonly string[];
}

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisHandle> {
  const { password } = options;
  assertInstalled();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'meridian-redis-'));
  let child: ChildProcess | undefined;
  let stderr = '';

  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const launch = async (): Promise<void> => {
    stderr = '';
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        ...(password === undefined ? [] : ['--requirepass', password]),
        ...(options.args ?? []),
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = proc;
    proc.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    let exited = false;
    proc.once('exit', () => {
      exited = true;
    });
    await waitFor(
      `redis-server on port ${port} to answer PING`,
      async () => {
        if (exited) throw new Error(`redis-server exited during start-up on port ${port}: ${stderr}`);
        // A refused connection means "not listening yet".
        const reply = await rawCommand(port, ['PING'], 500, password).catch(() => '');
        return reply.startsWith('+PONG');
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 25 },
    ).catch((err: unknown) => {
      if (exited) throw err;
      proc.kill('SIGKILL');
      throw new Error(`${err instanceof Error ? err.message : String(err)}: ${stderr}`);
    });
  };

  const halt = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      proc.kill('SIGKILL');
    });
  };

  await launch();
  let stopped = false;
  return {
    url:
      password === undefined
        ? `redis://127.0.0.1:${port}`
        : `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    port,
    command: (...args) => rawCommand(port, args, 2000, password),
    restart: async () => {
      if (stopped) throw new Error('restart() after stop()');
      await halt();
      await launch();
    },
    kill: () => halt(),
    start: async () => {
      if (stopped) throw new Error('start() after stop()');
      if (child === undefined) await launch();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await halt();
      process.off('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
