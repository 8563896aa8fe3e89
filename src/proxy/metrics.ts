// The proxy's Prometheus metrics, registered in the registry passed in (never the global one).
// The per-request metrics are plain numbers turned into Prometheus values at scrape time, so the
// request path does no label hashing. Every series carries the proxy's `region` (the label sets are
// documented in src/infra/metrics/catalogue.ts); several proxies may share one registry, each with its own
// region's series. In cluster mode each worker registers the same series and the primary aggregates
// them (sum, or min/first where noted), which the region label does not change.
import { Counter, Gauge, type Registry } from 'prom-client';
import {
  LocalHistogram,
  customMetric,
  registerCustom,
  type CustomMetric,
  type MetricValue,
} from '../infra/metrics/custom.js';
import { reuseMetric } from '../infra/metrics/registry.js';

export type MethodClass = 'read' | 'write' | 'other';

export function methodClass(method: string): MethodClass {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
      return 'read';
    case 'POST':
    case 'PUT':
    case 'PATCH':
    case 'DELETE':
      return 'write';
    default:
      return 'other';
  }
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

const STATUS_CLASS_INDEX = STATUS_CLASSES.length; // 'other'
const METHOD_CLASSES = ['read', 'write', 'other'] as const;
const SLOTS = METHOD_CLASSES.length * (STATUS_CLASSES.length + 1);
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function methodIndex(method: string): number {
  const c = methodClass(method);
  return c === 'read' ? 0 : c === 'write' ? 1 : 2;
}

function statusIndex(status: number): number {
  const i = Math.floor(status / 100) - 1;
  return i >= 0 && i < STATUS_CLASS_INDEX ? i : STATUS_CLASS_INDEX;
}

/** Per-backend request counts and latency buckets, updated with plain arithmetic. */
class BackendTally {
  /** [method class × status class] request counts. */
  readonly counts = new Float64Array(SLOTS);
  readonly duration = new LocalHistogram(DURATION_BUCKETS);
}

/**
 * `meridian_proxy_requests_total` and `meridian_proxy_request_duration_seconds`, registered as
 * custom metric objects: the request path only adds to numbers in a per-backend tally (no label
 * hashing or validation per request, as prom-client's labelled children do); the Prometheus
 * values are built when the registry is scraped. Two proxies in one registry share the tallies.
 */
class RequestAccounting {
  /** region → backend → tally. */
  readonly tallies = new Map<string, Map<string, BackendTally>>();
  readonly counter: CustomMetric;
  readonly histogram: CustomMetric;

  constructor() {
    this.counter = customMetric({
      name: 'meridian_proxy_requests_total',
      help: 'Requests answered by the proxy, by backend ("none" when the proxy answered itself)',
      type: 'counter',
      values: () => this.counterValues(),
      reset: () => this.tallies.clear(),
    });
    this.histogram = customMetric({
      name: 'meridian_proxy_request_duration_seconds',
      help: 'Time from receiving a request until its response ended',
      type: 'histogram',
      values: () => this.histogramValues(),
      reset: () => this.tallies.clear(),
    });
  }

  tally(region: string, backend: string): BackendTally {
    let byBackend = this.tallies.get(region);
    if (byBackend === undefined) {
      byBackend = new Map();
      this.tallies.set(region, byBackend);
    }
    let t = byBackend.get(backend);
    if (t === undefined) {
      t = new BackendTally();
      if (byBackend.size < 10000) byBackend.set(backend, t);
    }
    return t;
  }

  private *each(): Generator<[string, string, BackendTally]> {
    for (const [region, byBackend] of this.tallies)
      for (const [backend, t] of byBackend) yield [region, backend, t];
  }

  private counterValues(): MetricValue[] {
    const values: MetricValue[] = [];
    for (const [region, backend, t] of this.each()) {
      for (let m = 0; m < METHOD_CLASSES.length; m++) {
        for (let s = 0; s <= STATUS_CLASS_INDEX; s++) {
          const value = t.counts[m * (STATUS_CLASS_INDEX + 1) + s] ?? 0;
          if (value === 0) continue;
          values.push({
            value,
            labels: {
              region,
              backend,
              method_class: METHOD_CLASSES[m] ?? 'other',
              status_class: STATUS_CLASSES[s] ?? 'other',
            },
          });
        }
      }
    }
    return values;
  }

  private histogramValues(): MetricValue[] {
    const values: MetricValue[] = [];
    for (const [region, backend, t] of this.each()) {
      if (t.duration.count > 0) t.duration.pushValues(values, this.histogram.name, { region, backend });
    }
    return values;
  }
}

/** Where each registry's request accounting lives (shared by the proxies registered there). */
const accountingByRegistry = new WeakMap<Registry, RequestAccounting>();
/**
 * In-flight sources per registry, with their region (summed per region at scrape time, so the
 * request path never touches a gauge).
 */
const inFlightSources = new WeakMap<Registry, Map<() => number, string>>();

export class ProxyMetrics {
  private readonly accounting: RequestAccounting;
  private readonly retries: Counter<'region'>;
  private readonly retriesChild: { inc(): void };
  private readonly ejections: Counter<'region' | 'backend'>;
  private readonly breakerTrips: Counter<'region' | 'backend' | 'limit'>;
  private readonly healthy: Gauge<'region' | 'backend'>;
  private readonly share: Gauge<'region' | 'backend'>;
  private readonly inFlight: Gauge<'region'>;
  private readonly healthReports: Counter<'region' | 'result'>;
  private readonly healthReportFailing: Gauge<'region'>;
  private readonly sources: Map<() => number, string>;
  /** Backends with a ring share series (removed when they leave the ring). */
  private shareIds = new Set<string>();

  constructor(
    private readonly registry: Registry,
    readonly region: string,
  ) {
    const registers = [registry];
    // A second proxy in the same registry (tests, two listeners) shares the metrics.
    const reuse = <T>(name: string, create: () => T): T => reuseMetric(registry, name, create);
    let accounting = accountingByRegistry.get(registry);
    if (accounting === undefined) {
      accounting = new RequestAccounting();
      accountingByRegistry.set(registry, accounting);
      registerCustom([registry], accounting.counter);
      registerCustom([registry], accounting.histogram);
    }
    this.accounting = accounting;
    let sources = inFlightSources.get(registry);
    if (sources === undefined) {
      sources = new Map();
      inFlightSources.set(registry, sources);
    }
    this.sources = sources;
    const inFlightOf = sources;
    this.retries = reuse(
      'meridian_proxy_retries_total',
      () =>
        new Counter({
          name: 'meridian_proxy_retries_total',
          help: 'Requests re-sent to another backend after a connection error or a retryable status',
          labelNames: ['region'],
          registers,
        }),
    );
    this.ejections = reuse(
      'meridian_proxy_ejections_total',
      () =>
        new Counter({
          name: 'meridian_proxy_ejections_total',
          help: 'Times a backend was marked unhealthy (active checks or outlier detection)',
          labelNames: ['region', 'backend'],
          registers,
        }),
    );
    this.breakerTrips = reuse(
      'meridian_proxy_circuit_breaker_trips_total',
      () =>
        new Counter({
          name: 'meridian_proxy_circuit_breaker_trips_total',
          help: 'Times a circuit breaker refused a backend a request (or made one wait, max_connections)',
          labelNames: ['region', 'backend', 'limit'],
          registers,
        }),
    );
    this.healthy = reuse(
      'meridian_proxy_backend_healthy',
      () =>
        new Gauge({
          name: 'meridian_proxy_backend_healthy',
          help: '1 when the backend is healthy in this proxy, else 0',
          labelNames: ['region', 'backend'],
          // Over cluster workers: healthy only when every worker sees it so.
          aggregator: 'min',
          registers,
        }),
    );
    this.share = reuse(
      'meridian_proxy_ring_share_ratio',
      () =>
        new Gauge({
          name: 'meridian_proxy_ring_share_ratio',
          help: "Fraction of the hash ring's key space owned by the backend",
          labelNames: ['region', 'backend'],
          // Every worker builds the same ring.
          aggregator: 'first',
          registers,
        }),
    );
    this.inFlight = reuse(
      'meridian_proxy_in_flight_requests',
      () =>
        new Gauge({
          name: 'meridian_proxy_in_flight_requests',
          help: 'Requests being proxied right now',
          labelNames: ['region'],
          registers,
          collect(this: Gauge<'region'>) {
            const byRegion = new Map<string, number>();
            for (const [source, region] of inFlightOf)
              byRegion.set(region, (byRegion.get(region) ?? 0) + source());
            this.reset();
            for (const [region, n] of byRegion) this.labels(region).set(n);
          },
        }),
    );
    this.healthReports = reuse(
      'meridian_proxy_health_reports_total',
      () =>
        new Counter({
          name: 'meridian_proxy_health_reports_total',
          help: 'Region health reports this proxy sent (to the store or the admin API), by result',
          labelNames: ['region', 'result'],
          registers,
        }),
    );
    this.healthReportFailing = reuse(
      'meridian_proxy_health_report_failing',
      () =>
        new Gauge({
          name: 'meridian_proxy_health_report_failing',
          help: "1 while this proxy's last region health report failed (summed over cluster workers)",
          labelNames: ['region'],
          registers,
        }),
    );
    this.healthReportFailing.labels(region).set(0);
    this.retriesChild = this.retries.labels(region);
  }

  /** One region health report sent (`ok`) or not; the failing gauge follows the last one. */
  healthReport(ok: boolean): void {
    this.healthReports.labels(this.region, ok ? 'ok' : 'failed').inc();
    this.healthReportFailing.labels(this.region).set(ok ? 0 : 1);
  }

  /** A tally to pass to `count` (look it up once per backend, not per request). */
  tally(backend: string): BackendTally {
    return this.accounting.tally(this.region, backend);
  }

  /** Accounts one finished request. */
  count(tally: BackendTally, method: string, status: number, seconds: number): void {
    const slot = methodIndex(method) * (STATUS_CLASS_INDEX + 1) + statusIndex(status);
    tally.counts[slot] = (tally.counts[slot] ?? 0) + 1;
    tally.duration.observe(seconds);
  }

  request(backend: string, method: string, status: number, seconds: number): void {
    this.count(this.tally(backend), method, status, seconds);
  }

  /** Adds a source of in-flight requests (read when the registry is scraped). */
  trackInFlight(source: () => number): () => void {
    this.sources.set(source, this.region);
    return () => this.sources.delete(source);
  }

  retry(): void {
    this.retriesChild.inc();
  }

  /** A circuit breaker refused `backend` a request (trips are rare: a labelled child is fine). */
  circuitBreakerTrip(backend: string, limit: string): void {
    this.breakerTrips.labels(this.region, backend, limit).inc();
  }

  ejected(backend: string): void {
    this.ejections.labels(this.region, backend).inc();
  }

  setHealthy(backend: string, healthy: boolean): void {
    this.healthy.labels(this.region, backend).set(healthy ? 1 : 0);
  }

  /** Replaces this region's ring shares (backends that left lose their series). */
  setShares(shares: ReadonlyMap<string, number>): void {
    for (const id of this.shareIds) if (!shares.has(id)) this.share.remove(this.region, id);
    for (const [id, ratio] of shares) this.share.labels(this.region, id).set(ratio);
    this.shareIds = new Set(shares.keys());
  }

  /** This proxy's metrics only, in Prometheus text format. */
  async text(): Promise<string> {
    const parts = await Promise.all(
      [
        this.accounting.counter.name,
        this.accounting.histogram.name,
        'meridian_proxy_retries_total',
        'meridian_proxy_ejections_total',
        'meridian_proxy_circuit_breaker_trips_total',
        'meridian_proxy_backend_healthy',
        'meridian_proxy_ring_share_ratio',
        'meridian_proxy_in_flight_requests',
        'meridian_proxy_health_reports_total',
        'meridian_proxy_health_report_failing',
      ].map((name) => this.registry.getSingleMetricAsString(name)),
    );
    return parts.map((p) => `${p}\n`).join('');
  }

  forgetBackend(backend: string): void {
    this.healthy.remove(this.region, backend);
  }
}
