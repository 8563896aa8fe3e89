// Select → attempt → retry → respond, for one admitted exchange: picks a backend through the
// selector (or the next peer region's proxy when this region has no healthy backend), dispatches
// an Attempt, retries safe requests elsewhere within the attempt limit and the retry budget
// (previous backends avoided), and writes the answer: the backend's response, a tunnel after a
// 101, or the proxy's own JSON error (error-response.ts).
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { DeepReadonly } from '../../config/load.js';
import type { ProxyConfig } from '../../config/proxy-schema.js';
import type { Logger } from '../../infra/logger.js';
import { writeProxyError, type ProxyError } from '../error-response.js';
import type { ProxyMetrics } from '../metrics.js';
import type { PolicyEngine } from '../policy/engine.js';
import type { NoSelection, Selector } from '../selection/selector.js';
import { Attempt, type AttemptOwner, type Outcome } from './attempt.js';
import type { CircuitBreakers } from './circuit-breakers.js';
import type { Deadlines } from './deadlines.js';
import type { Exchange } from './exchange.js';
import { PEER_PREFIX, type PeerDirectory } from './fallback.js';
import { DEBUG_HEADER, FALLBACK_HEADER, openTunnel, writeResponseHead } from './respond.js';
import type { Upstream, UpstreamSet } from './upstreams.js';

/** What the forwarder works with (owned by the engine). */
export interface ForwarderDeps {
  readonly config: DeepReadonly<ProxyConfig>;
  readonly logger: Logger;
  readonly metrics: ProxyMetrics;
  readonly health: { recordResult(id: string, outcome: Outcome): void };
  readonly selector: Selector;
  readonly upstreams: UpstreamSet;
  readonly breakers: CircuitBreakers;
  readonly peers: PeerDirectory;
  readonly policies: PolicyEngine | undefined;
  readonly tunnels: Set<Duplex>;
  /** Headers and body timeouts of requests without a body (upstream pools have undici's off). */
  readonly deadlines: Deadlines;
  /** Requests in flight on this proxy (the retry budget is a share of them). */
  inFlight(): number;
  closing(): boolean;
  /** Accounts for a finished exchange (a tunnel is finished as soon as it opens). */
  finish(ex: Exchange): void;
}

export class Forwarder implements AttemptOwner {
  readonly logger: Logger;
  private readonly retryStatuses: ReadonlySet<number>;
  /** Exchanges holding a retry slot (the budget is a share of the requests in flight). */
  private retriesInFlight = 0;

  constructor(private readonly deps: ForwarderDeps) {
    this.logger = deps.logger;
    this.retryStatuses = new Set(deps.config.retries.onStatuses);
  }

  /** The exchange is over: frees its retry slot. */
  release(ex: Exchange): void {
    if (ex.retryCounted) this.retriesInFlight--;
  }

  /** Cross-region fallback decision, then the first attempt. */
  route(ex: Exchange): void {
    if (this.deps.selector.healthyActive === 0) {
      // Nothing healthy here: another region's proxy, at most once per request.
      if (ex.req.header(FALLBACK_HEADER) !== undefined) {
        this.fail(ex, {
          code: 'E_FALLBACK_EXHAUSTED',
          message: 'no healthy backend in this region for a request already forwarded from another region',
        });
        return;
      }
      if (this.deps.config.crossRegionFallback) {
        const peers = this.deps.peers.peers();
        if (peers.length > 0) {
          ex.peers = peers;
          const h = ex.headers;
          if (Array.isArray(h)) h.push(FALLBACK_HEADER, this.deps.config.region);
          else h[FALLBACK_HEADER] = this.deps.config.region;
        }
      }
    }
    this.next(ex, undefined);
  }

  /** Sends the exchange to its next target, or answers with `lastError` / a 503. */
  private next(ex: Exchange, lastError: ProxyError | undefined): void {
    for (;;) {
      let upstream: Upstream | undefined;
      if (ex.peers !== undefined) {
        upstream = ex.peers.find((p) => ex.tried?.has(p.id) !== true && !p.retired);
        if (upstream === undefined) {
          this.fail(ex, lastError ?? noBackend('no-healthy', ''));
          return;
        }
        this.dispatch(ex, upstream, false);
        return;
      }
      let picked = ex.retryTarget;
      ex.retryTarget = undefined;
      picked ??= this.deps.selector.pick(ex.key, ex.sticky, ex.tried, ex.attempts > 0);
      if (picked === undefined) {
        // A retry nobody may take answers with the failure it would have replaced.
        const selector = this.deps.selector;
        this.fail(ex, lastError ?? noBackend(selector.failure, selector.refusedBy));
        return;
      }
      upstream = this.deps.upstreams.get(picked);
      if (upstream === undefined) {
        (ex.tried ??= new Set()).add(picked);
        continue;
      }
      this.dispatch(ex, upstream, true);
      return;
    }
  }

  private dispatch(ex: Exchange, upstream: Upstream, local: boolean): void {
    const isRetry = ex.attempts > 0;
    ex.attempts++;
    upstream.inFlight++;
    if (isRetry) upstream.retriesInFlight++;
    if (local) this.deps.breakers.dispatched(upstream);
    const path = upstream.path(ex.target);
    // Without a body or an upgrade the engine's sweep keeps the timeouts (deadlines.ts); else
    // undici does, whose headers timer also knows when an upload has stalled.
    const swept = ex.upgrade === undefined && ex.body === null;
    const attempt = new Attempt(this, ex, upstream, local, isRetry, swept ? this.deps.deadlines : undefined);
    const timeouts = this.deps.config.timeouts;
    const options: Dispatcher.DispatchOptions = swept
      ? { path, method: ex.method, headers: ex.headers, body: null }
      : {
          path,
          method: ex.method,
          headers: ex.headers,
          body: ex.upgrade === undefined ? ex.body : null,
          upgrade: ex.upgrade?.protocol ?? null,
          headersTimeout: timeouts.headersMs,
          bodyTimeout: timeouts.bodyMs,
        };
    try {
      upstream.pool.dispatch(options, attempt);
    } catch (err) {
      attempt.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Attempts, retries and the answer (AttemptOwner)

  /** Whether another attempt is allowed now (attempts left, retry budget, replayable request). */
  private canRetry(ex: Exchange): boolean {
    if (ex.clientGone || ex.attempts > this.deps.config.retries.attempts || !ex.replayable()) return false;
    if (ex.retryCounted) return true;
    const budget = Math.max(
      3,
      Math.floor((this.deps.inFlight() * this.deps.config.retries.budgetPercent) / 100),
    );
    return this.retriesInFlight < budget;
  }

  shouldRetryStatus(ex: Exchange, failed: Upstream, status: number): boolean {
    // An upgrade's answer is the client's business (a 403 is not the backend failing).
    if (ex.upgrade !== undefined || !this.retryStatuses.has(status) || !this.canRetry(ex)) return false;
    // Only when another target exists; otherwise the backend's own answer is the best we have.
    const used = (ex.tried?.size ?? 0) + 1;
    if ((ex.peers !== undefined ? ex.peers.length : this.deps.selector.size) <= used) return false;
    if (ex.peers === undefined) {
      // The retry's backend is picked now, so that when none may take it (circuit breakers, all
      // tried) the client still gets this answer rather than a proxy-made error after dropping it.
      const tried = (ex.tried ??= new Set());
      tried.add(failed.id);
      ex.retryTarget = this.deps.selector.pick(ex.key, ex.sticky, tried, true);
      if (ex.retryTarget === undefined) return false;
    }
    // The slot is taken now, while the answer is dropped: were it taken after the body was read,
    // other requests could fill the budget meanwhile and this client would get a proxy-made 502
    // instead of the backend's answer it was denied.
    this.holdRetrySlot(ex);
    return true;
  }

  private holdRetrySlot(ex: Exchange): void {
    if (ex.retryCounted) return;
    ex.retryCounted = true;
    this.retriesInFlight++;
  }

  retry(ex: Exchange, failed: Upstream, failure: ProxyError | undefined): void {
    (ex.tried ??= new Set()).add(failed.id);
    ex.answeredBy = failed.id;
    const error = failure ?? { code: 'E_UPSTREAM_CONNECT', message: 'upstream failed' };
    if (!this.canRetry(ex)) {
      this.fail(ex, error);
      return;
    }
    this.holdRetrySlot(ex);
    this.deps.metrics.retry();
    this.next(ex, error);
  }

  record(upstream: Upstream, local: boolean, outcome: Outcome): void {
    if (local && !upstream.retired) this.deps.health.recordResult(upstream.id, outcome);
  }

  /** Feeds one finished attempt to a latency-aware algorithm. */
  observe(upstream: Upstream, local: boolean, ms: number, ok: boolean): void {
    if (local && !upstream.retired) this.deps.selector.algorithm.observe?.(upstream.id, ms, ok);
  }

  writeHead(ex: Exchange, attempt: Attempt, status: number, raw: Buffer[]): void {
    let extra: { name: string; value: string } | undefined;
    const id = attempt.upstream.id;
    if (!attempt.local) extra = { name: FALLBACK_HEADER, value: id.slice(PEER_PREFIX.length) };
    else if (this.deps.config.debugHeader) {
      const why = this.deps.selector.explain(id, ex.key);
      extra = { name: DEBUG_HEADER, value: `${id}; ${why ?? `algorithm=${this.deps.config.balancer}`}` };
    }
    ex.answeredBy = id;
    const close = this.deps.closing() && ex.req.httpVersionMajor === 1;
    writeResponseHead(ex, status, raw, extra, close, this.deps.policies);
  }

  tunnel(ex: Exchange, attempt: Attempt, raw: Buffer[] | string[] | null, socket: Duplex): void {
    const upgrade = ex.upgrade;
    if (upgrade === undefined || ex.clientGone) {
      socket.destroy();
      return;
    }
    ex.tunnelled = true;
    ex.answeredBy = attempt.upstream.id;
    ex.status = 101;
    this.deps.finish(ex);
    openTunnel(upgrade.socket, socket, upgrade.head, raw, ex.requestId, this.deps.tunnels);
  }

  fail(ex: Exchange, error: ProxyError, headers?: Readonly<Record<string, string>>): void {
    if (ex.clientGone) return;
    const status = writeProxyError(ex.res, error, {
      requestId: ex.requestId,
      headers: headers ?? ex.policyHeaders,
      setCookie: ex.setCookie,
      // Shutting down, or a malformed request (its connection is not to be trusted further): the
      // HTTP/1 client must reconnect.
      close: ex.req.httpVersionMajor === 1 && (this.deps.closing() || error.code === 'E_BAD_REQUEST'),
    });
    if (status !== 0) ex.status = status;
  }
}

function noBackend(reason: NoSelection, refusedBy: string): ProxyError {
  switch (reason) {
    case 'no-backends':
      return { code: 'E_NO_BACKEND', message: 'no backend is configured for this region' };
    case 'saturated':
      return {
        code: 'E_CIRCUIT_OPEN',
        message: `every eligible backend is at its circuit-breaker limit ${refusedBy}`,
      };
    case 'no-healthy':
    case 'exhausted':
      return { code: 'E_NO_HEALTHY_BACKEND', message: 'no healthy backend available' };
  }
}
