// One undici Pool per upstream (a backend, or a peer region's proxy for cross-region fallback).
// The set follows the store: new backends get a pool, removed or re-addressed ones are retired —
// their pool closes gracefully once its queued and running requests finish, so a change never
// drops an in-flight request.
import { Pool } from 'undici';
import type { Logger } from '../../infra/logger.js';
import { describeError } from '../../core/errors.js';

export interface UpstreamOptions {
  readonly connections: number;
  readonly keepAliveTimeoutMs: number;
  readonly connectMs: number;
}

export class Upstream {
  readonly id: string;
  readonly url: string;
  readonly origin: string;
  /** Path prefix from the backend URL ('' for none), prepended to every request path. */
  readonly pathPrefix: string;
  readonly pool: Pool;
  /** Requests pending or running on this upstream (this process's count). */
  inFlight = 0;
  /** Of those, retries (the max_retries circuit breaker). */
  retriesInFlight = 0;
  retired = false;

  constructor(id: string, url: string, options: UpstreamOptions, logger: Logger) {
    const parsed = new URL(url);
    this.id = id;
    this.url = url;
    this.origin = parsed.origin;
    this.pathPrefix = parsed.pathname === '/' ? '' : parsed.pathname.replace(/\/+$/, '');
    this.pool = new Pool(this.origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      // Keep-alive hints from the backend may shorten the timeout but never lengthen it.
      keepAliveMaxTimeout: options.keepAliveTimeoutMs,
      // Off by default: a request with a body (or an upgrade) gives undici its timeouts in its
      // dispatch options; the others' are kept by the engine's Deadlines (deadlines.ts says why).
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: { timeout: options.connectMs, noDelay: true },
    });
    this.pool.on('connectionError', (_origin, _targets, err) => {
      logger.debug({ upstream: id, err: describeError(err) }, 'upstream connection error');
    });
  }

  path(requestPath: string): string {
    return this.pathPrefix === '' ? requestPath : this.pathPrefix + requestPath;
  }
}

export class UpstreamSet {
  private readonly byId = new Map<string, Upstream>();
  private readonly retiring = new Set<Promise<void>>();
  private readonly retiringPools = new Set<Pool>();

  constructor(
    private readonly options: UpstreamOptions,
    private readonly logger: Logger,
  ) {}

  get(id: string): Upstream | undefined {
    return this.byId.get(id);
  }

  ids(): IterableIterator<string> {
    return this.byId.keys();
  }

  /** Makes the set exactly `wanted` (id → url). Returns whether anything changed. */
  sync(wanted: ReadonlyMap<string, string>): boolean {
    let changed = false;
    for (const [id, upstream] of this.byId) {
      if (wanted.get(id) !== upstream.url) {
        this.retire(upstream);
        this.byId.delete(id);
        changed = true;
      }
    }
    for (const [id, url] of wanted) {
      if (this.byId.has(id)) continue;
      try {
        this.byId.set(id, new Upstream(id, url, this.options, this.logger));
        changed = true;
      } catch (err) {
        this.logger.error({ upstream: id, url, err: describeError(err) }, 'cannot create upstream pool');
      }
    }
    return changed;
  }

  private retire(upstream: Upstream): void {
    upstream.retired = true;
    const pool = upstream.pool;
    this.retiringPools.add(pool);
    const done = pool
      .close()
      .catch((err: unknown) =>
        this.logger.debug({ upstream: upstream.id, err: describeError(err) }, 'pool close'),
      )
      .finally(() => {
        this.retiring.delete(done);
        this.retiringPools.delete(pool);
      });
    this.retiring.add(done);
  }

  /** Closes every pool: gracefully until `deadline` (ms epoch), then abruptly. */
  async close(deadline: number): Promise<void> {
    for (const upstream of this.byId.values()) this.retire(upstream);
    this.byId.clear();
    const wait = Math.max(0, deadline - Date.now());
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), wait);
      timer.unref();
    });
    const finished = await Promise.race([Promise.all([...this.retiring]).then(() => false), timedOut]);
    clearTimeout(timer);
    if (finished) {
      await Promise.all([...this.retiringPools].map((p) => p.destroy().catch(() => undefined)));
    }
  }
}
