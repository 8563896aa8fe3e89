// OTLP/HTTP span export settings, shared by the tiers that export spans (the proxy per sampled
// request, DNS per query its query log samples). Each tier names its own default service.
import { z } from 'zod';
import { positiveInt } from './primitives.js';

export function otlpExportSchema(defaultServiceName: string) {
  return z.strictObject({
    /** Collector base URL (OTEL_EXPORTER_OTLP_ENDPOINT style): spans go to `<endpoint>/v1/traces`. */
    endpoint: z.url({
      protocol: /^https?$/,
      error: 'expected an http(s) URL such as http://127.0.0.1:4318',
    }),
    serviceName: z.string().min(1).default(defaultServiceName),
    /** Extra request headers for the collector (authentication). */
    headers: z.record(z.string(), z.string()).default({}),
    flushIntervalMs: positiveInt.max(60_000).default(1000),
    /** Spans held while waiting for the collector; more are dropped. */
    maxQueueSpans: positiveInt.default(8192),
    maxBatchSpans: positiveInt.default(512),
    timeoutMs: positiveInt.default(10_000),
  });
}
