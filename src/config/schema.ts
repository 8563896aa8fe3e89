// The whole configuration file. Types are inferred from the schema; the loader freezes the result.
import { z } from 'zod';
import { dnsSchema } from './dns-schema.js';
import { proxySchema } from './proxy-schema.js';
import { opsSchema } from './ops-schema.js';
import { secretsSchema } from './secrets-schema.js';
import { nodesSchema } from './nodes-schema.js';
import { autoscaleSchema } from './autoscale-schema.js';
import { hostPort, positiveInt } from './primitives.js';

const redisNode = z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) });

const stateSchema = z.strictObject({
  /** `memory` (embedded, single node, persisted to `file`) or `redis` (shared by every node). */
  backend: z.enum(['memory', 'redis']).default('memory'),
  /** The embedded store's JSON file; relative to the config file. */
  file: z.string().min(1).default('.meridian-state.json'),
  redis: z
    .strictObject({
      /** redis[s]://[user:password@]host:port[/db]; in Sentinel/Cluster mode only its scheme, credentials and db count. */
      url: z
        .string()
        .refine((url) => /^rediss?:\/\/[^\s]*$/.test(url) && URL.canParse(url), {
          message: 'expected redis[s]://[user:password@]host:port[/db]',
        })
        .default('redis://127.0.0.1:6379'),
      /** Every key starts with this; several deployments can share one Redis. */
      keyPrefix: z
        .string()
        .regex(/^[A-Za-z0-9:_-]*$/)
        .default('meridian:'),
      /** With `sentinels`, connect through Redis Sentinel to the master called `sentinelName`. */
      sentinels: z.array(redisNode).default([]),
      sentinelName: z.string().default('mymaster'),
      /** The Sentinels' own credentials (their `requirepass`/ACL user), when they have them. */
      sentinelUsername: z.string().min(1).optional(),
      sentinelPassword: z.string().min(1).optional(),
      /** With `cluster`, use Redis Cluster seeded by these nodes. */
      cluster: z.array(redisNode).default([]),
      /** Full reload interval: pub/sub can lose messages across disconnects. */
      resyncSeconds: positiveInt.default(30),
      /** Per-command timeout, so a write fails clearly instead of hanging. */
      commandTimeoutMs: positiveInt.default(2000),
    })
    .prefault({}),
});

const apiSchema = z.strictObject({
  enabled: z.boolean().default(true),
  listen: hostPort.default('127.0.0.1:8053'),
  /**
   * The bootstrap token: an `admin` with no user record (audited as `token:config`), for creating
   * the first users; MERIDIAN_API_TOKEN overrides. Without it (and without users) every request but
   * /healthz is refused.
   */
  token: z.string().min(8, { message: 'expected at least 8 characters' }).optional(),
  /** `none`: /metrics is open (default); `viewer`: it needs a token with the `read` permission. */
  metricsAuth: z.enum(['none', 'viewer']).default('none'),
  /** Lifetime of a login session (POST /v1/login, `meridian login`), in minutes; default 12 h. */
  sessionMinutes: positiveInt.max(43_200).default(720),
  bodyLimitBytes: positiveInt.default(65536),
  /** Serve the admin API over HTTPS; the files (relative to the config file) are re-read when they change. */
  tls: z
    .strictObject({
      cert: z.string().min(1),
      key: z.string().min(1),
      /** How often the files are checked for a change. */
      reloadCheckSeconds: positiveInt.max(3600).default(5),
    })
    .optional(),
  /**
   * Failed authentications per client address: `burst` at once, refilled over `perSeconds`. Past
   * that, the address's writes get 429 with Retry-After (a correct token too) until it refills.
   */
  authFailures: z
    .strictObject({
      burst: positiveInt.max(10_000).default(10),
      perSeconds: positiveInt.max(86_400).default(60),
    })
    .prefault({}),
  /**
   * HTTP status of /healthz while the node is degraded (state store unreachable, writes failing,
   * store data lost): 503 lets a load balancer or orchestrator tell; 200 keeps the body's
   * `status: degraded` for humans only.
   */
  healthzDegradedStatus: z.union([z.literal(503), z.literal(200)]).default(503),
});

const logSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export const configSchema = z.strictObject({
  /** This node's name in health reports and logs; default hostname:pid. */
  nodeId: z.string().min(1).max(100).optional(),
  state: stateSchema.prefault({}),
  api: apiSchema.prefault({}),
  dns: dnsSchema.prefault({}),
  proxy: proxySchema.optional(),
  ops: opsSchema.prefault({}),
  nodes: nodesSchema.prefault({}),
  autoscale: autoscaleSchema.prefault({}),
  log: logSchema.prefault({}),
  secrets: secretsSchema.prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type StateConfig = z.infer<typeof stateSchema>;
export type ApiConfig = z.infer<typeof apiSchema>;
