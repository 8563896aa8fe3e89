// The request path: picks a backend from the in-memory ring (never awaiting the store), forwards
// with undici's `dispatch` and a handler (the fast path), streams both bodies with backpressure,
// retries safe requests on another backend within a budget, maps failures to 502/503/504 JSON
// answers, and falls back to the nearest healthy peer region when this one has no healthy backend.
//
// Traffic policies, when configured, run before any backend is picked: a rejected request is
// answered here (403/429 with the verdict's headers and a JSON body) and never reaches a backend; a
// passing one carries the verdict's RateLimit-* headers on its response, and its body is paced by
// the client's bandwidth limit. `check` is awaited only when it returned a promise (a cluster-wide
// limit waiting on Redis); a failing check lets the request through (fail open) and is logged.
//
// Backend choice: one path for every algorithm (selection/selector.ts): health, draining and panic
// mode are filtered once, the configured algorithm of src/proxy/selection/ (default
// `consistent_hash`, the fnv64 ring) picks among the candidates with the request's affinity key;
// it learns from every finished attempt (`observe`), and a retry picks among the backends not yet
// tried.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Duplex, Readable, Transform } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { DeepReadonly } from '../../config/load.js';
import type { ProxyConfig } from '../../config/proxy-schema.js';
import { describeError } from '../../core/errors.js';
import { greatCircleKm } from '../../core/geometry.js';
import { evaluateRegionHealth } from '../../core/health.js';
import { unmapIPv4 } from '../../core/ip.js';
import type { Backend, Snapshot } from '../../core/types.js';
import type { Logger } from '../../infra/logger.js';
import { createBalancer } from '../selection/registry.js';
import { Selector, type NoSelection } from '../selection/selector.js';
import type { PolicyEngine, PolicyRequest, PolicyVerdict } from '../policy/engine.js';
import { PASS } from '../policy/verdict.js';
import { errorBody, errorCode, isRetryableError, upstreamFailure, type ProxyError } from './errors.js';
import {
  affinityCookie,
  appendSetCookie,
  downstreamHeaderList,
  downstreamHeaders,
  rawHeadersToObject,
  upstreamHeaderList,
  readCookie,
  requestIdOf,
  TrustedProxies,
  upstreamHeaders,
  validCookieValue,
} from './headers.js';
import { Http1Request, type Http1Response } from '../frontend/http1/message.js';
import type { ProxyMetrics } from '../metrics.js';
import { UpstreamSet, type Upstream } from './upstreams.js';

/** A request from node:http, node:http2 or Meridian's own HTTP/1.1 front-end (http1/). */
export type ProxyRequest = IncomingMessage | Http2ServerRequest | Http1Request;
export type ProxyResponse = ServerResponse | Http2ServerResponse | Http1Response;
/** An upgrade request (HTTP/1.1 only). */
export type UpgradeRequest = IncomingMessage | Http1Request;

/** What the engine needs from the backend health tracker. */
export interface HealthSource {
  isHealthy(id: string): boolean;
  recordResult(id: string, outcome: { ok: boolean; status?: number; error?: string }): void;
}

/** What the engine needs from the latency window (p95 and rate for the region report). */
export interface LatencySink {
  record(ms: number): void;
}

/** The subset of ServerResponse / Http2ServerResponse the engine uses. */
interface Res {
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  writeHead(status: number, headers: OutgoingHttpHeaders | string[]): unknown;
  write(chunk: Buffer): boolean;
  end(chunk?: string): unknown;
  destroy(err?: Error): unknown;
  once(event: 'drain' | 'close', fn: () => void): unknown;
  on(event: 'close', fn: () => void): unknown;
}

/** Where response body chunks go: the response itself, or a bandwidth pacer piped into it. */
interface Sink {
  write(chunk: Buffer): boolean;
  once(event: 'drain', fn: () => void): unknown;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const FALLBACK_HEADER = 'x-meridian-fallback';
const DEBUG_HEADER = 'x-meridian-backend';
const PEER_PREFIX = 'region:';
/** The exchange of a response, for the shared 'close' listener. */
const EXCHANGE = Symbol('meridian.exchange');

class ClientGone extends Error {
  override readonly name = 'ClientGone';
  readonly code = 'E_CLIENT_GONE';
}

export interface EngineOptions {
  readonly config: DeepReadonly<ProxyConfig>;
  readonly logger: Logger;
  readonly metrics: ProxyMetrics;
  readonly health: HealthSource;
  readonly latency: LatencySink;
  /** Port peers listen on when their region has no `proxy-port` label (our own listen port). */
  readonly defaultPeerPort: () => number;
  /** Traffic policies checked before every request; omitted = none. */
  readonly policies?: PolicyEngine | undefined;
}

const POLICY_ERROR_LOG_INTERVAL_MS = 10_000;

/** One client request, across its attempts. */
class Exchange {
  readonly start = performance.now();
  tried: Set<string> | undefined;
  attempts = 0;
  retryCounted = false;
  /** The upstream whose answer (or failure) the client got; 'none' when the proxy answered itself. */
  answeredBy = 'none';
  status = 0;
  /** Aborts the attempt in progress (undici's onConnect callback). */
  abort: ((err: Error) => void) | undefined;
  clientGone = false;
  done = false;
  /** Peer proxies to try, when the request is being sent to another region. */
  peers: readonly Upstream[] | undefined;
  /** Headers of the policy verdict (RateLimit-*), added to the response. */
  policyHeaders: Readonly<Record<string, string>> | undefined;
  /** The request as the policies saw it, for bandwidth pacing when the response starts. */
  policyReq: PolicyRequest | undefined;
  /** The bandwidth pacer the body goes through (piped into the response). */
  paced: Transform | undefined;

  constructor(
    readonly engine: ProxyEngine,
    readonly req: ProxyRequest,
    readonly res: Res,
    readonly method: string,
    readonly requestId: string,
    readonly key: string,
    readonly sticky: boolean,
    readonly setCookie: string | undefined,
    /** Headers for the backend: a flat name/value list (HTTP/1 fast path) or an object. */
    readonly headers: string[] | Record<string, string>,
    /** The request body stream (the request itself under node:http and HTTP/2), or null. */
    readonly body: Readable | null,
  ) {}

  /** Safe to send again: idempotent or body-less, and no body byte consumed yet. */
  replayable(): boolean {
    if (this.body === null) return true;
    if (!IDEMPOTENT.has(this.method)) return false;
    return !this.body.readableDidRead && !this.body.destroyed;
  }
}

/** Outcome passed to the health tracker for every successful response (no allocation). */
const OK_OUTCOME = Object.freeze({ ok: true });

/**
 * One attempt of an exchange on one upstream: an undici dispatch handler. It implements undici's
 * raw handler interface (onConnect/onHeaders/onData/onComplete/onError), which undici calls
 * directly; the controller-style interface would add a wrapper, a controller and two header
 * objects parsed from the raw headers per request.
 */
class Attempt implements Dispatcher.DispatchHandler {
  private discard = false;
  private settled = false;
  private paused = false;
  private status = 0;
  private resume: (() => void) | undefined;
  private readonly started = performance.now();

  constructor(
    private readonly engine: ProxyEngine,
    private readonly ex: Exchange,
    readonly upstream: Upstream,
    readonly local: boolean,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.ex.abort = abort;
    if (this.ex.clientGone) abort(new ClientGone('client went away'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx informational: Node answers Expect itself
    this.status = statusCode;
    this.resume = resume;
    if (this.engine.shouldRetryStatus(this.ex, statusCode)) {
      this.discard = true; // read and drop the body, then try the next backend
      return true;
    }
    try {
      this.engine.writeHead(this.ex, this, statusCode, rawHeaders);
    } catch (err) {
      this.ex.abort?.(err instanceof Error ? err : new Error(String(err)));
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.discard) return true;
    const sink: Sink = this.ex.paced ?? this.ex.res;
    if (sink.write(chunk)) return true;
    if (!this.paused) {
      this.paused = true;
      // Created only when the client is slow: no closure per request.
      sink.once('drain', () => {
        this.paused = false;
        this.resume?.();
      });
    }
    return false;
  }

  onComplete(): void {
    if (!this.settle()) return;
    const ok = this.status < 500;
    this.engine.record(this.upstream, this.local, ok ? OK_OUTCOME : { ok, status: this.status });
    this.engine.observe(this.upstream, this.local, performance.now() - this.started, ok);
    if (this.discard) {
      this.engine.retry(this.ex, this.upstream, undefined);
      return;
    }
    if (this.ex.paced !== undefined) this.ex.paced.end();
    else this.ex.res.end();
  }

  onError(err: Error): void {
    if (!this.settle()) return;
    const ex = this.ex;
    if (ex.clientGone || err instanceof ClientGone) return;
    const code = errorCode(err);
    this.engine.record(this.upstream, this.local, { ok: false, error: code });
    this.engine.observe(this.upstream, this.local, performance.now() - this.started, false);
    if (!ex.res.headersSent) {
      if (this.discard || isRetryableError(code)) {
        this.engine.retry(ex, this.upstream, upstreamFailure(code));
        return;
      }
      this.engine.logger.debug(
        { upstream: this.upstream.id, err: describeError(err), requestId: ex.requestId },
        'upstream error',
      );
      this.engine.fail(ex, upstreamFailure(code));
      return;
    }
    // Part of the response already went out: all we can do is cut the client's stream.
    this.engine.logger.debug(
      { upstream: this.upstream.id, err: describeError(err), requestId: ex.requestId },
      'upstream error mid-response',
    );
    ex.paced?.destroy();
    ex.res.destroy(err);
  }

  /** Ends the attempt exactly once; false when already ended. */
  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.upstream.inFlight--;
    return true;
  }
}

export class ProxyEngine {
  readonly logger: Logger;
  private readonly config: DeepReadonly<ProxyConfig>;
  private readonly metrics: ProxyMetrics;
  private readonly health: HealthSource;
  private readonly latency: LatencySink;
  private readonly trusted: TrustedProxies;
  private readonly upstreams: UpstreamSet;
  private readonly peerUpstreams: UpstreamSet;
  private readonly retryStatuses: ReadonlySet<number>;
  private readonly defaultPeerPort: () => number;
  private readonly untrackInFlight: () => void;
  private readonly selector: Selector;
  private peerCache: { version: number; at: number; peers: readonly Upstream[] } | undefined;
  private lastSnapshot: Snapshot | undefined;
  private readonly policies: PolicyEngine | undefined;
  private lastPolicyErrorLog = 0;

  inFlight = 0;
  private retriesInFlight = 0;
  closing = false;
  /** Upgraded (WebSocket) connection pairs, destroyed on close. */
  readonly tunnels = new Set<Duplex>();

  constructor(options: EngineOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.health = options.health;
    this.latency = options.latency;
    this.defaultPeerPort = options.defaultPeerPort;
    this.policies = options.policies;
    this.untrackInFlight = options.metrics.trackInFlight(() => this.inFlight);
    this.trusted = new TrustedProxies(options.config.trustedProxies);
    this.retryStatuses = new Set(options.config.retries.onStatuses);
    const t = options.config.timeouts;
    const poolOptions = {
      connections: options.config.upstream.connections,
      keepAliveTimeoutMs: options.config.upstream.keepAliveTimeoutMs,
      connectMs: t.connectMs,
      headersMs: t.headersMs,
      bodyMs: t.bodyMs,
    };
    this.upstreams = new UpstreamSet(poolOptions, options.logger);
    this.peerUpstreams = new UpstreamSet(poolOptions, options.logger);
    const config = options.config;
    const upstreams = this.upstreams;
    const health = this.health;
    this.selector = new Selector({
      algorithm: createBalancer(config.balancer, {
        vnodes: config.vnodes,
        balanceFactor: config.boundedLoad.enabled ? config.boundedLoad.balanceFactor : undefined,
      }),
      isHealthy: (id) => health.isHealthy(id),
      inFlight: (id) => upstreams.get(id)?.inFlight ?? 0,
      maxPendingPerBackend: config.circuit.maxPendingPerBackend,
      panicThresholdPercent: config.panicThresholdPercent,
    });
  }

  get activeCount(): number {
    return this.selector.activeCount;
  }

  /** Active backends healthy in this proxy's view. */
  get healthyActive(): number {
    return this.selector.healthyActive;
  }

  /** The backends this proxy forwards to (for the health tracker). */
  members(): Backend[] {
    return this.selector.backends();
  }

  /** A change that did not touch this region's backends (health reports, other regions). */
  applyOther(snapshot: Snapshot): void {
    this.lastSnapshot = snapshot;
  }

  /** Rebuilds the ring and pools from the region's backends. Returns whether the member set changed. */
  applySnapshot(snapshot: Snapshot): boolean {
    this.lastSnapshot = snapshot;
    this.peerCache = undefined;
    const backends = snapshot.backends.get(this.config.region);
    const list = backends === undefined ? [] : [...backends.values()];
    const membersChanged = this.selector.setBackends(list);
    const wanted = new Map<string, string>();
    for (const b of this.selector.backends()) wanted.set(b.id, b.url);
    const poolsChanged = this.upstreams.sync(wanted);
    if (!membersChanged && !poolsChanged) return false;
    const shares = this.selector.shares();
    if (shares !== undefined) this.metrics.setShares(shares);
    this.refreshHealth();
    return true;
  }

  /** Re-filters the candidates and the panic flag; call after any health change. */
  refreshHealth(): void {
    if (!this.selector.refresh()) return;
    const panic = this.selector.panic;
    this.logger.warn(
      { healthy: this.selector.healthyActive, active: this.selector.activeCount },
      panic ? 'panic mode: ignoring backend health' : 'panic mode over',
    );
  }

  /** Feeds one finished attempt to a latency-aware algorithm. */
  observe(upstream: Upstream, local: boolean, ms: number, ok: boolean): void {
    if (local && !upstream.retired) this.selector.algorithm.observe?.(upstream.id, ms, ok);
  }

  // ---------------------------------------------------------------------------------------------
  // Requests

  handle(req: ProxyRequest, response: ProxyResponse, proto: 'http' | 'https'): void {
    const res = response as unknown as Res;
    this.inFlight++;
    const headers = req.headers;
    const requestId = requestIdOf(headers);
    const peer = unmapIPv4(req.socket.remoteAddress ?? '');
    const trusted = this.trusted.contains(peer);

    // Session key. `affinityKey` is the one the client sent (cookie or header), if any.
    const affinity = this.config.affinity;
    let key: string | undefined;
    let affinityKey: string | undefined;
    let sticky = true;
    let setCookie: string | undefined;
    if (affinity.mode === 'cookie') {
      const cookie = headers.cookie;
      const value = readCookie(Array.isArray(cookie) ? cookie.join('; ') : cookie, affinity.cookieName);
      if (value !== undefined && validCookieValue(value)) key = affinityKey = value;
      else {
        key = randomBytes(12).toString('base64url');
        sticky = false;
        setCookie = affinityCookie(affinity.cookieName, key, affinity.cookieMaxAgeSeconds, proto === 'https');
      }
    } else if (affinity.mode === 'header') {
      const value = headers[affinity.header];
      if (typeof value === 'string' && value !== '') key = affinityKey = value;
    }
    let clientIp: string | undefined;
    if (key === undefined || this.policies !== undefined)
      clientIp = trusted ? this.trusted.clientAddress(peer, headers['x-forwarded-for']) : peer;
    key ??= clientIp ?? peer;

    const method = req.method ?? 'GET';
    const hasBody = requestHasBody(req);
    const ex = new Exchange(
      this,
      req,
      res,
      method,
      requestId,
      key,
      sticky,
      setCookie,
      req.httpVersionMajor === 1 && !trusted
        ? upstreamHeaderList(req.rawHeaders, peer, proto, requestId)
        : upstreamHeaders(headers, { peer, trusted, proto, requestId }),
      hasBody ? requestBody(req) : null,
    );
    (res as unknown as Record<symbol, Exchange>)[EXCHANGE] = ex;
    res.on('close', onResponseClose);
    if (headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor === 1) {
      // RFC 9112 §3.2 (node:http's own check is off, so both HTTP/1.1 front-ends answer alike).
      this.fail(ex, {
        status: 400,
        code: 'E_BAD_REQUEST',
        message: 'an HTTP/1.1 request needs a Host header',
      });
      return;
    }

    const policies = this.policies;
    if (policies !== undefined) {
      const preq = policyRequest(req, method, clientIp ?? peer, affinityKey);
      let verdict: PolicyVerdict | Promise<PolicyVerdict>;
      try {
        verdict = policies.check(preq);
      } catch (err) {
        this.policyFailed(err, ex);
        verdict = PASS;
      }
      if (verdict instanceof Promise) {
        verdict.then(
          (v) => this.afterPolicy(ex, preq, v),
          (err: unknown) => {
            this.policyFailed(err, ex);
            this.afterPolicy(ex, preq, PASS);
          },
        );
        return;
      }
      this.afterPolicy(ex, preq, verdict);
      return;
    }
    this.route(ex);
  }

  /** Acts on a policy verdict: answers a rejection, or sends a passing request on its way. */
  private afterPolicy(ex: Exchange, preq: PolicyRequest, verdict: PolicyVerdict): void {
    if (ex.done || ex.clientGone) return; // the client left while a cluster-wide check was pending
    if (verdict.action === 'reject') {
      this.reject(ex, verdict);
      return;
    }
    if (verdict.headers !== undefined) ex.policyHeaders = verdict.headers;
    ex.policyReq = preq;
    try {
      this.route(ex);
    } catch (err) {
      this.logger.error({ err: describeError(err), requestId: ex.requestId }, 'request routing failed');
      this.fail(ex, { status: 502, code: 'E_UPSTREAM_CONNECT', message: 'the request could not be routed' });
    }
  }

  /** A policy check failed (Redis, a bug): the request goes through; logged at most every 10 s. */
  private policyFailed(err: unknown, ex: Exchange): void {
    const now = Date.now();
    if (now - this.lastPolicyErrorLog < POLICY_ERROR_LOG_INTERVAL_MS) return;
    this.lastPolicyErrorLog = now;
    this.logger.warn(
      { err: describeError(err), requestId: ex.requestId },
      'policy check failed; letting requests through (logged at most every 10 s)',
    );
  }

  /** Answers a request a policy rejected (the backend never sees it). */
  private reject(ex: Exchange, verdict: Extract<PolicyVerdict, { action: 'reject' }>): void {
    const res = ex.res;
    if (res.headersSent || res.writableEnded) return;
    const body = JSON.stringify({ error: { ...verdict.body.error, requestId: ex.requestId } });
    this.writeJson(ex, verdict.status, body, verdict.headers);
  }

  /** Writes a small JSON answer of the proxy's own, with the request id and any issued cookie. */
  private writeJson(
    ex: Exchange,
    status: number,
    body: string,
    extra: Readonly<Record<string, string>> | undefined,
  ): void {
    const headers: OutgoingHttpHeaders = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    };
    if (extra !== undefined)
      for (const [name, value] of Object.entries(extra)) headers[name.toLowerCase()] = value;
    headers['x-request-id'] = ex.requestId;
    if (ex.setCookie !== undefined) headers['set-cookie'] = [ex.setCookie];
    if (this.closing && ex.req.httpVersionMajor === 1) headers.connection = 'close';
    ex.status = status;
    try {
      ex.res.writeHead(status, headers);
      ex.res.end(body);
    } catch (err) {
      this.logger.debug({ err: describeError(err), status }, 'cannot write a JSON response');
      ex.res.destroy();
    }
  }

  /** Cross-region fallback decision, then the first attempt. */
  private route(ex: Exchange): void {
    const headers = ex.req.headers;
    if (this.healthyActive === 0) {
      // Nothing healthy here: another region's proxy, at most once per request.
      if (headers[FALLBACK_HEADER] !== undefined) {
        this.fail(ex, {
          status: 503,
          code: 'E_FALLBACK_EXHAUSTED',
          message: 'no healthy backend in this region for a request already forwarded from another region',
        });
        return;
      }
      if (this.config.crossRegionFallback) {
        const peers = this.peers();
        if (peers.length > 0) {
          ex.peers = peers;
          const h = ex.headers;
          if (Array.isArray(h)) h.push(FALLBACK_HEADER, this.config.region);
          else h[FALLBACK_HEADER] = this.config.region;
        }
      }
    }
    this.next(ex, undefined);
  }

  /** Sends the exchange to its next target, or answers with `lastError` / a 503. */
  private next(ex: Exchange, lastError: ProxyError | undefined): void {
    for (;;) {
      let upstream: Upstream | undefined;
      let local = true;
      if (ex.peers !== undefined) {
        local = false;
        upstream = ex.peers.find((p) => ex.tried?.has(p.id) !== true && !p.retired);
        if (upstream === undefined) {
          this.fail(ex, lastError ?? noBackend('no-healthy'));
          return;
        }
      } else {
        const picked = this.selector.pick(ex.key, ex.sticky, ex.tried);
        if (picked === undefined) {
          this.fail(ex, lastError ?? noBackend(this.selector.failure));
          return;
        }
        upstream = this.upstreams.get(picked);
        if (upstream === undefined) {
          (ex.tried ??= new Set()).add(picked);
          continue;
        }
      }
      this.dispatch(ex, upstream, local);
      return;
    }
  }

  private dispatch(ex: Exchange, upstream: Upstream, local: boolean): void {
    ex.attempts++;
    upstream.inFlight++;
    const attempt = new Attempt(this, ex, upstream, local);
    try {
      upstream.pool.dispatch(
        {
          path: upstream.path(ex.req.url ?? '/'),
          method: ex.method,
          headers: ex.headers,
          body: ex.body,
        },
        attempt,
      );
    } catch (err) {
      attempt.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Whether another attempt is allowed now (attempts left, retry budget, replayable request). */
  private canRetry(ex: Exchange): boolean {
    if (ex.clientGone || ex.attempts > this.config.retries.attempts || !ex.replayable()) return false;
    if (ex.retryCounted) return true;
    const budget = Math.max(3, Math.floor((this.inFlight * this.config.retries.budgetPercent) / 100));
    return this.retriesInFlight < budget;
  }

  /** Called on a backend's response status: true to drop it and retry elsewhere. */
  shouldRetryStatus(ex: Exchange, status: number): boolean {
    if (!this.retryStatuses.has(status) || !this.canRetry(ex)) return false;
    // Only when another target exists; otherwise the backend's own answer is the best we have.
    const used = (ex.tried?.size ?? 0) + 1;
    return (ex.peers !== undefined ? ex.peers.length : this.selector.size) > used;
  }

  /** After a failed attempt on `failed`: the next backend if allowed, else the failure itself. */
  retry(ex: Exchange, failed: Upstream, failure: ProxyError | undefined): void {
    (ex.tried ??= new Set()).add(failed.id);
    ex.answeredBy = failed.id;
    const error = failure ?? { status: 502, code: 'E_UPSTREAM_CONNECT', message: 'upstream failed' };
    if (!this.canRetry(ex)) {
      this.fail(ex, error);
      return;
    }
    if (!ex.retryCounted) {
      ex.retryCounted = true;
      this.retriesInFlight++;
    }
    this.metrics.retry();
    this.next(ex, error);
  }

  record(
    upstream: Upstream,
    local: boolean,
    outcome: { ok: boolean; status?: number; error?: string },
  ): void {
    if (local && !upstream.retired) this.health.recordResult(upstream.id, outcome);
  }

  writeHead(ex: Exchange, attempt: Attempt, status: number, raw: Buffer[]): void {
    let extra: string | undefined;
    if (!attempt.local) extra = attempt.upstream.id.slice(PEER_PREFIX.length);
    else if (this.config.debugHeader) {
      const why = this.selector.explain(attempt.upstream.id, ex.key);
      extra = `${attempt.upstream.id}; ${why ?? `algorithm=${this.config.balancer}`}`;
    }
    const policyHeaders = ex.policyHeaders;
    const close = this.closing && ex.req.httpVersionMajor === 1;
    ex.answeredBy = attempt.upstream.id;
    ex.status = status;
    if (ex.req.httpVersionMajor !== 1) {
      // HTTP/2 compatibility responses take a header object.
      const out = downstreamHeaders(rawHeadersToObject(raw));
      out['x-request-id'] = ex.requestId;
      if (ex.setCookie !== undefined) appendSetCookie(out, ex.setCookie);
      if (extra !== undefined) out[attempt.local ? DEBUG_HEADER : FALLBACK_HEADER] = extra;
      if (policyHeaders !== undefined)
        for (const [name, value] of Object.entries(policyHeaders)) out[name.toLowerCase()] = value;
      ex.res.writeHead(status, out);
    } else {
      const out = downstreamHeaderList(raw);
      out.push('x-request-id', ex.requestId);
      if (ex.setCookie !== undefined) out.push('set-cookie', ex.setCookie);
      if (extra !== undefined) out.push(attempt.local ? DEBUG_HEADER : FALLBACK_HEADER, extra);
      if (policyHeaders !== undefined)
        for (const name in policyHeaders) out.push(name, policyHeaders[name] as string);
      if (close) out.push('connection', 'close');
      ex.res.writeHead(status, out);
    }
    // Bandwidth limits: the body goes through the client's pacer (shared by all its responses).
    if (ex.policyReq !== undefined && this.policies !== undefined) {
      const paced = this.policies.pace(ex.policyReq);
      if (paced !== undefined) {
        ex.paced = paced;
        paced.on('error', () => ex.res.destroy());
        paced.pipe(ex.res as unknown as NodeJS.WritableStream);
      }
    }
  }

  /** Answers with a JSON error (or cuts the stream when the response already started). */
  fail(ex: Exchange, error: ProxyError): void {
    const res = ex.res;
    if (ex.clientGone || res.writableEnded) return;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.writeJson(ex, error.status, errorBody(error, ex.requestId), ex.policyHeaders);
  }

  /** The client's response closed (finished or aborted): account for the request exactly once. */
  finish(ex: Exchange): void {
    if (ex.done) return;
    ex.done = true;
    if (!ex.res.writableFinished) {
      ex.clientGone = true;
      ex.abort?.(new ClientGone('client went away'));
    }
    ex.paced?.destroy();
    this.inFlight--;
    if (ex.retryCounted) this.retriesInFlight--;
    const ms = performance.now() - ex.start;
    this.latency.record(ms);
    this.metrics.request(ex.answeredBy, ex.method, ex.status === 0 ? 499 : ex.status, ms / 1000);
    const sampleRate = this.config.accessLog.sampleRate;
    if (sampleRate > 0 && Math.random() < sampleRate) {
      this.logger.info(
        {
          log: 'access',
          requestId: ex.requestId,
          method: ex.method,
          path: ex.req.url,
          status: ex.status === 0 ? 499 : ex.status,
          backend: ex.answeredBy,
          attempts: ex.attempts,
          ms: Math.round(ms * 1000) / 1000,
        },
        'proxy request',
      );
    }
  }

  // ---------------------------------------------------------------------------------------------
  // WebSocket and other upgrades (HTTP/1.1 only)

  handleUpgrade(req: UpgradeRequest, socket: Duplex, head: Buffer, proto: 'http' | 'https'): void {
    socket.on('error', () => socket.destroy());
    const requestId = requestIdOf(req.headers);
    const peer = unmapIPv4(req.socket.remoteAddress ?? '');
    const trusted = this.trusted.contains(peer);
    const affinity = this.config.affinity;
    let affinityKey: string | undefined;
    if (affinity.mode === 'cookie') {
      const value = readCookie(req.headers.cookie, affinity.cookieName);
      if (value !== undefined && validCookieValue(value)) affinityKey = value;
    } else if (affinity.mode === 'header') {
      const value = req.headers[affinity.header];
      if (typeof value === 'string' && value !== '') affinityKey = value;
    }
    const clientIp = trusted ? this.trusted.clientAddress(peer, req.headers['x-forwarded-for']) : peer;
    const key = affinityKey ?? clientIp;
    const policies = this.policies;
    if (policies === undefined) {
      this.forwardUpgrade(
        req,
        socket,
        head,
        key,
        requestId,
        upstreamHeaders(req.headers, { peer, trusted, proto, requestId }),
      );
      return;
    }
    const preq = policyRequest(req, req.method ?? 'GET', clientIp, affinityKey);
    const proceed = (verdict: PolicyVerdict): void => {
      if (socket.destroyed) return;
      if (verdict.action === 'reject') {
        this.metrics.request('none', req.method ?? 'GET', verdict.status, 0);
        rejectUpgradeByPolicy(socket, verdict, requestId);
        return;
      }
      this.forwardUpgrade(
        req,
        socket,
        head,
        key,
        requestId,
        upstreamHeaders(req.headers, { peer, trusted, proto, requestId }),
      );
    };
    const failed = (err: unknown): void => {
      const now = Date.now();
      if (now - this.lastPolicyErrorLog >= POLICY_ERROR_LOG_INTERVAL_MS) {
        this.lastPolicyErrorLog = now;
        this.logger.warn(
          { err: describeError(err), requestId },
          'policy check failed; letting requests through',
        );
      }
      proceed(PASS);
    };
    try {
      const verdict = policies.check(preq);
      if (verdict instanceof Promise) verdict.then(proceed, failed);
      else proceed(verdict);
    } catch (err) {
      failed(err);
    }
  }

  private forwardUpgrade(
    req: UpgradeRequest,
    socket: Duplex,
    head: Buffer,
    key: string,
    requestId: string,
    headers: Record<string, string>,
  ): void {
    const protocol = typeof req.headers.upgrade === 'string' ? req.headers.upgrade : 'websocket';
    const tried = new Set<string>();
    const started = performance.now();
    this.inFlight++;
    const attempt = (lastError: ProxyError | undefined): void => {
      const picked = this.selector.pick(key, true, tried);
      const upstream = picked === undefined ? undefined : this.upstreams.get(picked);
      if (upstream === undefined) {
        this.inFlight--;
        rejectUpgrade(
          socket,
          lastError ?? noBackend(picked === undefined ? this.selector.failure : 'exhausted'),
          requestId,
        );
        return;
      }
      tried.add(upstream.id);
      upstream.inFlight++;
      upstream.pool
        .upgrade({ path: upstream.path(req.url ?? '/'), method: req.method ?? 'GET', headers, protocol })
        .then(
          ({ headers: upHeaders, socket: upSocket }) => {
            upstream.inFlight--;
            this.inFlight--;
            this.health.recordResult(upstream.id, { ok: true, status: 101 });
            this.metrics.request(upstream.id, req.method ?? 'GET', 101, (performance.now() - started) / 1000);
            this.tunnel(socket, upSocket, head, upHeaders, requestId);
          },
          (err: unknown) => {
            upstream.inFlight--;
            const code = errorCode(err);
            this.health.recordResult(upstream.id, { ok: false, error: code });
            const failure = upstreamFailure(code);
            if (isRetryableError(code) && tried.size <= this.config.retries.attempts && !socket.destroyed) {
              attempt(failure);
              return;
            }
            this.inFlight--;
            this.metrics.request(
              upstream.id,
              req.method ?? 'GET',
              failure.status,
              (performance.now() - started) / 1000,
            );
            rejectUpgrade(socket, failure, requestId);
          },
        );
    };
    attempt(undefined);
  }

  private tunnel(
    client: Duplex,
    upstream: Duplex,
    head: Buffer,
    headers: Record<string, string | string[] | undefined>,
    requestId: string,
  ): void {
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    let text = 'HTTP/1.1 101 Switching Protocols\r\n';
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined || name === 'x-request-id') continue;
      for (const v of Array.isArray(value) ? value : [value]) text += `${name}: ${v}\r\n`;
    }
    text += `x-request-id: ${requestId}\r\n\r\n`;
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
      this.tunnels.delete(client);
    };
    upstream.on('error', closeBoth);
    client.on('error', closeBoth);
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
    this.tunnels.add(client);
    client.write(text);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  }

  // ---------------------------------------------------------------------------------------------
  // Cross-region fallback

  /** Healthy peer regions' proxies, nearest first (cached for a second or until the state changes). */
  private peers(): readonly Upstream[] {
    const snapshot = this.lastSnapshot;
    if (snapshot === undefined) return [];
    const now = Date.now();
    const cached = this.peerCache;
    if (cached !== undefined && cached.version === snapshot.version && now - cached.at < 1000)
      return cached.peers;
    const me = snapshot.regions.get(this.config.region);
    const candidates: { id: string; url: string; km: number }[] = [];
    for (const region of snapshot.regions.values()) {
      if (region.id === this.config.region || region.state !== 'active') continue;
      const address = region.ipv4[0];
      if (address === undefined) continue;
      if (evaluateRegionHealth(snapshot.health.get(region.id), now).status !== 'healthy') continue;
      const label = Number(region.labels['proxy-port']);
      const port = Number.isInteger(label) && label > 0 && label < 65536 ? label : this.defaultPeerPort();
      const km = me === undefined ? 0 : greatCircleKm(me.lat, me.lon, region.lat, region.lon);
      candidates.push({ id: PEER_PREFIX + region.id, url: `http://${address}:${port}`, km });
    }
    candidates.sort((a, b) => a.km - b.km || (a.id < b.id ? -1 : 1));
    this.peerUpstreams.sync(new Map(candidates.map((c) => [c.id, c.url])));
    const peers = candidates
      .map((c) => this.peerUpstreams.get(c.id))
      .filter((u): u is Upstream => u !== undefined);
    this.peerCache = { version: snapshot.version, at: now, peers };
    return peers;
  }

  /** Closes every upstream pool, gracefully until `deadline` (ms epoch). */
  async close(deadline: number): Promise<void> {
    this.untrackInFlight();
    for (const t of this.tunnels) t.destroy();
    this.tunnels.clear();
    await Promise.all([this.upstreams.close(deadline), this.peerUpstreams.close(deadline)]);
  }
}

/** 'close' listener of every response (one function, no closure per request). */
function onResponseClose(this: unknown): void {
  const ex = (this as Record<symbol, Exchange | undefined>)[EXCHANGE];
  if (ex !== undefined) ex.engine.finish(ex);
}

function requestHasBody(req: ProxyRequest): boolean {
  if (req instanceof Http1Request) return req.body !== null;
  if (req.httpVersionMajor === 2) {
    return (req as Http2ServerRequest).stream.endAfterHeaders !== true;
  }
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

function requestBody(req: ProxyRequest): Readable | null {
  return req instanceof Http1Request ? req.body : req;
}

function noBackend(reason: NoSelection): ProxyError {
  switch (reason) {
    case 'no-backends':
      return { status: 503, code: 'E_NO_BACKEND', message: 'no backend is configured for this region' };
    case 'saturated':
      return {
        status: 503,
        code: 'E_CIRCUIT_OPEN',
        message: 'every eligible backend is at its pending-request limit',
      };
    case 'no-healthy':
    case 'exhausted':
      return { status: 503, code: 'E_NO_HEALTHY_BACKEND', message: 'no healthy backend available' };
  }
}

/** The request as the policy engine sees it. */
function policyRequest(
  req: ProxyRequest,
  method: string,
  clientIp: string,
  affinityKey: string | undefined,
): PolicyRequest {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const headers = req.headers;
  // Two literal shapes rather than a spread (this runs for every request).
  return affinityKey === undefined
    ? { method, path, query, headers, clientIp }
    : { method, path, query, headers, clientIp, affinityKey };
}

function rejectUpgradeByPolicy(
  socket: Duplex,
  verdict: Extract<PolicyVerdict, { action: 'reject' }>,
  requestId: string,
): void {
  const body = JSON.stringify({ error: { ...verdict.body.error, requestId } });
  let text = `HTTP/1.1 ${verdict.status} ${verdict.status === 403 ? 'Forbidden' : verdict.status === 429 ? 'Too Many Requests' : 'Rejected'}\r\n`;
  text += `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
  for (const [name, value] of Object.entries(verdict.headers)) text += `${name}: ${value}\r\n`;
  text += `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`;
  socket.end(text);
}

function rejectUpgrade(socket: Duplex, error: ProxyError, requestId: string): void {
  if (socket.destroyed) return;
  const body = errorBody(error, requestId);
  const reason =
    error.status === 504 ? 'Gateway Timeout' : error.status === 503 ? 'Service Unavailable' : 'Bad Gateway';
  socket.end(
    `HTTP/1.1 ${error.status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
  );
}
