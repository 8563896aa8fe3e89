// Schemas of backend health checking, passive outlier ejection and region health reporting.
// Embedded by the proxy section; every field has a default so `{}` is a valid value for each.
import { z } from 'zod';
import { positiveInt } from './primitives.js';

/** An inclusive range of HTTP status codes. */
export interface StatusRange {
  readonly min: number;
  readonly max: number;
}

/**
 * Parses an expected-status string: comma-separated codes or inclusive ranges of 100–599,
 * e.g. `200-399`, `200`, `200,204,300-308`. Returns undefined when the text is not valid.
 */
export function parseStatusRanges(text: string): readonly StatusRange[] | undefined {
  const ranges: StatusRange[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(part);
    if (m === null) return undefined;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : Number(m[2]);
    if (min < 100 || max > 599 || min > max) return undefined;
    ranges.push({ min, max });
  }
  return ranges;
}

/** Whether `status` falls in one of the ranges. */
export function statusMatches(ranges: readonly StatusRange[], status: number): boolean {
  for (const r of ranges) if (status >= r.min && status <= r.max) return true;
  return false;
}

export const healthCheckSchema = z.strictObject({
  /** Path (with optional query) requested with GET on each backend's URL. */
  path: z.string().startsWith('/', { message: 'expected a path starting with /' }).default('/healthz'),
  /**
   * Time between the end of one check and the start of the next (before jitter). With the defaults a
   * dead backend is detected within fall × (timeout + interval) ≈ 2.5 s, so DNS stops handing out a
   * region whose backends all failed within 3 s (the proxy reports a health change at once).
   */
  intervalMs: positiveInt.default(750),
  /** Whole-check deadline: connect, headers and body. A timeout counts as a failure. */
  timeoutMs: positiveInt.default(500),
  /** Statuses that pass: codes or inclusive ranges, comma-separated (`200-399`, `200,204`). */
  expectedStatus: z
    .string()
    .refine((s) => parseStatusRanges(s) !== undefined, {
      message: 'expected status codes or ranges within 100-599, e.g. "200-399" or "200,204"',
    })
    .default('200-399'),
  /** Consecutive passes that bring a down backend up. */
  rise: positiveInt.default(2),
  /** Consecutive failures that take an up backend down. */
  fall: positiveInt.default(2),
  /** Each interval is multiplied by a random factor in [1 - jitter, 1 + jitter]. */
  jitter: z.number().min(0).max(1).default(0.1),
});

export const outlierSchema = z
  .strictObject({
    /** Consecutive passive failures (connect errors, 5xx) that eject a backend; 0 disables ejection. */
    consecutiveFailures: z.number().int().nonnegative().default(5),
    /** First ejection; the n-th consecutive ejection lasts base × 2^(n-1). */
    baseEjectionMs: positiveInt.default(10000),
    maxEjectionMs: positiveInt.default(300000),
    /** Never eject more than this share of the backends at once (at least one may always be ejected). */
    maxEjectedPercent: z.number().min(0).max(100).default(50),
  })
  .refine((o) => o.maxEjectionMs >= o.baseEjectionMs, {
    message: 'maxEjectionMs must be >= baseEjectionMs',
    path: ['maxEjectionMs'],
  });

export const reportSchema = z
  .strictObject({
    /** How often this proxy writes its region health report. */
    intervalMs: positiveInt.default(1000),
    /** How long a report stays valid; a proxy silent for longer counts as down. */
    ttlMs: positiveInt.default(3000),
    /**
     * Report through a node's admin API with a `reporter` token bound to this region, instead of
     * writing to the state store: the least privilege a proxy node needs. The token comes from
     * `tokenFile` (relative to the config file; keep it 0600) or MERIDIAN_REPORTER_TOKEN.
     */
    api: z
      .strictObject({
        /** The admin API's base URL, e.g. `https://admin.example.net:8053`. */
        url: z.url({ protocol: /^https?$/, message: 'expected an http or https URL' }),
        tokenFile: z.string().min(1).optional(),
        /** A PEM file of the CA that signed the API's certificate, when it is not a public one. */
        caFile: z.string().min(1).optional(),
        /** Per request; a report that takes longer counts as failed and is retried next interval. */
        timeoutMs: positiveInt.default(2000),
      })
      .optional(),
  })
  .refine((r) => r.ttlMs > r.intervalMs, {
    message: 'ttlMs must be greater than intervalMs, or reports expire between writes',
    path: ['ttlMs'],
  });

export type HealthCheckConfig = z.infer<typeof healthCheckSchema>;
export type OutlierConfig = z.infer<typeof outlierSchema>;
export type ReportConfig = z.infer<typeof reportSchema>;
