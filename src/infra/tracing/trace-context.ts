// W3C Trace Context (https://www.w3.org/TR/trace-context/): parsing an incoming `traceparent`,
// and the ids and header value of the span that continues (or starts) the trace. Pure and
// allocation-light: it runs on every proxied request, export or not.
import { randomFillSync } from 'node:crypto';

/** The trace a request belongs to, and the span this hop adds to it. */
export interface TraceContext {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** This hop's span (16 hex digits): the parent id in the `traceparent` sent onwards. */
  readonly spanId: string;
  /** The caller's span, when the request carried a valid `traceparent`. */
  readonly parentSpanId: string | undefined;
  readonly sampled: boolean;
  /** The caller's `tracestate`, passed on unchanged (only with a valid `traceparent`). */
  readonly tracestate: string | undefined;
  /** `00-<traceId>-<spanId>-<flags>`: the header for the next hop. */
  readonly traceparent: string;
}

// version "-" trace-id "-" parent-id "-" trace-flags, lower-case hex only (§3.2.2).
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

/**
 * The caller's trace from a `traceparent` value, or undefined when it is absent or invalid (the
 * spec then starts a new trace and ignores `tracestate`). Version 00 must be exactly 55 characters;
 * a later version may carry more fields after a '-', which are ignored (§3.2.4); version ff is
 * invalid, and so are all-zero ids.
 */
export function parseTraceparent(
  value: string | string[] | undefined,
): { traceId: string; parentSpanId: string; sampled: boolean } | undefined {
  // Several traceparent lines reach us joined with ", " (longer than 55) or as an array: invalid.
  if (typeof value !== 'string' || value.length < 55 || !TRACEPARENT.test(value)) return undefined;
  const version = value.slice(0, 2);
  if (version === 'ff') return undefined;
  if (value.length > 55 && (version === '00' || value.charCodeAt(55) !== 45) /* '-' */) return undefined;
  const traceId = value.slice(3, 35);
  const parentSpanId = value.slice(36, 52);
  if (traceId === ZERO_TRACE || parentSpanId === ZERO_SPAN) return undefined;
  const flags = parseInt(value.slice(53, 55), 16);
  return { traceId, parentSpanId, sampled: (flags & 1) === 1 };
}

/**
 * Continues the caller's trace when `traceparent` is valid, else starts a new one; `sampleNew`
 * decides the sampled flag of a new trace (a continued one keeps the caller's decision).
 */
export function traceContextOf(
  traceparent: string | string[] | undefined,
  tracestate: string | string[] | undefined,
  sampleNew: () => boolean,
): TraceContext {
  const parent = parseTraceparent(traceparent);
  const spanId = newSpanId();
  if (parent === undefined) {
    const traceId = newTraceId();
    const sampled = sampleNew();
    return {
      traceId,
      spanId,
      parentSpanId: undefined,
      sampled,
      tracestate: undefined,
      traceparent: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`,
    };
  }
  return {
    traceId: parent.traceId,
    spanId,
    parentSpanId: parent.parentSpanId,
    sampled: parent.sampled,
    // Several tracestate lines are one list joined by commas (§3.3.1), as node joins them.
    tracestate: Array.isArray(tracestate) ? tracestate.join(',') : tracestate,
    traceparent: `00-${parent.traceId}-${spanId}-${parent.sampled ? '01' : '00'}`,
  };
}

// Random bytes drawn in blocks: one system call per 512 span ids instead of one each.
const POOL = Buffer.allocUnsafe(4096);
let poolAt = POOL.length;

/** A random span id (8 bytes as hex, never all zeros). */
export function newSpanId(): string {
  return randomHex(8, ZERO_SPAN);
}

/** A random trace id (16 bytes as hex, never all zeros). */
export function newTraceId(): string {
  return randomHex(16, ZERO_TRACE);
}

function randomHex(bytes: number, zero: string): string {
  for (;;) {
    if (poolAt + bytes > POOL.length) {
      randomFillSync(POOL);
      poolAt = 0;
    }
    const hex = POOL.toString('hex', poolAt, poolAt + bytes);
    poolAt += bytes;
    if (hex !== zero) return hex;
  }
}
