// Every Prometheus metric Meridian documents, by the component that registers it. The Grafana
// dashboard (config/grafana/meridian-dashboard.json) may only query these (checked by
// test/grafana/dashboard.test.ts); a test of the real registries checks this list against them.
// Histograms are listed by their base name: `_bucket`, `_sum` and `_count` follow from it.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

export interface MetricDoc {
  readonly name: string;
  readonly type: MetricType;
  readonly labels: readonly string[];
  readonly help: string;
}

export const DOCUMENTED_METRICS: readonly MetricDoc[] = [
  // DNS tier
  {
    name: 'meridian_dns_queries_total',
    type: 'counter',
    labels: ['qtype', 'rcode'],
    help: 'DNS queries answered, by query type and response code.',
  },
  {
    name: 'meridian_dns_answers_total',
    type: 'counter',
    labels: ['region'],
    help: 'Steered answers, by the region answered.',
  },
  {
    name: 'meridian_dns_query_duration_seconds',
    type: 'histogram',
    labels: [],
    help: 'Time from a query arriving to its answer being sent.',
  },
  // Proxy tier
  {
    name: 'meridian_proxy_requests_total',
    type: 'counter',
    labels: ['region', 'backend', 'code'],
    help: 'Proxied requests, by region, backend and status class.',
  },
  {
    name: 'meridian_proxy_request_duration_seconds',
    type: 'histogram',
    labels: ['region', 'backend'],
    help: 'Proxied request duration.',
  },
  {
    name: 'meridian_proxy_backend_healthy',
    type: 'gauge',
    labels: ['region', 'backend'],
    help: '1 when the backend is healthy, 0 otherwise.',
  },
  {
    name: 'meridian_proxy_ring_share_ratio',
    type: 'gauge',
    labels: ['region', 'backend'],
    help: 'Share of the hash ring owned by the backend (0-1).',
  },
  // State store
  {
    name: 'meridian_state_redis_connected',
    type: 'gauge',
    labels: [],
    help: '1 while Redis is reachable.',
  },
  {
    name: 'meridian_state_snapshot_age_seconds',
    type: 'gauge',
    labels: [],
    help: 'Seconds since the snapshot was last confirmed against the source of truth.',
  },
  {
    name: 'meridian_state_resyncs_total',
    type: 'counter',
    labels: [],
    help: 'Full reloads of the state snapshot.',
  },
  // Operations (this folder)
  {
    name: 'meridian_ops_alerts_total',
    type: 'counter',
    labels: ['type', 'level'],
    help: 'Alerts raised by this node, by type and level.',
  },
  {
    name: 'meridian_ops_webhook_deliveries_total',
    type: 'counter',
    labels: ['webhook', 'result'],
    help: 'Alert webhook deliveries by outcome (delivered, failed, dropped).',
  },
  {
    name: 'meridian_ops_audit_failures_total',
    type: 'counter',
    labels: [],
    help: 'Audit entries that could not be written after their change succeeded.',
  },
  // Process (prom-client default metrics with the meridian_ prefix)
  {
    name: 'meridian_process_cpu_seconds_total',
    type: 'counter',
    labels: [],
    help: 'Total user and system CPU time spent in seconds.',
  },
  {
    name: 'meridian_process_resident_memory_bytes',
    type: 'gauge',
    labels: [],
    help: 'Resident memory size in bytes.',
  },
  {
    name: 'meridian_nodejs_eventloop_lag_seconds',
    type: 'gauge',
    labels: [],
    help: 'Lag of event loop in seconds.',
  },
  {
    name: 'meridian_nodejs_eventloop_lag_p99_seconds',
    type: 'gauge',
    labels: [],
    help: 'The 99th percentile of the recorded event loop delays.',
  },
  {
    name: 'meridian_nodejs_heap_size_used_bytes',
    type: 'gauge',
    labels: [],
    help: 'Process heap size used from Node.js in bytes.',
  },
];

export const DOCUMENTED_METRIC_NAMES: ReadonlySet<string> = new Set(DOCUMENTED_METRICS.map((m) => m.name));

/** Series names a query may use: counters/gauges as is, histograms with their suffixes. */
export function queryableSeriesNames(): Set<string> {
  const out = new Set<string>();
  for (const m of DOCUMENTED_METRICS) {
    out.add(m.name);
    if (m.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(`${m.name}${s}`);
    if (m.type === 'summary') for (const s of ['_sum', '_count']) out.add(`${m.name}${s}`);
  }
  return out;
}
