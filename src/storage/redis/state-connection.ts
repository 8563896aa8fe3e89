// The state store's two Redis connections (commands, change-feed subscriber), what the store needs
// from them, and the one error it raises when Redis cannot be used. Connections come from the one
// factory in infra/redis/connection.ts, so credentials, TLS, Sentinel and Cluster mean the same here.
import type { EventEmitter } from 'node:events';
import { MeridianError } from '../../core/errors.js';
import type { DeepReadonly } from '../../config/load.js';
import type { StateConfig } from '../../config/schema.js';
import type { Logger } from '../../infra/logger.js';
import { openRedis, redisSettings } from '../../infra/redis/connection.js';

/** What this store needs from an ioredis `Redis` or `Cluster` connection. */
export interface Connection extends EventEmitter {
  readonly status: string;
  call(command: string, args: (string | number)[]): Promise<unknown>;
  subscribe(...channels: string[]): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** Names the Redis deployment in logs, errors and degraded reasons (never with credentials). */
export function describeTarget(cfg: DeepReadonly<StateConfig['redis']>): string {
  if (cfg.cluster.length > 0)
    return `Redis Cluster ${cfg.cluster.map((n) => `${n.host}:${n.port}`).join(',')}`;
  if (cfg.sentinels.length > 0) {
    return `Redis Sentinel ${cfg.sentinels.map((n) => `${n.host}:${n.port}`).join(',')} (master ${cfg.sentinelName})`;
  }
  try {
    const u = new URL(cfg.url);
    return `Redis at ${u.hostname}:${u.port === '' ? '6379' : u.port}`;
  } catch {
    return 'Redis';
  }
}

/** The command connection (writes fail at once while disconnected) and the subscriber. */
export function connect(
  cfg: DeepReadonly<StateConfig['redis']>,
  logger: Logger,
): { main: Connection; sub: Connection } {
  const settings = redisSettings(cfg);
  return {
    main: openRedis(settings, { name: 'state', profile: 'fail-fast', logger }),
    sub: openRedis(settings, { name: 'state-sub', profile: 'subscriber', logger }),
  };
}

/** The state store cannot reach or use Redis (HTTP 503). */
export const unavailable = (detail: string, cause?: unknown): MeridianError =>
  new MeridianError(
    'E_UNAVAILABLE',
    `state store unavailable: ${detail}`,
    cause === undefined ? undefined : { cause },
  );
