// Every Prometheus metric Meridian documents, by the component that registers it. The Grafana
// dashboard (config/grafana/meridian-dashboard.json) may only query these (checked by
// test/infra/metrics/dashboard.test.ts); a test of the real registries checks this list against them.
// Histograms are listed by their base name: `_bucket`, `_sum` and `_count` follow from it.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

export interface MetricDoc {
  readonly name: string;
  readonly type: MetricType;
  readonly labels: readonly string[];
  readonly help: string;
}

export const DOCUMENTED_METRICS: readonly MetricDoc[] = [
  // DNS tier (src/dns/metrics.ts)
  {
    name: 'meridian_dns_queries_total',
    type: 'counter',
    labels: ['qtype', 'rcode', 'transport'],
    help: 'DNS queries answered, by query type, response code and transport.',
  },
  {
    name: 'meridian_dns_answers_total',
    type: 'counter',
    labels: ['region', 'country'],
    help: 'Steered answers, by region answered and client country.',
  },
  {
    name: 'meridian_dns_ecs_queries_total',
    type: 'counter',
    labels: ['present'],
    help: 'Queries with and without an EDNS Client Subnet option.',
  },
  {
    name: 'meridian_dns_truncated_total',
    type: 'counter',
    labels: [],
    help: 'UDP replies sent truncated (TC=1).',
  },
  {
    name: 'meridian_dns_rate_limited_total',
    type: 'counter',
    labels: ['action'],
    help: 'Responses limited by RRL, by action (slip or drop).',
  },
  {
    name: 'meridian_dns_udp_dropped_total',
    type: 'counter',
    labels: ['reason'],
    help: 'UDP datagrams dropped by the batched socket layer (oversize query or reply, full send buffer, send error, handler error).',
  },
  {
    name: 'meridian_dns_query_duration_seconds',
    type: 'histogram',
    labels: [],
    help: 'Time from a query arriving to its answer being sent.',
  },
  {
    name: 'meridian_dns_dnssec_signatures_total',
    type: 'counter',
    labels: [],
    help: 'RRSIGs made by online signing (DNSSEC).',
  },
  {
    name: 'meridian_dns_dnssec_signing_seconds_total',
    type: 'counter',
    labels: [],
    help: 'Time spent making RRSIGs.',
  },
  {
    name: 'meridian_dns_dnssec_signature_cache_total',
    type: 'counter',
    labels: ['result'],
    help: 'Signature cache look-ups, by result (hit or miss).',
  },
  {
    name: 'meridian_dns_snapshot_age_seconds',
    type: 'gauge',
    labels: [],
    help: 'Age of the state snapshot the DNS tier answers from.',
  },
  // Proxy tier (src/proxy/metrics.ts)
  {
    name: 'meridian_proxy_requests_total',
    type: 'counter',
    labels: ['region', 'backend', 'method_class', 'status_class'],
    help: 'Proxied requests, by region, backend, method class and status class.',
  },
  {
    name: 'meridian_proxy_request_duration_seconds',
    type: 'histogram',
    labels: ['region', 'backend'],
    help: 'Proxied request duration.',
  },
  {
    name: 'meridian_proxy_retries_total',
    type: 'counter',
    labels: ['region'],
    help: 'Requests retried on another backend.',
  },
  {
    name: 'meridian_proxy_ejections_total',
    type: 'counter',
    labels: ['region', 'backend'],
    help: 'Passive ejections of a backend after consecutive failures.',
  },
  {
    name: 'meridian_proxy_health_reports_total',
    type: 'counter',
    labels: ['region', 'result'],
    help: 'Region health reports sent to the store or the admin API (proxy.report.api), by result (ok, failed).',
  },
  {
    name: 'meridian_proxy_health_report_failing',
    type: 'gauge',
    labels: ['region'],
    help: "1 while the proxy's last region health report failed (store or admin API unreachable, token refused).",
  },
  {
    name: 'meridian_proxy_circuit_breaker_trips_total',
    type: 'counter',
    labels: ['region', 'backend', 'limit'],
    help: 'Circuit-breaker trips per backend: limit is max_connections (the request waited for a connection), max_pending_requests, max_requests or max_retries (refused).',
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
  {
    name: 'meridian_proxy_in_flight_requests',
    type: 'gauge',
    labels: ['region'],
    help: 'Requests being proxied now.',
  },
  // Clustered tiers' workers (src/cluster/metrics.ts; a tier answering in its own process counts as 1)
  {
    name: 'meridian_cluster_workers',
    type: 'gauge',
    labels: ['tier'],
    help: 'Workers running and answering, per tier.',
  },
  {
    name: 'meridian_cluster_workers_configured',
    type: 'gauge',
    labels: ['tier'],
    help: 'Workers the tier is configured to run.',
  },
  {
    name: 'meridian_cluster_worker_restarts_total',
    type: 'counter',
    labels: ['tier'],
    help: 'Workers that died while serving and were replaced, per tier.',
  },
  // Traffic policies (src/policy/engine.ts)
  {
    name: 'meridian_policy_decisions_total',
    type: 'counter',
    labels: ['type', 'action'],
    help: 'Policy decisions, by policy type and action.',
  },
  {
    name: 'meridian_policy_waf_matches_total',
    type: 'counter',
    labels: ['rule'],
    help: 'WAF rule matches, by rule id.',
  },
  // State store (src/metrics/state-metrics.ts)
  {
    name: 'meridian_state_redis_connected',
    type: 'gauge',
    labels: ['backend'],
    help: '1 while writes can reach the state store (always 1 for the embedded store).',
  },
  {
    name: 'meridian_state_snapshot_age_seconds',
    type: 'gauge',
    labels: [],
    help: 'Seconds since the snapshot was last confirmed against the source.',
  },
  {
    name: 'meridian_state_change_feed_lag_seconds',
    type: 'gauge',
    labels: [],
    help: 'Delay between a change being published and this node applying it.',
  },
  {
    name: 'meridian_state_resyncs_total',
    type: 'counter',
    labels: [],
    help: 'Full reloads of the state from its source.',
  },
  // Admin API and operations (src/api/server.ts, src/ops/)
  {
    name: 'meridian_api_requests_total',
    type: 'counter',
    labels: ['method', 'route', 'status'],
    help: 'Admin API requests.',
  },
  {
    name: 'meridian_ops_alerts_total',
    type: 'counter',
    labels: ['type', 'level'],
    help: 'Alerts raised, by type and level.',
  },
  {
    name: 'meridian_ops_webhook_deliveries_total',
    type: 'counter',
    labels: ['webhook', 'result'],
    help: 'Webhook delivery attempts, by webhook and result.',
  },
  {
    name: 'meridian_ops_audit_failures_total',
    type: 'counter',
    labels: [],
    help: 'Audit records that could not be written.',
  },
  // Autoscaling (src/ops/autoscale/service.ts)
  {
    name: 'meridian_autoscale_leader',
    type: 'gauge',
    labels: [],
    help: 'Whether this node holds the autoscaler decider lease (1) or not (0).',
  },
  {
    name: 'meridian_autoscale_current_backends',
    type: 'gauge',
    labels: ['region'],
    help: 'Backends a region had at its last evaluation on this node.',
  },
  {
    name: 'meridian_autoscale_desired_backends',
    type: 'gauge',
    labels: ['region'],
    help: 'Backends the last evaluation on this node asked for.',
  },
  {
    name: 'meridian_autoscale_decisions_total',
    type: 'counter',
    labels: ['region', 'action'],
    help: 'Autoscaling evaluations, by region and action (scale-up, scale-down, hold).',
  },
  {
    name: 'meridian_autoscale_actuations_total',
    type: 'counter',
    labels: ['region', 'actuator', 'result'],
    help: 'Actuator calls, by region, actuator and result (ok, failed, dry-run).',
  },
  // Process (prom-client default metrics, prefix meridian_; the three `_total` gauges are dropped, see
  // src/infra/metrics/registry.ts)
  {
    name: 'meridian_process_cpu_seconds_total',
    type: 'counter',
    labels: [],
    help: 'Total user and system CPU time spent.',
  },
  {
    name: 'meridian_process_resident_memory_bytes',
    type: 'gauge',
    labels: [],
    help: 'Resident memory size.',
  },
  {
    name: 'meridian_nodejs_eventloop_lag_seconds',
    type: 'gauge',
    labels: [],
    help: 'Event loop lag.',
  },
  {
    name: 'meridian_nodejs_eventloop_lag_p99_seconds',
    type: 'gauge',
    labels: [],
    help: 'Event loop lag, 99th percentile.',
  },
  {
    name: 'meridian_nodejs_heap_size_used_bytes',
    type: 'gauge',
    labels: [],
    help: 'Used V8 heap.',
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
