// A small OTLP/HTTP JSON span exporter (https://opentelemetry.io/docs/specs/otlp/#otlphttp): spans
// are queued in memory (bounded; the overflow is dropped and counted) and POSTed in batches to
// `<endpoint>/v1/traces` by a timer, one request at a time, never on the caller's path. Written here
// rather than taken from @opentelemetry/sdk-trace-base + exporter-trace-otlp-http because Meridian
// records one finished span per request from data it already holds: the SDK's span objects,
// context manager and processors (about fifteen packages) would add per-request work for nothing.
import { Pool } from 'undici';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../logger.js';

export type AttributeValue = string | number | boolean;

/** A finished span. Times are milliseconds since the Unix epoch (fractions kept). */
export interface FinishedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  readonly kind: 1 | 2 | 3;
  readonly startMs: number;
  readonly endMs: number;
  readonly error: boolean;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
}

export interface OtlpExporterOptions {
  /** Collector base URL, e.g. http://127.0.0.1:4318 (`/v1/traces` is appended). */
  readonly endpoint: string;
  readonly serviceName: string;
  /** Instrumentation scope name, e.g. `meridian.proxy`. */
  readonly scope: string;
  /** Extra request headers (authentication for a hosted collector). */
  readonly headers: Readonly<Record<string, string>>;
  readonly flushIntervalMs: number;
  /** Spans held at most; more are dropped until a flush makes room. */
  readonly maxQueueSpans: number;
  /** Spans per request at most. */
  readonly maxBatchSpans: number;
  readonly timeoutMs: number;
  readonly resource?: Readonly<Record<string, AttributeValue>>;
  readonly logger: Logger;
}

const LOG_EVERY_MS = 10_000;

export class OtlpExporter {
  private queue: FinishedSpan[] = [];
  private readonly pool: Pool;
  private readonly path: string;
  private readonly headers: Record<string, string>;
  private readonly resource: { attributes: OtlpAttribute[] };
  private readonly timer: NodeJS.Timeout;
  private sending: Promise<void> | undefined;
  private lastLogged = 0;
  /** Spans dropped because the queue was full or a request failed. */
  dropped = 0;
  exported = 0;

  constructor(private readonly options: OtlpExporterOptions) {
    const url = new URL(options.endpoint);
    this.path = `${url.pathname.replace(/\/+$/, '')}/v1/traces`;
    this.pool = new Pool(url.origin, {
      connections: 1,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: { timeout: options.timeoutMs },
    });
    this.headers = { ...options.headers, 'content-type': 'application/json' };
    this.resource = {
      attributes: attributes({ 'service.name': options.serviceName, ...options.resource }),
    };
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs);
    this.timer.unref();
  }

  /** Queues a finished span (dropped when the queue is full). */
  export(span: FinishedSpan): void {
    if (this.queue.length >= this.options.maxQueueSpans) {
      this.dropped++;
      return;
    }
    this.queue.push(span);
  }

  /** Sends what is queued, a batch at a time; resolves when done (never rejects). */
  async flush(): Promise<void> {
    if (this.sending !== undefined) return this.sending;
    this.sending = this.drain().finally(() => (this.sending = undefined));
    return this.sending;
  }

  /** Sends what is left (waiting at most `waitMs`), then closes the connection. */
  async close(waitMs: number): Promise<void> {
    clearInterval(this.timer);
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), waitMs);
      timer.unref();
    });
    const late = await Promise.race([this.flush().then(() => false), gaveUp]);
    clearTimeout(timer);
    if (late) await this.pool.destroy().catch(() => undefined);
    else await this.pool.close().catch(() => undefined);
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch =
        this.queue.length <= this.options.maxBatchSpans
          ? this.queue
          : this.queue.slice(0, this.options.maxBatchSpans);
      this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
      try {
        const res = await this.pool.request({
          path: this.path,
          method: 'POST',
          headers: this.headers,
          body: JSON.stringify(this.payload(batch)),
        });
        await res.body.dump();
        if (res.statusCode >= 300) throw new Error(`collector answered ${res.statusCode}`);
        this.exported += batch.length;
      } catch (err) {
        this.dropped += batch.length;
        const now = Date.now();
        if (now - this.lastLogged >= LOG_EVERY_MS) {
          this.lastLogged = now;
          this.options.logger.warn(
            { endpoint: this.options.endpoint, err: describeError(err), dropped: this.dropped },
            'OTLP span export failed (logged at most every 10 s)',
          );
        }
        return;
      }
    }
  }

  /** An ExportTraceServiceRequest in the OTLP JSON encoding (ids as hex, times as strings). */
  private payload(batch: readonly FinishedSpan[]): unknown {
    return {
      resourceSpans: [
        {
          resource: this.resource,
          scopeSpans: [{ scope: { name: this.options.scope }, spans: batch.map(otlpSpan) }],
        },
      ],
    };
  }
}

interface OtlpAttribute {
  key: string;
  value: { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };
}

function attributes(record: Readonly<Record<string, AttributeValue | undefined>>): OtlpAttribute[] {
  const out: OtlpAttribute[] = [];
  for (const key in record) {
    const v = record[key];
    if (v === undefined) continue;
    if (typeof v === 'string') out.push({ key, value: { stringValue: v } });
    else if (typeof v === 'boolean') out.push({ key, value: { boolValue: v } });
    else if (Number.isInteger(v)) out.push({ key, value: { intValue: String(v) } });
    else out.push({ key, value: { doubleValue: v } });
  }
  return out;
}

function otlpSpan(span: FinishedSpan): unknown {
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    ...(span.parentSpanId === undefined ? {} : { parentSpanId: span.parentSpanId }),
    name: span.name,
    kind: span.kind,
    startTimeUnixNano: unixNanos(span.startMs),
    endTimeUnixNano: unixNanos(span.endMs),
    attributes: attributes(span.attributes),
    // STATUS_CODE_ERROR = 2, UNSET = 0.
    status: { code: span.error ? 2 : 0 },
  };
}

/** Epoch milliseconds as a decimal nanosecond string (a double cannot hold the nanoseconds). */
export function unixNanos(ms: number): string {
  const whole = Math.floor(ms);
  const nanos = Math.min(999_999, Math.round((ms - whole) * 1e6));
  return `${whole}${String(nanos).padStart(6, '0')}`;
}
