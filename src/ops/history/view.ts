// Shapes stored rollups into what `GET /v1/history/traffic`, `meridian history traffic` and the
// report show: per region a series of points every `stepSeconds` (DNS answers, proxy requests,
// 5xx errors, p95 latency from the merged histogram buckets), totals per backend, and DNS answers
// by client country and continent. Health events are returned as stored.
import { invalid } from '../../core/errors.js';
import { MINUTE_MS, type TrafficRollup } from '../../storage/history-store.js';
import { parseCounter, quantileMs } from './counters.js';

/** A series longer than this gets a wider step (the response says which). */
export const MAX_POINTS = 10_000;

export interface TrafficPoint {
  readonly t: number;
  readonly dnsAnswers: number;
  readonly proxyRequests: number;
  readonly proxyErrors: number;
  readonly p95Ms: number | null;
}

export interface BackendTotals {
  readonly backend: string;
  readonly requests: number;
  readonly errors: number;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly p99Ms: number | null;
}

export interface RegionSeries {
  readonly region: string;
  readonly points: TrafficPoint[];
  /** Totals over the whole range. */
  readonly totals: {
    readonly dnsAnswers: number;
    readonly proxyRequests: number;
    readonly proxyErrors: number;
    readonly wafBlocks: number;
    readonly rateLimited: number;
    readonly quotaRejected: number;
    readonly p50Ms: number | null;
    readonly p95Ms: number | null;
    readonly p99Ms: number | null;
    /** The busiest minute's proxy requests (from hourly rollups: the busiest hour's per-minute average). */
    readonly peakRequestsPerMinute: number;
  };
  readonly backends: BackendTotals[];
}

export interface CountryTotals {
  readonly country: string;
  readonly continent: string;
  readonly region: string;
  readonly dnsAnswers: number;
}

export interface TrafficView {
  readonly from: number;
  readonly to: number;
  readonly stepSeconds: number;
  readonly series: RegionSeries[];
  readonly byCountry: CountryTotals[];
}

/** The step to use: the asked one (a multiple of 60 s), widened so a series has at most MAX_POINTS. */
export function chooseStep(from: number, to: number, stepSeconds: number | undefined): number {
  const asked = stepSeconds ?? 60;
  if (!Number.isSafeInteger(asked) || asked < 60 || asked % 60 !== 0)
    throw invalid(
      'step',
      `expected a whole number of minutes in seconds (60, 300, 3600…), got ${String(stepSeconds)}`,
    );
  const minimum = Math.ceil((to - from + 1) / MAX_POINTS / MINUTE_MS) * 60;
  return Math.max(asked, minimum);
}

interface Accumulator {
  dns: number;
  requests: number;
  errors: number;
  waf: number;
  rl: number;
  quota: number;
  latency: Map<number, number>;
}

const accumulator = (): Accumulator => ({
  dns: 0,
  requests: 0,
  errors: 0,
  waf: 0,
  rl: 0,
  quota: 0,
  latency: new Map(),
});

function addLatency(into: Map<number, number>, le: number, n: number): void {
  into.set(le, (into.get(le) ?? 0) + n);
}

/** `rollupMinutes`: what one rollup spans (1, or 60 for hourly rollups). */
export function trafficView(
  rollups: readonly TrafficRollup[],
  from: number,
  to: number,
  stepSeconds: number,
  rollupMinutes = 1,
): TrafficView {
  const stepMs = stepSeconds * 1000;
  const first = Math.floor(from / stepMs) * stepMs;
  const regions = new Map<
    string,
    {
      steps: Map<number, Accumulator>;
      total: Accumulator;
      backends: Map<string, Accumulator>;
      minuteRequests: Map<number, number>;
    }
  >();
  const countries = new Map<string, CountryTotals & { dnsAnswers: number }>();
  for (const r of rollups) {
    let region = regions.get(r.region);
    if (region === undefined) {
      region = { steps: new Map(), total: accumulator(), backends: new Map(), minuteRequests: new Map() };
      regions.set(r.region, region);
    }
    const t = Math.floor(r.minute / stepMs) * stepMs;
    let step = region.steps.get(t);
    if (step === undefined) {
      step = accumulator();
      region.steps.set(t, step);
    }
    const backend = (id: string): Accumulator => {
      let b = region.backends.get(id);
      if (b === undefined) {
        b = accumulator();
        region.backends.set(id, b);
      }
      return b;
    };
    for (const [name, n] of Object.entries(r.counters)) {
      const c = parseCounter(name);
      switch (c.kind) {
        case 'dns':
          step.dns += n;
          region.total.dns += n;
          break;
        case 'dns-place': {
          const key = `${c.country}/${c.continent}/${r.region}`;
          const entry = countries.get(key) ?? {
            country: c.country,
            continent: c.continent,
            region: r.region,
            dnsAnswers: 0,
          };
          entry.dnsAnswers += n;
          countries.set(key, entry);
          break;
        }
        case 'requests':
          step.requests += n;
          region.total.requests += n;
          backend(c.backend).requests += n;
          region.minuteRequests.set(r.minute, (region.minuteRequests.get(r.minute) ?? 0) + n);
          break;
        case 'errors':
          step.errors += n;
          region.total.errors += n;
          backend(c.backend).errors += n;
          break;
        case 'latency':
          addLatency(step.latency, c.le, n);
          addLatency(region.total.latency, c.le, n);
          addLatency(backend(c.backend).latency, c.le, n);
          break;
        case 'waf':
          region.total.waf += n;
          break;
        case 'rate-limited':
          region.total.rl += n;
          break;
        case 'quota':
          region.total.quota += n;
          break;
        case 'unknown':
          break;
      }
    }
  }
  const series: RegionSeries[] = [...regions]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, r]) => {
      const points: TrafficPoint[] = [];
      for (let t = first; t <= to; t += stepMs) {
        const s = r.steps.get(t);
        points.push({
          t,
          dnsAnswers: s?.dns ?? 0,
          proxyRequests: s?.requests ?? 0,
          proxyErrors: s?.errors ?? 0,
          p95Ms: s === undefined ? null : quantileMs(s.latency, 0.95),
        });
      }
      return {
        region: id,
        points,
        totals: {
          dnsAnswers: r.total.dns,
          proxyRequests: r.total.requests,
          proxyErrors: r.total.errors,
          wafBlocks: r.total.waf,
          rateLimited: r.total.rl,
          quotaRejected: r.total.quota,
          p50Ms: quantileMs(r.total.latency, 0.5),
          p95Ms: quantileMs(r.total.latency, 0.95),
          p99Ms: quantileMs(r.total.latency, 0.99),
          peakRequestsPerMinute: Math.round(Math.max(0, ...r.minuteRequests.values()) / rollupMinutes),
        },
        backends: [...r.backends]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([backend, b]) => ({
            backend,
            requests: b.requests,
            errors: b.errors,
            p50Ms: quantileMs(b.latency, 0.5),
            p95Ms: quantileMs(b.latency, 0.95),
            p99Ms: quantileMs(b.latency, 0.99),
          })),
      };
    });
  const byCountry = [...countries.values()].sort(
    (a, b) => b.dnsAnswers - a.dnsAnswers || a.country.localeCompare(b.country),
  );
  return { from, to, stepSeconds, series, byCountry };
}
