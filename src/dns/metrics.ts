// Prometheus metrics of the DNS tier. The per-query counts are plain numbers (slots found by a
// numeric key or by interned strings) turned into Prometheus values when the registry is scraped,
// so answering a query hashes no label objects (see src/infra/metrics/custom.ts). Label values are
// bounded: qtype by a fixed list (wire.qtypeLabel), rcode by the few we send, country by the ISO
// 3166 list, region by the registered regions.
import { Gauge, type Registry } from 'prom-client';
import { countries } from 'countries-list';
import { LocalHistogram, customMetric, registerCustom, type MetricValue } from '../infra/metrics/custom.js';
import type { UdpBatchStats } from './transport/udp-batch.js';
import { RCODE_NAME, qtypeLabel } from './wire/constants.js';

export type Transport = 'udp' | 'tcp';

const ISO_COUNTRIES = new Set(Object.keys(countries));

/** The country label for a located client: a known ISO code, or "unknown". */
export function countryLabel(code: string | undefined): string {
  return code !== undefined && ISO_COUNTRIES.has(code) ? code : 'unknown';
}

const DURATION_BUCKETS = [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.001, 0.005, 0.025];
/** Bound on the answer (region × country) series. */
const MAX_ANSWER_SLOTS = 10_000;

interface Slot {
  readonly labels: Readonly<Record<string, string>>;
  count: number;
}

export class DnsMetrics {
  /** (qtype, rcode, transport) as one number → count. */
  private readonly querySlots = new Map<number, Slot>();
  /** region → country label → count. */
  private readonly answerSlots = new Map<string, Map<string, Slot>>();
  private answerSlotCount = 0;
  private ecsPresent = 0;
  private ecsAbsent = 0;
  private truncatedCount = 0;
  private slipCount = 0;
  private dropCount = 0;
  private signatures = 0;
  private signingSeconds = 0;
  private signatureHits = 0;
  private signatureMisses = 0;
  private readonly duration = new LocalHistogram(DURATION_BUCKETS);
  readonly snapshotAge: Gauge;
  /** The batched UDP sockets' counters (set once the listeners are up; none with node:dgram). */
  private udpStats: () => readonly UdpBatchStats[] = () => [];
  /** `truncated.inc()`: a UDP reply sent with TC=1. */
  readonly truncated = { inc: (): void => void this.truncatedCount++ };

  constructor(registries: readonly Registry[], snapshotSyncedAt: () => number) {
    const counter = (name: string, help: string, values: () => MetricValue[]): void =>
      registerCustom(registries, customMetric({ name, help, type: 'counter', values }));
    counter(
      'meridian_dns_queries_total',
      'DNS queries answered, by query type, response code and transport',
      () => [...this.querySlots.values()].map((s) => ({ value: s.count, labels: { ...s.labels } })),
    );
    counter(
      'meridian_dns_answers_total',
      'Steered answers, by first region answered and client country',
      () => {
        const out: MetricValue[] = [];
        for (const byCountry of this.answerSlots.values())
          for (const s of byCountry.values()) out.push({ value: s.count, labels: { ...s.labels } });
        return out;
      },
    );
    counter('meridian_dns_ecs_queries_total', 'Queries with and without an EDNS Client Subnet option', () => [
      { value: this.ecsPresent, labels: { present: 'true' } },
      { value: this.ecsAbsent, labels: { present: 'false' } },
    ]);
    counter(
      'meridian_dns_truncated_total',
      'UDP replies sent with TC=1 because they exceeded the payload limit',
      () => [{ value: this.truncatedCount, labels: {} }],
    );
    counter(
      'meridian_dns_rate_limited_total',
      'Responses withheld by response rate limiting: slip (sent as TC=1) or drop',
      () => [
        { value: this.slipCount, labels: { action: 'slip' } },
        { value: this.dropCount, labels: { action: 'drop' } },
      ],
    );
    counter(
      'meridian_dns_udp_dropped_total',
      'UDP datagrams dropped by the batched socket layer, by reason: oversize_query (larger than a ' +
        'receive slot), send_buffer_full, send_error (refused by the kernel), oversize_reply, handler_error',
      () => {
        const sum = {
          oversize_query: 0,
          send_buffer_full: 0,
          send_error: 0,
          oversize_reply: 0,
          handler_error: 0,
        };
        for (const s of this.udpStats()) {
          sum.oversize_query += s.truncatedDrops;
          sum.send_buffer_full += s.sendDrops;
          sum.send_error += s.sendErrors;
          sum.oversize_reply += s.oversizeReplies;
          sum.handler_error += s.handlerErrors;
        }
        return Object.entries(sum).map(([reason, value]) => ({ value, labels: { reason } }));
      },
    );
    counter('meridian_dns_dnssec_signatures_total', 'RRSIGs made by online signing', () => [
      { value: this.signatures, labels: {} },
    ]);
    counter(
      'meridian_dns_dnssec_signing_seconds_total',
      'Time spent making RRSIGs (divide by meridian_dns_dnssec_signatures_total for the mean)',
      () => [{ value: this.signingSeconds, labels: {} }],
    );
    counter(
      'meridian_dns_dnssec_signature_cache_total',
      'RRSIG look-ups in the signature cache, by result (hit, miss)',
      () => [
        { value: this.signatureHits, labels: { result: 'hit' } },
        { value: this.signatureMisses, labels: { result: 'miss' } },
      ],
    );
    const durationName = 'meridian_dns_query_duration_seconds';
    registerCustom(
      registries,
      customMetric({
        name: durationName,
        help: 'Time from receiving a query to handing the reply to the socket',
        type: 'histogram',
        values: () => {
          const out: MetricValue[] = [];
          this.duration.pushValues(out, durationName, {});
          return out;
        },
      }),
    );
    this.snapshotAge = new Gauge({
      name: 'meridian_dns_snapshot_age_seconds',
      help: 'Age of the state snapshot the responder answers from',
      registers: [...registries],
      aggregator: 'max',
      collect() {
        const at = snapshotSyncedAt();
        this.set(at === 0 ? 0 : Math.max(0, (Date.now() - at) / 1000));
      },
    });
  }

  /** Where the UDP drop counters come from (the listeners, once bound). */
  setUdpStatsSource(source: () => readonly UdpBatchStats[]): void {
    this.udpStats = source;
  }

  /** One answered query (`qtype` undefined when the question could not be read). */
  query(qtype: number | undefined, rcode: number, transport: Transport, seconds: number): void {
    const key = ((qtype ?? 65536) * 4096 + (rcode & 0xfff)) * 2 + (transport === 'tcp' ? 1 : 0);
    let slot = this.querySlots.get(key);
    if (slot === undefined) {
      slot = {
        labels: { qtype: qtypeLabel(qtype), rcode: RCODE_NAME[rcode] ?? String(rcode), transport },
        count: 0,
      };
      this.querySlots.set(key, slot);
    }
    slot.count++;
    this.duration.observe(seconds);
  }

  answer(region: string, country: string | undefined): void {
    const c = countryLabel(country);
    let byCountry = this.answerSlots.get(region);
    if (byCountry === undefined) {
      byCountry = new Map();
      this.answerSlots.set(region, byCountry);
    }
    let slot = byCountry.get(c);
    if (slot === undefined) {
      // Regions are operator-registered and countries a fixed list, so this bound is a safety net.
      if (this.answerSlotCount >= MAX_ANSWER_SLOTS) return;
      slot = { labels: { region, country: c }, count: 0 };
      byCountry.set(c, slot);
      this.answerSlotCount++;
    }
    slot.count++;
  }

  /** One RRSIG made, in `seconds`. */
  dnssecSigned(seconds: number): void {
    this.signatures++;
    this.signingSeconds += seconds;
  }

  /** One signature-cache look-up. */
  dnssecCache(hit: boolean): void {
    if (hit) this.signatureHits++;
    else this.signatureMisses++;
  }

  ecs(present: boolean): void {
    if (present) this.ecsPresent++;
    else this.ecsAbsent++;
  }

  rateLimited(action: 'slip' | 'drop'): void {
    if (action === 'slip') this.slipCount++;
    else this.dropCount++;
  }
}
