// The proxy engine: the request path, one for ordinary and upgrade requests alike — admit
// (admit.ts: session key, target normalisation, Host checks) → policy gate (policy-gate.ts) →
// select → attempt/retry → respond (forward.ts, over selection/selector.ts, attempt.ts and
// respond.ts; proxy-made errors through error-response.ts), with the nearest healthy peer region
// as fallback (fallback.ts). It also follows the region's backend set from the snapshot and does
// the per-request accounting (in-flight gauge, request metric, latency window, access log).
// Nothing on the request path awaits the store. Front-ends hand over ProxyRequest/ProxyResponse
// (request.ts); the engine never asks which front-end a request came from.
import type { Duplex } from 'node:stream';
import type { DeepReadonly } from '../../config/load.js';
import type { ProxyConfig } from '../../config/proxy-schema.js';
import { describeError } from '../../core/errors.js';
import type { Backend, Snapshot } from '../../core/types.js';
import type { Logger } from '../../infra/logger.js';
import type { ProxyMetrics } from '../metrics.js';
import type { PolicyEngine, PolicyRequest, PolicyVerdict } from '../policy/engine.js';
import { createBalancer } from '../selection/registry.js';
import { Selector } from '../selection/selector.js';
import { Admission } from './admit.js';
import type { Outcome } from './attempt.js';
import { CircuitBreakers } from './circuit-breakers.js';
import { Deadlines } from './deadlines.js';
import type { Exchange } from './exchange.js';
import { ClientGone } from './exchange.js';
import { PeerDirectory } from './fallback.js';
import { Forwarder } from './forward.js';
import { PolicyGate } from './policy-gate.js';
import { ProxySpans } from './trace-span.js';
import type { ProxyRequest, ProxyResponse, UpgradeSocket } from './request.js';
import { UpstreamSet } from './upstreams.js';

export type { ProxyRequest, ProxyResponse, UpgradeSocket } from './request.js';

/** What the engine needs from the backend health tracker. */
export interface HealthSource {
  isHealthy(id: string): boolean;
  recordResult(id: string, outcome: Outcome): void;
}

/** What the engine needs from the latency window (p95 and rate for the region report). */
export interface LatencySink {
  record(ms: number): void;
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

/** The exchange of a response, for the shared 'close' listener. */
const EXCHANGE = Symbol('meridian.exchange');

export class ProxyEngine {
  readonly logger: Logger;
  private readonly config: DeepReadonly<ProxyConfig>;
  private readonly metrics: ProxyMetrics;
  private readonly health: HealthSource;
  private readonly latency: LatencySink;
  private readonly upstreams: UpstreamSet;
  private readonly peerUpstreams: UpstreamSet;
  private readonly peers: PeerDirectory;
  private readonly untrackInFlight: () => void;
  private readonly selector: Selector;
  private readonly admission: Admission;
  private readonly policies: PolicyEngine | undefined;
  private readonly gate: PolicyGate | undefined;
  private readonly forwarder: Forwarder;
  /** Span export (tracing.otlp); undefined when off. */
  private readonly spans: ProxySpans | undefined;
  private readonly deadlines: Deadlines;

  inFlight = 0;
  closing = false;
  /** Upgraded (WebSocket) connection pairs, destroyed on close. */
  readonly tunnels = new Set<Duplex>();

  constructor(options: EngineOptions) {
    const config = options.config;
    this.config = config;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.health = options.health;
    this.latency = options.latency;
    this.policies = options.policies;
    this.gate =
      options.policies === undefined
        ? undefined
        : new PolicyGate(options.policies, options.logger, (ex, preq, verdict) =>
            this.afterPolicy(ex, preq, verdict),
          );
    this.untrackInFlight = options.metrics.trackInFlight(() => this.inFlight);
    this.admission = new Admission(config);
    const otlp = config.tracing.otlp;
    this.spans =
      otlp === undefined || !config.tracing.propagate
        ? undefined
        : new ProxySpans(otlp, config.region, options.logger);
    const t = config.timeouts;
    const poolOptions = {
      connections: config.circuitBreakers.maxConnections,
      keepAliveTimeoutMs: config.upstream.keepAliveTimeoutMs,
      connectMs: t.connectMs,
    };
    this.deadlines = new Deadlines({ headersMs: t.headersMs, bodyMs: t.bodyMs });
    this.upstreams = new UpstreamSet(poolOptions, options.logger);
    this.peerUpstreams = new UpstreamSet(poolOptions, options.logger);
    this.peers = new PeerDirectory(config, this.peerUpstreams, options.defaultPeerPort);
    const upstreams = this.upstreams;
    const health = this.health;
    const breakers = new CircuitBreakers(config.circuitBreakers, upstreams, options.metrics);
    this.selector = new Selector({
      algorithm: createBalancer(config.balancer, {
        vnodes: config.vnodes,
        balanceFactor: config.boundedLoad.enabled ? config.boundedLoad.balanceFactor : undefined,
      }),
      isHealthy: (id) => health.isHealthy(id),
      inFlight: (id) => upstreams.get(id)?.inFlight ?? 0,
      refuses: (id, retry) => breakers.refuses(id, retry),
      panicThresholdPercent: config.panicThresholdPercent,
    });
    this.forwarder = new Forwarder({
      config,
      logger: this.logger,
      metrics: this.metrics,
      health,
      selector: this.selector,
      upstreams,
      breakers,
      peers: this.peers,
      policies: this.policies,
      tunnels: this.tunnels,
      deadlines: this.deadlines,
      inFlight: () => this.inFlight,
      closing: () => this.closing,
      finish: (ex) => this.finish(ex),
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
    this.peers.update(snapshot, false);
  }

  /** Rebuilds the pool and its connections from the region's backends. Returns whether they changed. */
  applySnapshot(snapshot: Snapshot): boolean {
    this.peers.update(snapshot, true);
    const backends = snapshot.backends.get(this.config.region);
    const membersChanged = this.selector.setBackends(backends === undefined ? [] : backends.values());
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
    this.logger.warn(
      { healthy: this.selector.healthyActive, active: this.selector.activeCount },
      this.selector.panic ? 'panic mode: ignoring backend health' : 'panic mode over',
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Admit → policy gate → select, for ordinary and upgrade requests alike

  handle(req: ProxyRequest, res: ProxyResponse, proto: 'http' | 'https'): void {
    this.start(req, res, proto, undefined);
  }

  /**
   * An upgrade request (HTTP/1.1). `res` writes on the client's connection and closes it after:
   * rejections and a backend's non-101 answer go through it like any response.
   */
  handleUpgrade(
    req: ProxyRequest,
    res: ProxyResponse,
    upgrade: UpgradeSocket,
    proto: 'http' | 'https',
  ): void {
    upgrade.socket.on('error', () => upgrade.socket.destroy());
    this.start(req, res, proto, upgrade);
  }

  private start(
    req: ProxyRequest,
    res: ProxyResponse,
    proto: 'http' | 'https',
    upgrade: UpgradeSocket | undefined,
  ): void {
    this.inFlight++;
    const ex = this.admission.admit(req, res, proto, upgrade);
    ex.owner = this;
    (res as unknown as Record<symbol, Exchange>)[EXCHANGE] = ex;
    res.on('close', onResponseClose);
    const refusal = this.admission.refusal(ex, proto === 'https');
    if (refusal !== undefined) {
      this.forwarder.fail(ex, refusal);
      return;
    }
    if (this.gate !== undefined) this.gate.check(ex);
    else this.forwarder.route(ex);
  }

  /** Acts on a policy verdict: answers a rejection, or sends a passing request on its way. */
  private afterPolicy(ex: Exchange, preq: PolicyRequest, verdict: PolicyVerdict): void {
    // The client left (or was answered) while a cluster-wide check was pending.
    if (ex.done || ex.clientGone || ex.res.writableEnded) return;
    ex.policyAction = verdict.action;
    if (verdict.action === 'reject') {
      const error = verdict.body.error;
      ex.policyRule = error.ruleId;
      this.forwarder.fail(
        ex,
        { code: error.code, message: error.message, ruleId: error.ruleId },
        verdict.headers,
      );
      return;
    }
    if (verdict.headers !== undefined) ex.policyHeaders = verdict.headers;
    ex.policyReq = preq;
    try {
      this.forwarder.route(ex);
    } catch (err) {
      this.logger.error({ err: describeError(err), requestId: ex.requestId }, 'request routing failed');
      this.forwarder.fail(ex, { code: 'E_UPSTREAM_CONNECT', message: 'the request could not be routed' });
    }
  }

  /**
   * The front-end saw the client's framing break in the body of a request being answered (node:http
   * reports it on the connection): the attempt is dropped, never held against the backend, and the
   * client gets a 400. False when `res` is not an exchange's response.
   */
  rejectBrokenRequest(res: ProxyResponse, reason: string): boolean {
    const ex = (res as unknown as Record<symbol, Exchange | undefined>)[EXCHANGE];
    if (ex === undefined || ex.done) return false;
    this.forwarder.fail(ex, { code: 'E_BAD_REQUEST', message: `malformed HTTP request: ${reason}` });
    ex.abort?.(new ClientGone('the request body broke'));
    return true;
  }

  /** The client's response closed (finished or aborted): account for the request exactly once. */
  finish(ex: Exchange): void {
    if (ex.done) return;
    ex.done = true;
    if (!ex.tunnelled && !ex.res.writableFinished) {
      ex.clientGone = true;
      ex.abort?.(new ClientGone('client went away'));
    }
    ex.paced?.destroy();
    this.inFlight--;
    this.forwarder.release(ex);
    const end = performance.now();
    const ms = end - ex.start;
    this.latency.record(ms);
    const status = ex.status === 0 ? 499 : ex.status;
    this.metrics.request(ex.answeredBy, ex.method, status, ms / 1000);
    this.spans?.record(ex, status, end);
    const sampleRate = this.config.accessLog.sampleRate;
    if (sampleRate > 0 && Math.random() < sampleRate) {
      this.logger.info(
        {
          log: 'access',
          requestId: ex.requestId,
          method: ex.method,
          path: ex.target,
          status,
          backend: ex.answeredBy,
          attempts: ex.attempts,
          ms: Math.round(ms * 1000) / 1000,
        },
        'proxy request',
      );
    }
  }

  /** Closes every upstream pool, gracefully until `deadline` (ms epoch). */
  async close(deadline: number): Promise<void> {
    this.untrackInFlight();
    this.deadlines.close();
    for (const t of this.tunnels) t.destroy();
    this.tunnels.clear();
    await Promise.all([
      this.upstreams.close(deadline),
      this.peerUpstreams.close(deadline),
      this.spans?.close(deadline),
    ]);
  }
}

/** 'close' listener of every response (one function, no closure per request). */
function onResponseClose(this: unknown): void {
  const ex = (this as Record<symbol, Exchange | undefined>)[EXCHANGE];
  if (ex !== undefined) ex.owner?.finish(ex);
}
