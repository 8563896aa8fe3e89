// Prometheus metrics of the DNS tier. Children of labelled counters are cached, so the per-query
// cost is a Map lookup and an increment. Label values are bounded: qtype by a fixed list
// (wire.qtypeLabel), rcode by the few we send, country by the ISO 3166 list.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { countries } from 'countries-list';

export type Transport = 'udp' | 'tcp';

const ISO_COUNTRIES = new Set(Object.keys(countries));

/** The country label for a located client: a known ISO code, or "unknown". */
export function countryLabel(code: string | undefined): string {
  return code !== undefined && ISO_COUNTRIES.has(code) ? code : 'unknown';
}

interface Inc {
  inc(): void;
}

export class DnsMetrics {
  private readonly queries: Counter<'qtype' | 'rcode' | 'transport'>;
  private readonly answers: Counter<'region' | 'country'>;
  private readonly ecsPresent: Inc;
  private readonly ecsAbsent: Inc;
  readonly truncated: Counter;
  private readonly rateLimitedSlip: Inc;
  private readonly rateLimitedDrop: Inc;
  readonly duration: Histogram;
  readonly snapshotAge: Gauge;
  private readonly queryChildren = new Map<string, Inc>();
  private readonly answerChildren = new Map<string, Inc>();

  constructor(registries: readonly Registry[], snapshotSyncedAt: () => number) {
    const registers = [...registries];
    this.queries = new Counter({
      name: 'meridian_dns_queries_total',
      help: 'DNS queries answered, by query type, response code and transport',
      labelNames: ['qtype', 'rcode', 'transport'] as const,
      registers,
    });
    this.answers = new Counter({
      name: 'meridian_dns_answers_total',
      help: 'Steered answers, by first region answered and client country',
      labelNames: ['region', 'country'] as const,
      registers,
    });
    const ecs = new Counter({
      name: 'meridian_dns_ecs_queries_total',
      help: 'Queries with and without an EDNS Client Subnet option',
      labelNames: ['present'] as const,
      registers,
    });
    this.ecsPresent = ecs.labels('true');
    this.ecsAbsent = ecs.labels('false');
    this.truncated = new Counter({
      name: 'meridian_dns_truncated_total',
      help: 'UDP replies sent with TC=1 because they exceeded the payload limit',
      registers,
    });
    const limited = new Counter({
      name: 'meridian_dns_rate_limited_total',
      help: 'Responses withheld by response rate limiting: slip (sent as TC=1) or drop',
      labelNames: ['action'] as const,
      registers,
    });
    this.rateLimitedSlip = limited.labels('slip');
    this.rateLimitedDrop = limited.labels('drop');
    this.duration = new Histogram({
      name: 'meridian_dns_query_duration_seconds',
      help: 'Time from receiving a query to handing the reply to the socket',
      buckets: [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.001, 0.005, 0.025],
      registers,
    });
    this.snapshotAge = new Gauge({
      name: 'meridian_dns_snapshot_age_seconds',
      help: 'Age of the state snapshot the responder answers from',
      registers,
      aggregator: 'max',
      collect() {
        const at = snapshotSyncedAt();
        this.set(at === 0 ? 0 : Math.max(0, (Date.now() - at) / 1000));
      },
    });
  }

  query(qtype: string, rcode: string, transport: Transport): void {
    const key = `${qtype}|${rcode}|${transport}`;
    let child = this.queryChildren.get(key);
    if (child === undefined) {
      child = this.queries.labels(qtype, rcode, transport);
      this.queryChildren.set(key, child);
    }
    child.inc();
  }

  answer(region: string, country: string | undefined): void {
    const c = countryLabel(country);
    const key = `${region}|${c}`;
    let child = this.answerChildren.get(key);
    if (child === undefined) {
      if (this.answerChildren.size > 10_000) this.answerChildren.clear();
      child = this.answers.labels(region, c);
      this.answerChildren.set(key, child);
    }
    child.inc();
  }

  ecs(present: boolean): void {
    (present ? this.ecsPresent : this.ecsAbsent).inc();
  }

  rateLimited(action: 'slip' | 'drop'): void {
    (action === 'slip' ? this.rateLimitedSlip : this.rateLimitedDrop).inc();
  }
}
