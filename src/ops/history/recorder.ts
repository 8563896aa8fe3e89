// The history recorder of one node: once per flush interval (a minute by default) it samples the
// node's own cumulative DNS and proxy counters — the Prometheus text `/metrics` serves, in which the
// cluster primary has already summed its workers' counts (they ship them over the existing IPC) —
// and writes what grew since the last sample to the HistoryStore as that minute's rollup per region.
// The DNS answer and proxy request paths therefore do no extra work at all for the history: they
// already count into those metrics with O(1) increments. Health changes come in through
// `recordHealthEvent` (the health watcher here, the region verdict sink) and are written at once,
// deduplicated across nodes. Old history is pruned hourly: minutes after
// `ops.history.minuteRetentionHours`, hours and health events after `ops.history.retentionDays`.
import { countries } from 'countries-list';
import { describeError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import {
  MINUTE_MS,
  type HealthEvent,
  type HistoryStore,
  type TrafficRollup,
} from '../../storage/history-store.js';
import {
  DNS,
  QUOTA_REJECTED,
  RATE_LIMITED,
  UNKNOWN_PLACE,
  WAF_BLOCKS,
  dnsPlaceCounter,
  errorsCounter,
  latencyCounter,
  requestsCounter,
} from './counters.js';
import { parseSamples, type Sample } from './prometheus-text.js';

const SAMPLED = new Set([
  'meridian_dns_answers_total',
  'meridian_proxy_requests_total',
  'meridian_proxy_request_duration_seconds_bucket',
  'meridian_policy_decisions_total',
]);
const PRUNE_EVERY_MS = 3_600_000;
/** Several nodes see one transition within about a second of each other: one event. */
const HEALTH_DEDUPE_MS = 5000;

export interface HistoryRecorderOptions {
  readonly store: HistoryStore;
  /** This node's metrics in Prometheus text (workers included), as `/metrics` serves them. */
  readonly metrics: () => Promise<string>;
  /** The region this node proxies for (policy decisions carry no region label). */
  readonly proxyRegion?: string | undefined;
  readonly flushMs?: number;
  readonly retentionMs: number;
  /** Per-minute rollups are pruned after this (the hourly ones after `retentionMs`). */
  readonly minuteRetentionMs: number;
  readonly log?: Logger;
  readonly clock?: () => number;
}

/** A continent code for an ISO country code (countries-list's data), `XX` when unknown. */
function continentOf(country: string): string {
  const entry = (countries as Record<string, { continent?: string } | undefined>)[country];
  return entry?.continent ?? UNKNOWN_PLACE;
}

export class HistoryRecorder {
  private readonly store: HistoryStore;
  private readonly options: HistoryRecorderOptions;
  private readonly log: Logger;
  private readonly clock: () => number;
  /** Last cumulative value per sample (name + labels); the first sample counts from zero. */
  private readonly last = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private lastPrune = 0;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(options: HistoryRecorderOptions) {
    this.options = options;
    this.store = options.store;
    this.log = options.log ?? silentLogger;
    this.clock = options.clock ?? Date.now;
  }

  start(): void {
    const every = this.options.flushMs ?? MINUTE_MS;
    this.timer = setInterval(() => void this.flush(), every);
    this.timer.unref();
  }

  /** Stops the timer and writes what grew since the last flush. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.flush();
    this.closed = true;
  }

  /** Samples now and writes the growth (one run at a time; never rejects). */
  flush(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Records a health state change (region verdict, backend health); never rejects. */
  async recordHealthEvent(event: HealthEvent): Promise<void> {
    const key = `${event.region}/${event.backend ?? '-'}/${event.healthy ? 'up' : 'down'}/${event.source}`;
    try {
      await this.store.addHealthEvent(event, { dedupeKey: key, dedupeMs: HEALTH_DEDUPE_MS });
    } catch (err) {
      this.log.warn({ err: describeError(err), event }, 'could not record a health event');
    }
  }

  private async run(): Promise<void> {
    const now = this.clock();
    try {
      const rollups = this.rollups(parseSamples(await this.options.metrics(), SAMPLED), now);
      if (rollups.length > 0) await this.store.addTraffic(rollups);
    } catch (err) {
      // The counts stay in `last` as sampled: this minute's growth is lost, later ones are not.
      this.log.warn({ err: describeError(err) }, 'could not write the traffic history');
    }
    if (now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now;
      try {
        await this.store.prune(now - this.options.retentionMs, now - this.options.minuteRetentionMs);
      } catch (err) {
        this.log.warn({ err: describeError(err) }, 'could not prune the history');
      }
    }
  }

  /** How much a cumulative sample grew since the last flush (a restarted worker counts from zero). */
  private growth(s: Sample): number {
    const key = `${s.name}${JSON.stringify(s.labels)}`;
    const before = this.last.get(key) ?? 0;
    this.last.set(key, s.value);
    const grown = s.value >= before ? s.value - before : s.value;
    return Math.round(grown);
  }

  private rollups(samples: readonly Sample[], now: number): TrafficRollup[] {
    const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    const byRegion = new Map<string, Record<string, number>>();
    const add = (region: string | undefined, name: string, n: number): void => {
      if (region === undefined || region === '' || n <= 0) return;
      let counters = byRegion.get(region);
      if (counters === undefined) {
        counters = {};
        byRegion.set(region, counters);
      }
      counters[name] = (counters[name] ?? 0) + n;
    };
    for (const s of samples) {
      const n = this.growth(s);
      if (n <= 0) continue;
      const { region, backend } = s.labels;
      switch (s.name) {
        case 'meridian_dns_answers_total': {
          const country =
            s.labels['country'] === undefined || s.labels['country'] === 'unknown'
              ? UNKNOWN_PLACE
              : s.labels['country'];
          add(region, DNS, n);
          add(
            region,
            dnsPlaceCounter(country, country === UNKNOWN_PLACE ? UNKNOWN_PLACE : continentOf(country)),
            n,
          );
          break;
        }
        case 'meridian_proxy_requests_total':
          add(region, requestsCounter(backend ?? 'none'), n);
          if (s.labels['status_class'] === '5xx') add(region, errorsCounter(backend ?? 'none'), n);
          break;
        case 'meridian_proxy_request_duration_seconds_bucket':
          add(region, latencyCounter(backend ?? 'none', s.labels['le'] ?? '+Inf'), n);
          break;
        case 'meridian_policy_decisions_total': {
          const { type, action } = s.labels;
          const name =
            type === 'waf' && action === 'block'
              ? WAF_BLOCKS
              : type === 'rate_limit' && action === 'reject'
                ? RATE_LIMITED
                : type === 'quota' && action === 'reject'
                  ? QUOTA_REJECTED
                  : undefined;
          if (name !== undefined) add(this.options.proxyRegion, name, n);
          break;
        }
      }
    }
    return [...byRegion].map(([region, counters]) => ({ minute, region, counters }));
  }
}
