// DNS decisions as OpenTelemetry spans. With `dns.tracing.otlp` set, each query the query log
// samples is also exported over OTLP/HTTP: a new trace per query (DNS carries no trace context),
// one SERVER span with the question, the client and its ECS subnet, the rcode, the region the
// steering chose and whether the reply came from the answer cache. Nothing here runs for a query
// that is not sampled; with export off nothing here exists.
import type { DnsConfig } from '../../config/dns-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import { bytesToIp } from '../../core/ip.js';
import type { Logger } from '../../infra/logger.js';
import { OtlpExporter, type AttributeValue } from '../../infra/tracing/otlp.js';
import { newSpanId, newTraceId } from '../../infra/tracing/trace-context.js';
import type { EcsOption } from '../wire/reader.js';

type OtlpConfig = NonNullable<DeepReadonly<DnsConfig['tracing']['otlp']>>;

/** One answered query, as the query log records it, plus what the steering decided. */
export interface DnsDecision {
  readonly qname: string | undefined;
  readonly qtype: string;
  readonly rcode: string;
  readonly client: string;
  readonly transport: string;
  readonly size: number;
  readonly ecs: EcsOption | undefined;
  /** The region a balanced name was answered with (undefined: not a balanced answer). */
  readonly region: string | undefined;
  readonly country: string | undefined;
  /** The reply came from the answer cache (the decision was made for an earlier query). */
  readonly cached: boolean;
}

export class DnsSpans {
  private readonly exporter: OtlpExporter;

  constructor(otlp: OtlpConfig, logger: Logger) {
    this.exporter = new OtlpExporter({
      endpoint: otlp.endpoint,
      serviceName: otlp.serviceName,
      scope: 'meridian.dns',
      headers: otlp.headers,
      flushIntervalMs: otlp.flushIntervalMs,
      maxQueueSpans: otlp.maxQueueSpans,
      maxBatchSpans: otlp.maxBatchSpans,
      timeoutMs: otlp.timeoutMs,
      logger,
    });
  }

  /** Exports the decision's span (times from performance.now()); returns its trace id. */
  record(d: DnsDecision, startPerfMs: number, endPerfMs: number): string {
    const traceId = newTraceId();
    const attributes: Record<string, AttributeValue> = {
      'dns.question.type': d.qtype,
      'dns.response_code': d.rcode,
      'client.address': d.client,
      'network.transport': d.transport,
      'meridian.dns.reply_size': d.size,
      'meridian.dns.cached': d.cached,
    };
    if (d.qname !== undefined) attributes['dns.question.name'] = d.qname;
    if (d.ecs !== undefined) attributes['meridian.dns.ecs'] = ecsText(d.ecs);
    if (d.region !== undefined) attributes['meridian.region'] = d.region;
    if (d.country !== undefined) attributes['meridian.client.country'] = d.country;
    this.exporter.export({
      traceId,
      spanId: newSpanId(),
      parentSpanId: undefined,
      name: `DNS ${d.qtype}`,
      kind: 2, // SERVER: the query as this server received it
      startMs: performance.timeOrigin + startPerfMs,
      endMs: performance.timeOrigin + endPerfMs,
      error: d.rcode === 'SERVFAIL',
      attributes,
    });
    return traceId;
  }

  /** Sends the spans still queued, waiting at most `waitMs`. */
  close(waitMs: number): Promise<void> {
    return this.exporter.close(waitMs);
  }
}

/** `192.0.2.0/24`: the client subnet a resolver sent (family 1 IPv4, 2 IPv6). */
function ecsText(ecs: EcsOption): string {
  const bytes = Buffer.alloc(ecs.family === 2 ? 16 : 4);
  ecs.address.copy(bytes, 0, 0, Math.min(ecs.address.length, bytes.length));
  return `${bytesToIp(bytes)}/${ecs.sourcePrefix}`;
}
