// W3C Trace Context parsing and continuation (https://www.w3.org/TR/trace-context/ §3.2, §4.3):
// the spec's valid and invalid `traceparent` shapes, and what a hop sends onwards in each case.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTraceparent, traceContextOf } from '../../../src/infra/tracing/trace-context.js';
import { unixNanos } from '../../../src/infra/tracing/otlp.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${PARENT}-01`;

void describe('parseTraceparent', () => {
  void it('reads the spec example, sampled or not', () => {
    assert.deepEqual(parseTraceparent(VALID), { traceId: TRACE, parentSpanId: PARENT, sampled: true });
    assert.equal(parseTraceparent(`00-${TRACE}-${PARENT}-00`)?.sampled, false);
    // Only bit 0 is the sampled flag.
    assert.equal(parseTraceparent(`00-${TRACE}-${PARENT}-02`)?.sampled, false);
    assert.equal(parseTraceparent(`00-${TRACE}-${PARENT}-03`)?.sampled, true);
  });

  void it('accepts a later version with extra fields after a dash, and nothing else longer', () => {
    assert.equal(parseTraceparent(`01-${TRACE}-${PARENT}-01-what-the-future-holds`)?.traceId, TRACE);
    assert.equal(parseTraceparent(`01-${TRACE}-${PARENT}-01x`), undefined);
    assert.equal(parseTraceparent(`${VALID}-extra`), undefined, 'version 00 is exactly 55 characters');
  });

  void it('refuses every invalid shape', () => {
    const invalid = [
      undefined,
      '',
      VALID.toUpperCase(),
      `ff-${TRACE}-${PARENT}-01`,
      `00-${'0'.repeat(32)}-${PARENT}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE}-${PARENT}-1`,
      `00-${TRACE.slice(1)}-${PARENT}-01`,
      `00_${TRACE}-${PARENT}-01`,
      `00-${TRACE}-${PARENT.slice(0, 15)}g-01`,
      `${VALID}, ${VALID}`, // two traceparent lines, as node joins them
      [VALID, VALID],
    ];
    for (const value of invalid) assert.equal(parseTraceparent(value), undefined, String(value));
  });
});

void describe('traceContextOf', () => {
  void it('continues a valid trace with a new span of its own, and passes tracestate on', () => {
    const ctx = traceContextOf(VALID, 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE', () => false);
    assert.equal(ctx.traceId, TRACE);
    assert.equal(ctx.parentSpanId, PARENT);
    assert.match(ctx.spanId, /^[0-9a-f]{16}$/);
    assert.notEqual(ctx.spanId, PARENT);
    assert.equal(ctx.sampled, true, "the caller's decision, not ours");
    assert.equal(ctx.traceparent, `00-${TRACE}-${ctx.spanId}-01`);
    assert.equal(ctx.tracestate, 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    assert.equal(traceContextOf(VALID, ['a=1', 'b=2'], () => false).tracestate, 'a=1,b=2');
  });

  void it('starts a new trace when traceparent is absent or invalid, and then drops tracestate', () => {
    for (const header of [undefined, VALID.toUpperCase()]) {
      const ctx = traceContextOf(header, 'rojo=1', () => true);
      assert.match(ctx.traceId, /^[0-9a-f]{32}$/);
      assert.notEqual(ctx.traceId, TRACE);
      assert.equal(ctx.parentSpanId, undefined);
      assert.equal(ctx.tracestate, undefined);
      assert.equal(ctx.traceparent, `00-${ctx.traceId}-${ctx.spanId}-01`);
    }
    assert.match(traceContextOf(undefined, undefined, () => false).traceparent, /-00$/);
  });

  void it('never repeats an id across many requests (the random pool refills)', () => {
    const spans = new Set<string>();
    for (let i = 0; i < 2000; i++) spans.add(traceContextOf(undefined, undefined, () => false).spanId);
    assert.equal(spans.size, 2000);
  });
});

void describe('unixNanos', () => {
  void it('writes epoch milliseconds as exact nanosecond strings', () => {
    // Fractions a double holds exactly at this magnitude (it keeps about a quarter microsecond).
    assert.equal(unixNanos(1_700_000_000_123.5), '1700000000123500000');
    assert.equal(unixNanos(1_700_000_000_123.25), '1700000000123250000');
    assert.equal(unixNanos(1_700_000_000_000), '1700000000000000000');
    assert.equal(unixNanos(5.0000001), '5000000');
  });
});
