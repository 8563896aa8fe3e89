// The proxy's Prometheus metrics, registered in the registry passed in (never the global one).
// Labelled children are cached so the request path does no label hashing.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

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

function statusClass(status: number): string {
  return STATUS_CLASSES[Math.floor(status / 100) - 1] ?? 'other';
}

interface Child {
  inc(): void;
}
interface TimerChild {
  observe(v: number): void;
}

export class ProxyMetrics {
  private readonly requests: Counter<'backend' | 'method_class' | 'status_class'>;
  private readonly duration: Histogram<'backend'>;
  private readonly retries: Counter;
  private readonly ejections: Counter<'backend'>;
  private readonly healthy: Gauge<'backend'>;
  private readonly share: Gauge<'backend'>;
  readonly inFlight: Gauge;
  private readonly requestChildren = new Map<string, Child>();
  private readonly durationChildren = new Map<string, TimerChild>();

  constructor(registry: Registry) {
    const registers = [registry];
    // A second proxy in the same registry (tests, two listeners) shares the metrics.
    const reuse = <T>(name: string, create: () => T): T =>
      (registry.getSingleMetric(name) as T | undefined) ?? create();
    this.requests = reuse(
      'meridian_proxy_requests_total',
      () =>
        new Counter({
          name: 'meridian_proxy_requests_total',
          help: 'Requests answered by the proxy, by backend ("none" when the proxy answered itself)',
          labelNames: ['backend', 'method_class', 'status_class'],
          registers,
        }),
    );
    this.duration = reuse(
      'meridian_proxy_request_duration_seconds',
      () =>
        new Histogram({
          name: 'meridian_proxy_request_duration_seconds',
          help: 'Time from receiving a request until its response ended',
          labelNames: ['backend'],
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers,
        }),
    );
    this.retries = reuse(
      'meridian_proxy_retries_total',
      () =>
        new Counter({
          name: 'meridian_proxy_retries_total',
          help: 'Requests re-sent to another backend after a connection error or a retryable status',
          registers,
        }),
    );
    this.ejections = reuse(
      'meridian_proxy_ejections_total',
      () =>
        new Counter({
          name: 'meridian_proxy_ejections_total',
          help: 'Times a backend was marked unhealthy (active checks or outlier detection)',
          labelNames: ['backend'],
          registers,
        }),
    );
    this.healthy = reuse(
      'meridian_proxy_backend_healthy',
      () =>
        new Gauge({
          name: 'meridian_proxy_backend_healthy',
          help: '1 when the backend is healthy in this proxy, else 0',
          labelNames: ['backend'],
          registers,
        }),
    );
    this.share = reuse(
      'meridian_proxy_ring_share_ratio',
      () =>
        new Gauge({
          name: 'meridian_proxy_ring_share_ratio',
          help: "Fraction of the hash ring's key space owned by the backend",
          labelNames: ['backend'],
          registers,
        }),
    );
    this.inFlight = reuse(
      'meridian_proxy_in_flight_requests',
      () =>
        new Gauge({
          name: 'meridian_proxy_in_flight_requests',
          help: 'Requests being proxied right now',
          registers,
        }),
    );
  }

  request(backend: string, method: string, status: number, seconds: number): void {
    const key = `${backend}\u0000${method}\u0000${status}`;
    let child = this.requestChildren.get(key);
    if (child === undefined) {
      child = this.requests.labels(backend, methodClass(method), statusClass(status));
      if (this.requestChildren.size < 10000) this.requestChildren.set(key, child);
    }
    child.inc();
    let timer = this.durationChildren.get(backend);
    if (timer === undefined) {
      timer = this.duration.labels(backend);
      this.durationChildren.set(backend, timer);
    }
    timer.observe(seconds);
  }

  retry(): void {
    this.retries.inc();
  }

  ejected(backend: string): void {
    this.ejections.labels(backend).inc();
  }

  setHealthy(backend: string, healthy: boolean): void {
    this.healthy.labels(backend).set(healthy ? 1 : 0);
  }

  /** Replaces the ring shares and drops the series of backends that left. */
  setShares(shares: ReadonlyMap<string, number>, known: Iterable<string>): void {
    this.share.reset();
    for (const [id, ratio] of shares) this.share.labels(id).set(ratio);
    const keep = new Set(known);
    for (const key of [...this.durationChildren.keys()])
      if (!keep.has(key) && !key.startsWith('region:')) this.durationChildren.delete(key);
  }

  forgetBackend(backend: string): void {
    this.healthy.remove(backend);
  }
}
