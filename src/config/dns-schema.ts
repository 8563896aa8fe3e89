// Schema of the `dns` section: listeners, zones, balanced names, steering overrides, RRL, geo.
import { z } from 'zod';
import { parseCidr } from '../core/ip.js';
import { hostPort, id, nonNegativeInt, positiveInt } from './primitives.js';
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

const soa = z.strictObject({
  /** Primary name server; relative names are inside the zone. */
  mname: dnsName,
  /** Responsible mailbox in DNS form (hostmaster.example.test). */
  rname: dnsName,
  serial: nonNegativeInt.default(1),
  refresh: positiveInt.default(3600),
  retry: positiveInt.default(600),
  expire: positiveInt.default(604800),
  /** Negative-caching TTL (RFC 2308). */
  minimum: nonNegativeInt.default(60),
  /** TTL of the SOA record itself. */
  ttl: nonNegativeInt.default(3600),
});

const recordType = z.enum(['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV', 'CAA', 'NS']);

/**
 * A static record. `value` forms by type: A/AAAA an address; CNAME/NS a name; MX "PRIO NAME";
 * TXT a string (split into 255-byte chunks on the wire); SRV "PRIO WEIGHT PORT TARGET";
 * CAA "FLAGS TAG VALUE".
 */
const staticRecord = z.strictObject({
  name: dnsName,
  type: recordType,
  ttl: nonNegativeInt.optional(),
  values: z.array(z.string().min(1).max(4000)).min(1),
});

const allDown = z.enum(['fail-open', 'fail-closed']);

const balancedName = z.strictObject({
  name: dnsName,
  ttl: nonNegativeInt.default(30),
  /** Region ids eligible for this name; empty = every registered region. */
  regions: z.array(id).default([]),
  /** How many regions one answer names. */
  answerRegions: positiveInt.default(1),
  /** Addresses per chosen region; 0 = all of them. */
  addressesPerRegion: nonNegativeInt.default(0),
  /** All eligible regions down: answer every active region (fail-open) or NODATA (fail-closed). */
  allDown: allDown.default('fail-open'),
});

const zone = z.strictObject({
  name: dnsName,
  /** Default TTL for static records without one. */
  ttl: nonNegativeInt.default(3600),
  soa,
  /** Apex NS names. */
  ns: z.array(dnsName).min(1),
  records: z.array(staticRecord).default([]),
  balanced: z.array(balancedName).default([]),
});

const regionList = z.array(id).min(1);

const steering = z.strictObject({
  /** Regions within this many km of the nearest one share traffic by weight. */
  distanceBandKm: nonNegativeInt.default(0),
  /** Region order used when the client cannot be located; empty = weight order of all regions. */
  defaultOrder: z.array(id).default([]),
  overrides: z
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
    .prefault({}),
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

export const dnsSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** host:port list, UDP and TCP on each. */
  listen: z.array(hostPort).min(1).default(['127.0.0.1:5353', '[::1]:5353']),
  /** node:cluster workers answering queries; 0 = one per core, 1 = answer in the main process. */
  workers: nonNegativeInt.default(0),
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
    })
    .optional(),
  zones: z.array(zone).default([]),
  steering: steering.prefault({}),
  rrl: rrl.prefault({}),
  /** Query log: this share of answered queries (0 = off, 1 = every one) is logged at info. */
  queryLog: z.strictObject({ sampleRate: z.number().min(0).max(1).default(0) }).prefault({}),
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
});

export type DnsConfig = z.infer<typeof dnsSchema>;
export type ZoneConfig = z.infer<typeof zone>;
export type BalancedNameConfig = z.infer<typeof balancedName>;
export type StaticRecordConfig = z.infer<typeof staticRecord>;
export type SteeringConfig = z.infer<typeof steering>;
export type RrlConfig = z.infer<typeof rrl>;
