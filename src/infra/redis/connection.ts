// The one way Meridian opens a Redis connection. Every store, the policy engine and the proxy
// workers come through here, so standalone, Sentinel, Cluster, TLS and credentials behave the same
// for all of them (three hand-made factories used to disagree: a Sentinel's password reached the
// state connection but not the ops or policy one).
//
// `redisSettings(state.redis)` turns the configuration into plain, JSON-safe settings: the primary
// sends them as they are over IPC to proxy workers, which open their own connection with
// `openRedis`. `openRedis(settings, { name, profile })` opens one connection; the profile says how
// commands behave while it is disconnected (see `ConnectionProfile`).
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { MeridianError, describeError } from '../../core/errors.js';
import type { DeepReadonly } from '../../config/load.js';
import type { StateConfig } from '../../config/schema.js';
import type { Logger } from '../logger.js';

/** An ioredis connection: standalone/Sentinel `Redis` or `Cluster`. */
export type RedisConnection = Redis | Cluster;

export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
}

/** Everything needed to open a connection; plain JSON, so it can cross an IPC channel. */
export interface RedisSettings {
  readonly mode: 'standalone' | 'sentinel' | 'cluster';
  /** standalone: the server; sentinel: the Sentinels; cluster: the seed nodes. */
  readonly endpoints: readonly RedisEndpoint[];
  /** Sentinel mode: the name of the monitored master. */
  readonly sentinelName?: string;
  /** From the URL (`redis://user:password@…`): the Redis servers' credentials, in every mode. */
  readonly username?: string;
  readonly password?: string;
  /** Credentials of the Sentinels themselves (their own `requirepass`), when they have one. */
  readonly sentinelUsername?: string;
  readonly sentinelPassword?: string;
  /** From the URL's path; standalone and Sentinel only (Cluster has one database). */
  readonly db?: number;
  /** `rediss://`: TLS to every Redis process, Sentinels and Cluster nodes included. */
  readonly tls: boolean;
  readonly commandTimeoutMs: number;
}

/**
 * How commands behave while the connection is down.
 * - `fail-fast`: no offline queue, no retry, no resend: a command fails at once (state writes,
 *   which must never be replayed late).
 * - `queued`: commands wait for the reconnect and are retried once (ops records, tasks, policies,
 *   cluster-wide rate limits).
 * - `subscriber`: for SUBSCRIBE; queued until connected, no automatic resubscribe (the owner
 *   subscribes on every 'ready' and resyncs, since messages sent meanwhile are lost).
 */
export type ConnectionProfile = 'fail-fast' | 'queued' | 'subscriber';

export interface OpenRedisOptions {
  /** Shown in CLIENT LIST as `meridian-<name>`, and in errors. */
  readonly name: string;
  readonly profile: ConnectionProfile;
  /** Connection errors are logged here at debug level; the owner reports what matters. */
  readonly logger: Logger;
}

const CONNECT_TIMEOUT_MS = 5000;

/** Reconnect delays: 100, 200, 400 … capped at 2 s. */
export const retryDelayMs = (attempt: number): number =>
  Math.min(100 * 2 ** Math.min(Math.max(attempt, 1) - 1, 5), 2000);

function configError(message: string): MeridianError {
  return new MeridianError('E_CONFIG', `state.redis: ${message}`);
}

function parseUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw configError(
      `url ${JSON.stringify(url)} is not a URL (expected redis[s]://[user:password@]host:port[/db])`,
    );
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw configError(`url scheme ${u.protocol} is not redis: or rediss:`);
  return u;
}

/** The connection settings `state.redis` describes. Throws E_CONFIG on a malformed URL. */
export function redisSettings(cfg: DeepReadonly<StateConfig['redis']>): RedisSettings {
  const u = parseUrl(cfg.url);
  const endpoints = (nodes: DeepReadonly<RedisEndpoint[]>): RedisEndpoint[] =>
    nodes.map((n) => ({ host: n.host, port: n.port }));
  const mode = cfg.cluster.length > 0 ? 'cluster' : cfg.sentinels.length > 0 ? 'sentinel' : 'standalone';
  const dbText = u.pathname.slice(1);
  if (dbText !== '' && !/^\d+$/.test(dbText))
    throw configError(`url path /${dbText} is not a database number`);
  return {
    mode,
    endpoints:
      mode === 'cluster'
        ? endpoints(cfg.cluster)
        : mode === 'sentinel'
          ? endpoints(cfg.sentinels)
          : [{ host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port === '' ? 6379 : Number(u.port) }],
    ...(mode === 'sentinel' ? { sentinelName: cfg.sentinelName } : {}),
    ...(u.username === '' ? {} : { username: decodeURIComponent(u.username) }),
    ...(u.password === '' ? {} : { password: decodeURIComponent(u.password) }),
    ...(cfg.sentinelUsername === undefined ? {} : { sentinelUsername: cfg.sentinelUsername }),
    ...(cfg.sentinelPassword === undefined ? {} : { sentinelPassword: cfg.sentinelPassword }),
    ...(dbText === '' || mode === 'cluster' ? {} : { db: Number(dbText) }),
    tls: u.protocol === 'rediss:',
    commandTimeoutMs: cfg.commandTimeoutMs,
  };
}

/** Where the settings point, for messages (never includes credentials). */
export function describeRedis(settings: RedisSettings): string {
  const list = settings.endpoints.map((e) => `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`);
  if (settings.mode === 'cluster') return `Redis Cluster ${list.join(',')}`;
  if (settings.mode === 'sentinel')
    return `Redis Sentinel ${list.join(',')} (master ${settings.sentinelName ?? 'mymaster'})`;
  return `Redis at ${list.join(',')}`;
}

/** The options of one server connection (for Cluster: of each node connection). */
export function serverOptions(settings: RedisSettings, options: OpenRedisOptions) {
  const profile = options.profile;
  return {
    connectionName: `meridian-${options.name}`,
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: retryDelayMs,
    enableOfflineQueue: profile !== 'fail-fast',
    maxRetriesPerRequest: profile === 'queued' ? 1 : 0,
    autoResendUnfulfilledCommands: profile === 'queued',
    autoResubscribe: false,
    ...(settings.username === undefined ? {} : { username: settings.username }),
    ...(settings.password === undefined ? {} : { password: settings.password }),
    ...(settings.db === undefined ? {} : { db: settings.db }),
    ...(settings.tls ? { tls: {} } : {}),
  } satisfies RedisOptions;
}

/** Opens one connection. It connects in the background; `whenReady` waits for it with a clear error. */
export function openRedis(settings: RedisSettings, options: OpenRedisOptions): RedisConnection {
  const perServer = serverOptions(settings, options);
  let conn: RedisConnection;
  if (settings.mode === 'cluster') {
    // The Cluster client queues and retries itself; its node connections take the rest.
    const { enableOfflineQueue, retryStrategy: _perNode, ...nodeOptions } = perServer;
    const clusterOptions = {
      enableOfflineQueue,
      clusterRetryStrategy: retryDelayMs,
      redisOptions: nodeOptions,
    } satisfies ClusterOptions;
    conn = new Cluster(
      settings.endpoints.map((e) => ({ host: e.host, port: e.port })),
      clusterOptions,
    );
  } else if (settings.mode === 'sentinel') {
    conn = new Redis({
      ...perServer,
      sentinels: settings.endpoints.map((e) => ({ host: e.host, port: e.port })),
      name: settings.sentinelName ?? 'mymaster',
      ...(settings.sentinelUsername === undefined ? {} : { sentinelUsername: settings.sentinelUsername }),
      ...(settings.sentinelPassword === undefined ? {} : { sentinelPassword: settings.sentinelPassword }),
      ...(settings.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      sentinelRetryStrategy: retryDelayMs,
    });
  } else {
    const [server] = settings.endpoints;
    if (server === undefined) throw configError('no Redis server to connect to');
    conn = new Redis({ ...perServer, host: server.host, port: server.port });
  }
  // Without a listener ioredis prints "Unhandled error event" on every failed reconnect.
  conn.on('error', (err: unknown) =>
    options.logger.debug({ err: describeError(err), connection: options.name }, 'redis connection error'),
  );
  return conn;
}

/** Replies that no reconnect will fix: waiting for them would only delay a clear error. */
const PERMANENT = /^(WRONGPASS|NOAUTH|NOPERM)\b|invalid password|invalid username/i;

/**
 * Resolves once `conn` is ready. Rejects with E_UNAVAILABLE naming `what` (the store) at once on a
 * credentials error, or after `timeoutMs` with the last connection error.
 */
export function whenReady(
  conn: RedisConnection,
  what: string,
  timeoutMs = CONNECT_TIMEOUT_MS,
): Promise<void> {
  if (conn.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError = '';
    const finish = (err?: MeridianError): void => {
      clearTimeout(timer);
      conn.off('ready', onReady);
      conn.off('error', onError);
      if (err === undefined) resolve();
      else reject(err);
    };
    const fail = (reason: string): MeridianError =>
      new MeridianError('E_UNAVAILABLE', `${what}: cannot use Redis: ${reason}`);
    const onReady = (): void => finish();
    const onError = (err: unknown): void => {
      lastError = describeError(err);
      if (PERMANENT.test(lastError)) finish(fail(lastError));
    };
    const timer = setTimeout(() => {
      finish(fail(`not connected within ${timeoutMs} ms${lastError === '' ? '' : `: ${lastError}`}`));
    }, timeoutMs);
    conn.on('ready', onReady);
    conn.on('error', onError);
  });
}

/** Closes a connection politely when it is up, at once otherwise. */
export async function closeRedis(conn: RedisConnection): Promise<void> {
  if (conn.status === 'ready') await conn.quit().catch(() => undefined);
  conn.disconnect();
}

/**
 * The settings an open connection was made with, read back from its options: what a proxy
 * worker receives over IPC to open its own. Works for any ioredis connection, not only ours.
 */
export function connectionSettings(conn: RedisConnection): RedisSettings {
  /** `{ [name]: value }` for a non-empty string, else nothing (settings never hold undefined). */
  const textField = <K extends string>(name: K, value: unknown): { [P in K]?: string } =>
    typeof value === 'string' && value !== '' ? ({ [name]: value } as { [P in K]: string }) : {};
  const credentials = (o: Partial<RedisOptions>) => ({
    ...textField('username', o.username),
    ...textField('password', o.password),
  });
  if (conn instanceof Cluster) {
    const node = (n: { host?: string | undefined; port?: number | undefined }): RedisEndpoint => ({
      host: n.host ?? '127.0.0.1',
      port: n.port ?? 6379,
    });
    const live = conn.nodes('master').map((n) => node(n.options));
    // Before the first connect no node is known yet: fall back to the seeds it was given.
    const seeds = ((conn as unknown as { startupNodes?: unknown[] }).startupNodes ?? [])
      .filter((n): n is { host?: string; port?: number } => typeof n === 'object' && n !== null)
      .map(node);
    const nodeOptions = conn.options.redisOptions ?? {};
    return {
      mode: 'cluster',
      endpoints: live.length > 0 ? live : seeds,
      ...credentials(nodeOptions),
      tls: nodeOptions.tls !== undefined,
      commandTimeoutMs: nodeOptions.commandTimeout ?? 2000,
    };
  }
  const o = conn.options;
  const sentinels = (o.sentinels ?? []).map((n) => ({ host: n.host ?? '127.0.0.1', port: n.port ?? 26379 }));
  return {
    mode: sentinels.length > 0 ? 'sentinel' : 'standalone',
    endpoints: sentinels.length > 0 ? sentinels : [{ host: o.host ?? '127.0.0.1', port: o.port ?? 6379 }],
    ...(sentinels.length > 0 ? { sentinelName: o.name ?? 'mymaster' } : {}),
    ...credentials(o),
    ...textField('sentinelUsername', o.sentinelUsername),
    ...textField('sentinelPassword', o.sentinelPassword),
    ...(o.db === undefined || o.db === 0 ? {} : { db: o.db }),
    tls: o.tls !== undefined,
    commandTimeoutMs: o.commandTimeout ?? 2000,
  };
}
