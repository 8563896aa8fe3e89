// Schema of the `dns` section: listeners, zones, balanced names, steering overrides, RRL, geo.
import { z } from 'zod';
import { ipFamily, parseCidr } from '../core/ip.js';
import { hostPort, id, nonNegativeInt, positiveInt } from './primitives.js';
import { otlpExportSchema } from './tracing-schema.js';
import { zoneDnssecSchema } from './dnssec-schema.js';
import { regionHealthSchema } from './region-health-schema.js';

const dnsName = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$|^@$/,
    {
      message: 'expected a DNS name',
    },
  );

/** RFC 2181 §8: a TTL is at most 2^31 - 1 seconds. */
const ttlSeconds = nonNegativeInt.max(2147483647, { message: 'a TTL is at most 2147483647 (RFC 2181)' });

const soa = z.strictObject({
  /** Primary name server; relative names are inside the zone. */
  mname: dnsName,
  /** Responsible mailbox in DNS form (hostmaster.example.test). */
  rname: dnsName,
  serial: nonNegativeInt.max(4294967295).default(1),
  /**
   * How the store bumps the serial on every change (never backwards): `date` = YYYYMMDDnn (today's
   * date with a two-digit change counter, or the old serial + 1 once that is higher), `counter` = + 1.
   */
  serialScheme: z.enum(['date', 'counter']).default('date'),
  refresh: positiveInt.default(3600),
  retry: positiveInt.default(600),
  expire: positiveInt.default(604800),
  /** Negative-caching TTL (RFC 2308). */
  minimum: nonNegativeInt.default(60),
  /** TTL of the SOA record itself. */
  ttl: ttlSeconds.default(3600),
});

export const RECORD_TYPES = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV', 'CAA', 'NS', 'PTR'] as const;
const recordType = z.enum(RECORD_TYPES);

/**
 * A static record. `value` forms by type: A/AAAA an address; CNAME/NS a name; MX "PRIO NAME";
 * TXT a string (split into 255-byte chunks on the wire); SRV "PRIO WEIGHT PORT TARGET";
 * CAA "FLAGS TAG VALUE"; PTR a name (reverse zones). NS below the apex delegates (glue: A/AAAA
 * records at the name servers' names inside the zone).
 */
export const staticRecordSchema = z.strictObject({
  name: dnsName,
  type: recordType,
  ttl: ttlSeconds.optional(),
  values: z.array(z.string().min(1).max(4000)).min(1),
});

const regionList = z.array(id).min(1);

/** Operator overrides: clients in a CIDR, country or continent go to these regions, in order. */
const steeringOverrides = z
  .strictObject({
    cidr: z
      .record(
        z
          .string()
          .refine((s) => parseCidr(s) !== undefined, { message: 'expected a CIDR such as 192.0.2.0/24' }),
        regionList,
      )
      .default({}),
    country: z
      .record(z.string().regex(/^[A-Z]{2}$/, { message: 'expected an ISO country code' }), regionList)
      .default({}),
    continent: z.partialRecord(z.enum(['AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA']), regionList).default({}),
  })
  .prefault({});

const allDown = z.enum(['fail-open', 'fail-closed']);

/**
 * How a balanced name picks its regions: `nearest` (distance from the client, weights within
 * `steering.distanceBandKm`), `failover` (the first eligible region of `regions`, in order),
 * `weighted` (every eligible region, shared by `weights`), `fixed` (`regions` in order, whatever the
 * client's location and their health reports; only active regions with addresses of the family —
 * see dns/steering/policy.ts).
 */
export const STEERING_POLICIES = ['nearest', 'failover', 'weighted', 'fixed'] as const;

export const balancedNameSchema = z.strictObject({
  name: dnsName,
  ttl: ttlSeconds.default(30),
  policy: z.enum(STEERING_POLICIES).default('nearest'),
  /** Region ids eligible for this name, in failover order; empty = every registered region. */
  regions: z.array(id).default([]),
  /** `weighted`: a weight per region id; a region not listed keeps its own weight. */
  weights: z.record(id, nonNegativeInt).default({}),
  /** Per-name overrides, tried before the global `dns.steering.overrides`. */
  overrides: steeringOverrides.optional(),
  /** How many regions one answer names. */
  answerRegions: positiveInt.default(1),
  /** Addresses per chosen region; 0 = all of them. */
  addressesPerRegion: nonNegativeInt.default(0),
  /** All eligible regions down: answer every active region (fail-open) or NODATA (fail-closed). */
  allDown: allDown.default('fail-open'),
});

/** A TSIG key name: a DNS name (compared case-insensitively, as on the wire). */
const tsigKeyName = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$/,
    {
      message: 'expected a key name in DNS form such as xfer-key or xfer.example.test',
    },
  );

/** RFC 8945 shared secret: HMAC-SHA256 only (the algorithm every current secondary supports). */
const tsigKey = z.strictObject({
  name: tsigKeyName,
  algorithm: z.literal('hmac-sha256', {
    message: 'expected hmac-sha256 (the only TSIG algorithm supported)',
  }),
  secret: z
    .string()
    .regex(/^[A-Za-z0-9+/]+={0,2}$/, { message: 'expected base64' })
    .refine((s) => Buffer.from(s, 'base64').length >= 16, {
      message: 'expected at least 16 bytes of secret (base64)',
    }),
});

const cidrText = z
  .string()
  .refine((s) => parseCidr(s) !== undefined, { message: 'expected a CIDR such as 192.0.2.0/24' });

/** Zone transfer to secondaries (AXFR/IXFR over TCP) and NOTIFY to them on every serial change. */
const zoneTransfer = z.strictObject({
  /** Client networks allowed to transfer the zone; empty = nobody. */
  allow: z.array(cidrText).default([]),
  /** Secondaries told of every serial change (RFC 1996 NOTIFY over UDP), host:port. */
  notify: z.array(hostPort).default([]),
  /** Name of a `dns.tsigKeys` entry: when set, transfers must be signed with it and NOTIFY is signed. */
  tsigKey: tsigKeyName.optional(),
});

export const zoneSchema = z.strictObject({
  name: dnsName,
  /** Default TTL for static records without one. */
  ttl: ttlSeconds.default(3600),
  soa,
  /** Apex NS names. */
  ns: z.array(dnsName).min(1),
  records: z.array(staticRecordSchema).default([]),
  balanced: z.array(balancedNameSchema).default([]),
  transfer: zoneTransfer.optional(),
  /** Online DNSSEC signing (config/dnssec-schema.ts); absent = unsigned. */
  dnssec: zoneDnssecSchema.optional(),
});

const steering = z.strictObject({
  /** Regions within this many km of the nearest one share traffic by weight. */
  distanceBandKm: nonNegativeInt.default(0),
  /** Region order used when the client cannot be located; empty = weight order of all regions. */
  defaultOrder: z.array(id).default([]),
  overrides: steeringOverrides,
  /**
   * Start-up grace: until this long after a node starts, expired reports count with their last value
   * and a region whose checks have not voted yet is `unknown` (served).
   */
  healthGraceSeconds: nonNegativeInt.default(30),
  /** Region verdicts from many votes, hysteresis, DNS-side probes (region-health-schema.ts). */
  health: regionHealthSchema.prefault({}),
});

const rrl = z.strictObject({
  enabled: z.boolean().default(true),
  /** Responses per second allowed per client prefix. */
  responsesPerSecond: positiveInt.default(100),
  /** Every Nth rate-limited response is sent as TC=1 (so real clients retry over TCP); 0 = drop all. */
  slip: nonNegativeInt.default(2),
  ipv4Prefix: z.number().int().min(8).max(32).default(24),
  ipv6Prefix: z.number().int().min(16).max(128).default(56),
});

/** Settings shared by every zone's transfers. */
const transferSettings = z.strictObject({
  /**
   * A secondary cannot steer, so a balanced name transfers as the answer a query from this address
   * would get now (its A and AAAA records). Unset: the answer for an unlocated client, i.e. the
   * `steering.defaultOrder` regions.
   */
  defaultClient: z
    .string()
    .refine((s) => ipFamily(s) !== undefined, { message: 'expected an IP address' })
    .optional(),
  /** NOTIFY attempts per target and serial before giving up (RFC 1996 §3.6 retries with back-off). */
  notifyAttempts: positiveInt.max(20).default(5),
  /** First retry delay; each further retry waits twice as long. */
  notifyRetryMs: positiveInt.default(1000),
});

const dnsObject = z.strictObject({
  enabled: z.boolean().default(true),
  /** host:port list, UDP and TCP on each. */
  listen: z.array(hostPort).min(1).default(['127.0.0.1:5353', '[::1]:5353']),
  /** Workers answering queries; 0 = one per core, 1 = answer in the main process. */
  workers: nonNegativeInt.default(0),
  /**
   * What the workers are: `thread` (worker threads of the node's process: the node binary's pages,
   * the mapped geo files and the process overhead once, about 40 % less memory; needs the UDP
   * batching addon, else the node runs processes; each thread has its own SO_REUSEPORT UDP and TCP
   * sockets) or `process` (node:cluster: each its own memory, and a crash in native code stays in
   * its worker).
   */
  workerKind: z.enum(['thread', 'process']).default('thread'),
  /** Largest UDP reply we send (DNS Flag Day 2020). */
  udpPayloadSize: z.number().int().min(512).max(4096).default(1232),
  tcpIdleTimeoutMs: positiveInt.default(10000),
  /**
   * Batched UDP I/O through the native addon (recvmmsg/sendmmsg, one JS call per batch); falls back
   * to node:dgram when the addon is not built. In cluster mode each worker then binds its own socket
   * on the port with SO_REUSEPORT.
   */
  udpBatching: z.boolean().default(true),
  geo: z
    .strictObject({
      /** mmdb files tried in order (e.g. an IPv4 and an IPv6 file); relative to the config file. */
      databases: z.array(z.string().min(1)).min(1),
      /** Seconds between checks of the files' modification times. */
      reloadCheckSeconds: positiveInt.default(5),
      /**
       * Share the files between the node's processes: each file version is copied once into
       * `snapshotDir` and mapped read-only by the primary and every worker (one copy in memory
       * instead of one per process). Off: every process reads the files into its own heap.
       */
      shareFiles: z.boolean().default(true),
      /** Folder of the shared snapshots (relative to the config file); default a per-user temporary folder. */
      snapshotDir: z.string().min(1).optional(),
      /**
       * Decode every record of each file into its table in the background right after the file
       * loads, in the processes that answer queries, so no query decodes a record. Off (default):
       * records are decoded as queries first meet them. On costs memory: about 45 MB more PSS
       * for a 2-worker node with GeoLite2 City (bench-dns-memory), most of it heap the decoding
       * burst leaves behind rather than the tables themselves (about 10 MB per worker).
       */
      prefill: z.boolean().default(false),
    })
    .optional(),
  /**
   * Zones that seed the zone store on the first start (when the store has never held a zone);
   * afterwards the store (API, CLI) wins and this list is ignored.
   */
  zones: z.array(zoneSchema).default([]),
  steering: steering.prefault({}),
  rrl: rrl.prefault({}),
  /** Query log: this share of answered queries (0 = off, 1 = every one) is logged at info. */
  queryLog: z.strictObject({ sampleRate: z.number().min(0).max(1).default(0) }).prefault({}),
  /**
   * OpenTelemetry export of DNS decisions: each query the query log samples is also sent as a span
   * (a new trace; name, type, client, ECS, rcode, the region chosen, cached or not). Absent = off.
   */
  tracing: z.strictObject({ otlp: otlpExportSchema('meridian-dns').optional() }).prefault({}),
  /** Client-prefix decision cache entries (0 = off). */
  decisionCacheSize: nonNegativeInt.default(65536),
  /**
   * Encoded replies kept per answering unit for repeated queries (0 = off); each is reused with
   * the new query's ID and name case while the state, health verdicts and geo data are unchanged.
   * A reply is kept once its query has been seen before, so one-off names do not churn the cache.
   */
  answerCacheSize: nonNegativeInt.default(20000),
  /**
   * Widest correct ECS scope (IPv4 clients): per balanced name and family, a table of the widest
   * prefix under which every address gets the same answer, built in the background when an ECS
   * query first needs it and rebuilt after every state, health or geo change. Resolvers then cache
   * far fewer entries (GeoLite2, six regions: average scope /13.8 instead of /17.1), at a cost of
   * about 5 s of CPU per name and family per answering process on GeoLite2 City, repeated after
   * each change. Off: the scope is the geo network's (correct, narrower).
   */
  ecsWidestScope: z.boolean().default(false),
  /** TSIG keys (RFC 8945) that zones name in `transfer.tsigKey`. */
  tsigKeys: z.array(tsigKey).default([]),
  transfer: transferSettings.prefault({}),
});

/** A zone's `transfer.tsigKey` must name a key of `dns.tsigKeys`; key names are unique. */
export const dnsSchema = dnsObject.superRefine((dns, ctx) => {
  const keys = new Set<string>();
  dns.tsigKeys.forEach((k, i) => {
    const name = k.name.toLowerCase().replace(/\.$/, '');
    if (keys.has(name))
      ctx.addIssue({
        code: 'custom',
        path: ['tsigKeys', i, 'name'],
        message: `TSIG key ${k.name} is defined twice`,
      });
    keys.add(name);
  });
  dns.zones.forEach((zone, i) => {
    const key = zone.transfer?.tsigKey;
    if (key !== undefined && !keys.has(key.toLowerCase().replace(/\.$/, ''))) {
      ctx.addIssue({
        code: 'custom',
        path: ['zones', i, 'transfer', 'tsigKey'],
        message: `no TSIG key named ${key} in dns.tsigKeys`,
      });
    }
  });
});

export type DnsConfig = z.infer<typeof dnsSchema>;
export type ZoneConfig = z.infer<typeof zoneSchema>;
export type SteeringOverridesConfig = z.infer<typeof steeringOverrides>;
export type BalancedNameConfig = z.infer<typeof balancedNameSchema>;
export type StaticRecordConfig = z.infer<typeof staticRecordSchema>;
export type SteeringConfig = z.infer<typeof steering>;
export type RrlConfig = z.infer<typeof rrl>;
export type TsigKeyConfig = z.infer<typeof tsigKey>;
export type ZoneTransferConfig = z.infer<typeof zoneTransfer>;
