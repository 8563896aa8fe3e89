// Schema of `dns.steering.health`: how one region verdict is made from many votes (quorum, weights,
// hysteresis timers, the policy for regions nobody votes for) and the DNS-side probes the DNS nodes
// run per region. Probes live in the configuration, not in region state: which nodes probe, from
// where, how often and with which Host header is a property of the DNS fleet that ships with its
// config file, and the answering processes (which read only config and the snapshot) must know which
// regions are checked to tell `unknown` from `unmonitored`. See src/dns/probes/README.md.
import { z } from 'zod';
import type { RegionHealthPolicy } from '../core/health.js';
import type { RegionHealthRule } from '../core/region-verdict.js';
import { parseStatusRanges } from './health-schema.js';
import { id, nonNegativeInt, positiveInt } from './primitives.js';

const timing = {
  /**
   * Time between the start of one probe and the next, before jitter (a probe slower than this is
   * followed at once, never overlapped). Short, so that `rise` passes fit in an up spell of 1 s and
   * the first failure of a dead endpoint is seen within 275 ms.
   */
  intervalMs: positiveInt.default(250),
  /**
   * Whole-probe deadline; a timeout is a failure. A long one does not slow failover: the region's
   * downAfter counts from the start of the first failed probe.
   */
  timeoutMs: positiveInt.default(1000),
  /** Each interval is multiplied by a random factor in [1 - jitter, 1 + jitter]. */
  jitter: z.number().min(0).max(0.5).default(0.1),
  /** Consecutive passes that bring a down target up. */
  rise: positiveInt.default(2),
  /** Consecutive failures that take an up target down. */
  fall: positiveInt.default(2),
};

const port = z.number().int().min(1).max(65535);
/** Probe one fixed host instead of each of the region's addresses. */
const host = z.string().min(1).max(253);

const httpCheck = z.strictObject({
  type: z.enum(['http', 'https']),
  /** Default 80 (http) or 443 (https). */
  port: port.optional(),
  path: z.string().startsWith('/', { message: 'expected a path starting with /' }).default('/healthz'),
  host: host.optional(),
  /** Host header (and TLS server name); default the target address. */
  hostHeader: z.string().min(1).max(253).optional(),
  expectedStatus: z
    .string()
    .refine((s) => parseStatusRanges(s) !== undefined, {
      message: 'expected status codes or ranges within 100-599, e.g. "200-399" or "200,204"',
    })
    .default('200-399'),
  /** The body (first 64 KiB) must contain this text. */
  bodyContains: z.string().min(1).max(1000).optional(),
  ...timing,
});

const tcpCheck = z.strictObject({
  type: z.literal('tcp'),
  port,
  host: host.optional(),
  ...timing,
});

const dnsCheck = z.strictObject({
  type: z.literal('dns'),
  /** The name asked (over UDP) of the target, which must answer NOERROR. */
  name: z.string().min(1).max(253),
  qtype: z.enum(['A', 'AAAA', 'SOA', 'NS', 'TXT']).default('A'),
  port: port.default(53),
  host: host.optional(),
  /** Also require at least one answer record. */
  expectAnswer: z.boolean().default(false),
  ...timing,
});

export const probeCheckSchema = z.discriminatedUnion('type', [httpCheck, tcpCheck, dnsCheck]);

export const regionHealthSchema = z.strictObject({
  /** `majority`, or the vote weight (N) that takes a region down ("N of M vantage points"). */
  quorum: z.union([z.literal('majority'), positiveInt]).default('majority'),
  weights: z
    .strictObject({ proxy: nonNegativeInt.default(1), probe: nonNegativeInt.default(1) })
    .prefault({}),
  /**
   * The quorum must say down this long (counted from the first failed probe of the deciding votes)
   * before the region goes down. With the probe defaults a dead endpoint is down within
   * interval + downAfter ≈ 2.5 s, while an endpoint down for 1 s at a time (seen down for at most
   * 1 s + rise × interval ≈ 1.55 s) never is.
   */
  downAfterMs: nonNegativeInt.default(2200),
  /** The quorum must say up this long before a down region comes back. */
  upAfterMs: nonNegativeInt.default(5000),
  /** No region flips sooner than this after its previous flip. */
  minFlipIntervalMs: nonNegativeInt.default(10000),
  /**
   * A region nobody votes for: `up` (served: a dead region that never reported is served forever),
   * `down`, or `probe-only` (down when it has checks here, since their probes should be voting; up
   * when it has none, as before).
   */
  unmonitored: z.enum(['up', 'down', 'probe-only']).default('probe-only'),
  probes: z
    .strictObject({
      /** Node ids that probe; empty = every node running the DNS tier. */
      nodes: z.array(z.string().min(1).max(200)).default([]),
      /** A probe vote lives this long; it is rewritten at half of it when nothing changes. */
      voteTtlSeconds: positiveInt.default(10),
      /** Region id → checks run against each of the region's addresses (or `host`). */
      checks: z.record(id, z.array(probeCheckSchema).min(1)).default({}),
    })
    .prefault({}),
});

export type RegionHealthConfig = z.infer<typeof regionHealthSchema>;
export type ProbeCheckConfig = z.infer<typeof probeCheckSchema>;

/** The parts of the (frozen) config the rule needs; structural so the loader's types need no import. */
export interface HealthRuleSource {
  readonly quorum: RegionHealthConfig['quorum'];
  readonly weights: Readonly<RegionHealthConfig['weights']>;
  readonly downAfterMs: number;
  readonly upAfterMs: number;
  readonly minFlipIntervalMs: number;
  readonly unmonitored: RegionHealthConfig['unmonitored'];
  readonly probes: { readonly checks: Readonly<Record<string, unknown>> };
}

export function healthRuleOf(config: HealthRuleSource): RegionHealthRule {
  return {
    quorum: config.quorum,
    weights: { proxy: config.weights.proxy, probe: config.weights.probe },
    downAfterMs: config.downAfterMs,
    upAfterMs: config.upAfterMs,
    minFlipIntervalMs: config.minFlipIntervalMs,
    unmonitored: config.unmonitored,
  };
}

/** The policy per region id (the rule, and whether this config checks the region). */
export function healthPolicies(config: HealthRuleSource): (regionId: string) => RegionHealthPolicy {
  const rule = healthRuleOf(config);
  const checked: RegionHealthPolicy = { rule, checked: true };
  const unchecked: RegionHealthPolicy = { rule, checked: false };
  const regions = new Set(Object.keys(config.probes.checks));
  return (regionId) => (regions.has(regionId) ? checked : unchecked);
}
