// Metrics kept as plain numbers on the hot paths and turned into Prometheus values only when a
// registry is scraped. prom-client's labelled children hash their label object on every increment
// and its histogram looks up its bucket map per observation; per DNS query or proxied request that
// cost shows up in profiles. These objects implement the part of prom-client's metric interface a
// Registry (and the cluster AggregatorRegistry) uses: name, help, type, aggregator, get(), reset().
import type { Metric, Registry } from 'prom-client';

export interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

export interface MetricJson {
  name: string;
  help: string;
  type: string;
  values: MetricValue[];
  aggregator: string;
}

export interface CustomMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly aggregator: string;
  get(): Promise<MetricJson>;
  reset(): void;
}

/** A metric whose values are computed at scrape time by `values`. */
export function customMetric(spec: {
  name: string;
  help: string;
  type: CustomMetric['type'];
  values: () => MetricValue[];
  reset?: () => void;
  aggregator?: string;
}): CustomMetric {
  const aggregator = spec.aggregator ?? 'sum';
  return {
    name: spec.name,
    help: spec.help,
    type: spec.type,
    aggregator,
    get: () =>
      Promise.resolve({
        name: spec.name,
        help: spec.help,
        type: spec.type,
        aggregator,
        values: spec.values(),
      }),
    reset: spec.reset ?? (() => undefined),
  };
}

/** Registers a custom metric object in every registry given. */
export function registerCustom(registries: readonly Registry[], metric: CustomMetric): void {
  for (const r of registries) r.registerMetric(metric as unknown as Metric);
}

/** Histogram buckets as plain numbers: `observe` is a short scan and three additions. */
export class LocalHistogram {
  /** Non-cumulative counts per bound; the last slot counts values above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  /** Prometheus histogram series (cumulative buckets, +Inf, _sum, _count) with extra labels. */
  pushValues(out: MetricValue[], name: string, labels: Record<string, string>): void {
    let acc = 0;
    const bucket = `${name}_bucket`;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i] as number;
      out.push({ value: acc, labels: { le: this.bounds[i] as number, ...labels }, metricName: bucket });
    }
    out.push({ value: this.count, labels: { le: '+Inf', ...labels }, metricName: bucket });
    out.push({ value: this.sum, labels: { ...labels }, metricName: `${name}_sum` });
    out.push({ value: this.count, labels: { ...labels }, metricName: `${name}_count` });
  }
}
