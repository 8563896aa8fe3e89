// The proxy's span for one request, exported over OTLP/HTTP when `tracing.otlp` is set: built
// once, when the request is accounted for, from what the exchange already holds (trace ids,
// backend that answered, backends tried, attempts, the policy verdict). With export off nothing
// here exists and the request path only forwards the trace headers (admit.ts).
import type { DeepReadonly } from '../../config/load.js';
import type { ProxyConfig } from '../../config/proxy-schema.js';
import type { Logger } from '../../infra/logger.js';
import { OtlpExporter, type AttributeValue } from '../../infra/tracing/otlp.js';
import type { Exchange } from './exchange.js';

type OtlpConfig = NonNullable<DeepReadonly<ProxyConfig['tracing']['otlp']>>;

export class ProxySpans {
  private readonly exporter: OtlpExporter;

  constructor(
    otlp: OtlpConfig,
    private readonly region: string,
    logger: Logger,
  ) {
    this.exporter = new OtlpExporter({
      endpoint: otlp.endpoint,
      serviceName: otlp.serviceName,
      scope: 'meridian.proxy',
      headers: otlp.headers,
      flushIntervalMs: otlp.flushIntervalMs,
      maxQueueSpans: otlp.maxQueueSpans,
      maxBatchSpans: otlp.maxBatchSpans,
      timeoutMs: otlp.timeoutMs,
      resource: { 'meridian.region': region },
      logger,
    });
  }

  /** Records the finished exchange's span when its trace is sampled. `status` 499: the client left. */
  record(ex: Exchange, status: number, endPerfMs: number): void {
    const trace = ex.trace;
    if (trace === undefined || !trace.sampled) return;
    const query = ex.target.indexOf('?');
    const attributes: Record<string, AttributeValue> = {
      'http.request.method': ex.method,
      'url.path': query < 0 ? ex.target : ex.target.slice(0, query),
      'http.response.status_code': status,
      'client.address': ex.clientIp,
      'meridian.region': this.region,
      'meridian.request_id': ex.requestId,
      'meridian.backend': ex.answeredBy,
      'meridian.attempts': ex.attempts,
      'meridian.retries': Math.max(0, ex.attempts - 1),
      'meridian.policy.verdict': ex.policyAction,
    };
    if (ex.tried !== undefined && ex.tried.size > 0)
      attributes['meridian.backends_failed'] = [...ex.tried].join(',');
    if (ex.policyRule !== undefined) attributes['meridian.policy.rule'] = ex.policyRule;
    this.exporter.export({
      traceId: trace.traceId,
      spanId: trace.spanId,
      parentSpanId: trace.parentSpanId,
      name: ex.method,
      kind: 2, // SERVER: the request as this proxy received it
      startMs: performance.timeOrigin + ex.start,
      endMs: performance.timeOrigin + endPerfMs,
      error: status >= 500 && status !== 499,
      attributes,
    });
  }

  /** Sends the spans still queued, until `deadline` (ms epoch) at the latest. */
  close(deadline: number): Promise<void> {
    return this.exporter.close(Math.max(0, deadline - Date.now()));
  }
}
