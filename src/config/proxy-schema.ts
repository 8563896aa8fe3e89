// Schema of the `proxy` section (the regional proxy tier). Owned by the proxy tier's work.
import { z } from 'zod';
import { parseCidr } from '../core/ip.js';
import { healthCheckSchema, outlierSchema, reportSchema } from './health-schema.js';
import { hostPort, id, nonNegativeInt, positiveInt } from './primitives.js';
import { otlpExportSchema } from './tracing-schema.js';

/** Cookie names are RFC 6265 tokens. */
const cookieName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, { message: 'expected a cookie name token' });
const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, { message: 'expected an HTTP header name' })
  .transform((s) => s.toLowerCase());

const cidr = z.string().refine((s) => parseCidr(s) !== undefined, {
  message: 'expected a CIDR such as 10.0.0.0/8 (host bits zero) or an address',
});

const affinity = z.strictObject({
  /** Where the session key comes from. `cookie` issues one when the client has none. */
  mode: z.enum(['cookie', 'header', 'client-ip']).default('cookie'),
  cookieName: cookieName.default('meridian_affinity'),
  cookieMaxAgeSeconds: positiveInt.default(86400),
  /** With `mode: header`; requests without it fall back to the client address. */
  header: headerName.default('x-session-id'),
});

const boundedLoad = z.strictObject({
  enabled: z.boolean().default(false),
  /** No backend takes more than ceil(balanceFactor x average) in-flight requests (Mirrokni et al.). */
  balanceFactor: z.number().min(1).max(10).default(1.25),
});

const timeouts = z.strictObject({
  /** TCP connect to a backend; failure → 502 after retries, timeout → 504. */
  connectMs: positiveInt.default(2000),
  /** From sending the request until the backend's response headers arrive (504 when exceeded). */
  headersMs: positiveInt.default(30000),
  /** Largest gap between two chunks of a response body; exceeded → the client's stream is reset. */
  bodyMs: positiveInt.default(60000),
  /** Client keep-alive idle timeout (keep it above the idle timeout of any load balancer in front). */
  clientIdleMs: positiveInt.default(65000),
  /** A client must send a request's complete headers within this time (else 408 and close). */
  clientHeadersMs: positiveInt.default(60000),
});

const upstream = z.strictObject({
  /** Must stay below the backends' own keep-alive idle timeout (Node's default is 5 s). */
  keepAliveTimeoutMs: positiveInt.default(4000),
});

/**
 * Envoy-style circuit breakers, per backend and per proxy process. A backend at a limit is passed
 * over for the next candidate; when every candidate is, the request gets a 503 `E_CIRCUIT_OPEN`
 * naming the limit. Each trip counts in `meridian_proxy_circuit_breaker_trips_total`.
 */
const circuitBreakers = z.strictObject({
  /**
   * Connections to one backend (the undici pool's cap). A request beyond it waits for a free
   * connection (it is not refused; the trip is counted).
   */
  maxConnections: positiveInt.default(128),
  /** Requests waiting for a connection to one backend; one more is refused. */
  maxPendingRequests: nonNegativeInt.default(1024),
  /** Requests in flight (waiting or running) to one backend; one more is refused. */
  maxRequests: positiveInt.default(1024),
  /**
   * Retries in flight to one backend; a retry that finds it full goes to another backend, or is not
   * made (the client gets the answer that would have been retried).
   */
  maxRetries: nonNegativeInt.default(3),
});

const retries = z.strictObject({
  /** Extra attempts after the first one, each to a different backend. */
  attempts: nonNegativeInt.max(10).default(2),
  /** Backend statuses retried (idempotent or body-less requests, before any byte reached the client). */
  onStatuses: z.array(z.number().int().min(500).max(599)).default([502, 503, 504]),
  /** Retries in flight may not exceed this percentage of active requests (minimum 3). */
  budgetPercent: z.number().min(0).max(100).default(20),
});

/**
 * W3C Trace Context and optional OpenTelemetry export. The proxy always continues the caller's
 * `traceparent` (or starts a trace) and sends the backend its own span id; spans are only built
 * when `otlp` is set.
 */
const tracing = z.strictObject({
  /** Read and forward `traceparent`/`tracestate` (false: pass the client's headers through untouched). */
  propagate: z.boolean().default(true),
  /** Export one span per request over OTLP/HTTP JSON; absent = off (no span is built). */
  otlp: otlpExportSchema('meridian-proxy')
    .extend({
      /** Share of new traces recorded; a continued trace follows the caller's sampled flag. */
      sampleRate: z.number().min(0).max(1).default(1),
    })
    .optional(),
});

const tls = z.strictObject({
  /** PEM files, relative to the config file; re-read when they change (no restart). */
  cert: z.string().min(1),
  key: z.string().min(1),
  /** How often the files are checked for a change. */
  reloadCheckSeconds: positiveInt.default(5),
});

export const proxySchema = z
  .strictObject({
    /** The region whose backends this proxy serves. */
    region: id,
    listen: z.array(hostPort).min(1).default(['127.0.0.1:8080']),
    /** With `tls`: HTTPS listeners, HTTP/2 and HTTP/1.1 negotiated by ALPN. */
    tls: tls.optional(),
    tlsListen: z.array(hostPort).default([]),
    /**
     * The HTTP/1.1 server of the plaintext listeners: `meridian` (default) parses with Node's own
     * llhttp parser and answers through lean request/response objects (about 20 % more requests
     * per second than node:http in interleaved runs); `node` uses node:http. Meridian falls back to
     * node:http, with a warning, on a Node whose parser internals it does not recognise. TLS
     * listeners use node:http2.
     */
    http1Server: z.enum(['meridian', 'node']).default('meridian'),
    /**
     * node:cluster workers; 1 = serve in this process, 0 = one per core, > 1 = that many. Each worker
     * is a full proxy (own pools, ring, health checks) on the shared sockets, reporting region health
     * as `<reporterId>/w<n>`.
     */
    workers: nonNegativeInt.default(1),
    /**
     * The balancing algorithm, by name. The proxy tier checks the name against its registry
     * (src/proxy/selection/registry.ts) when the node starts: the config layer sits below the tiers
     * and does not know their plug-ins. `consistent_hash` is the affinity ring
     * (cookie/header/IP keys, walk to the next healthy backend, panic mode, bounded loads); every
     * other algorithm picks among the healthy active backends, retries going to one not yet tried.
     */
    balancer: z
      .string()
      .regex(/^[a-z][a-z0-9_]*$/, 'expected an algorithm name such as consistent_hash')
      .default('consistent_hash'),
    affinity: affinity.prefault({}),
    /** Ring points per unit of weight (the hash ring's default when absent). */
    vnodes: z.number().int().min(1).max(10000).optional(),
    boundedLoad: boundedLoad.prefault({}),
    /** Below this percentage of healthy backends health is ignored (Envoy's panic mode). */
    panicThresholdPercent: z.number().min(0).max(100).default(50),
    timeouts: timeouts.prefault({}),
    upstream: upstream.prefault({}),
    circuitBreakers: circuitBreakers.prefault({}),
    retries: retries.prefault({}),
    /** Peers whose X-Forwarded-* headers are believed (addresses or CIDRs). */
    trustedProxies: z.array(cidr).default([]),
    /** Access log: this share of requests (0 = off, 1 = every one) is logged at info when they finish. */
    accessLog: z.strictObject({ sampleRate: z.number().min(0).max(1).default(0) }).prefault({}),
    /** Adds `x-meridian-backend: <id>; hash=<hex>; pos=<n>; spill=<k>` to responses. */
    debugHeader: z.boolean().default(false),
    /** With no healthy backend here, forward to the nearest healthy region's proxy (once). */
    crossRegionFallback: z.boolean().default(false),
    tracing: tracing.prefault({}),
    health: healthCheckSchema.prefault({}),
    outlier: outlierSchema.prefault({}),
    report: reportSchema.prefault({}),
  })
  .refine((p) => p.tlsListen.length === 0 || p.tls !== undefined, {
    message: 'tlsListen needs tls.cert and tls.key',
    path: ['tlsListen'],
  })
  .refine((p) => p.tls === undefined || p.tlsListen.length > 0, {
    message: 'tls needs at least one tlsListen address',
    path: ['tlsListen'],
  });

export type ProxyConfig = z.infer<typeof proxySchema>;
export type AffinityConfig = ProxyConfig['affinity'];
