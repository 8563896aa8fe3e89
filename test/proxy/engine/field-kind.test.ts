// fieldKind decides, without a lower-case copy, what the header rewrites used to decide by
// lower-casing each name and looking it up in Sets: checked here against those rules (the Set of
// hop-by-hop names it replaced, kept below as the reference) for the special names in several
// spellings, their near misses and ordinary fields.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FIELD_CONNECTION,
  FIELD_FORWARDED,
  FIELD_HOP_BY_HOP,
  FIELD_HOST,
  FIELD_OTHER,
  FIELD_REQUEST_ID,
  FIELD_TRACE,
  fieldKind,
  isFieldName,
} from '../../../src/proxy/engine/headers.js';

/** The hop-by-hop Set the rewrites used (Connection aside), `proxy-*` besides. */
const HOP_BY_HOP = new Set([
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'http2-settings',
  'expect',
]);

/** The reference: lower-case, then the Sets and prefix the old code used. */
function reference(name: string): number {
  const lower = name.toLowerCase();
  if (lower === 'connection') return FIELD_CONNECTION;
  if (HOP_BY_HOP.has(lower) || lower.startsWith('proxy-')) return FIELD_HOP_BY_HOP;
  if (lower === 'host') return FIELD_HOST;
  if (lower === 'traceparent' || lower === 'tracestate') return FIELD_TRACE;
  if (lower === 'x-forwarded-for' || lower === 'x-forwarded-proto' || lower === 'x-forwarded-host')
    return FIELD_FORWARDED;
  if (lower === 'x-request-id') return FIELD_REQUEST_ID;
  return FIELD_OTHER;
}

const SPECIAL = [
  'connection',
  ...HOP_BY_HOP,
  'host',
  'traceparent',
  'tracestate',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
  'proxy-',
  'proxy-x',
  'proxy-anything-at-all',
];
const ORDINARY = [
  'accept',
  'cookie',
  'user-agent',
  'content-length',
  'content-type',
  'tea',
  't',
  'hos',
  'hosts',
  'proxy',
  'proxy_x',
  'proxyx-y',
  'x-forwarded-fox',
  'x-request-ids',
  'trace-parent',
  'expects',
  'keep_alive',
  'x-forwarded-by',
  'sec-fetch-mode',
  'upgrade-insecure-requests',
  'a',
  '',
];

/** lower, Capitalised-Words, UPPER and one mixed spelling. */
function spellings(lower: string): string[] {
  const capital = lower.replace(
    /(^|-)([a-z])/g,
    (_m: string, dash: string, c: string) => dash + c.toUpperCase(),
  );
  const mixed = [...lower].map((c, i) => (i % 2 === 0 ? c.toUpperCase() : c)).join('');
  return [lower, capital, lower.toUpperCase(), mixed];
}

void describe('header field kinds', () => {
  void it('agree with the lower-case-and-Set reference for every spelling', () => {
    for (const name of [...SPECIAL, ...ORDINARY].flatMap(spellings)) {
      assert.equal(fieldKind(name), reference(name), JSON.stringify(name));
    }
  });

  void it('classify every special name as something, and ordinary ones as nothing', () => {
    for (const name of SPECIAL) assert.notEqual(fieldKind(name), FIELD_OTHER, name);
    for (const name of ORDINARY) assert.equal(fieldKind(name), FIELD_OTHER, name);
  });

  void it('fold only letters: "^" is not "~", "_" is not DEL, "-" is not CR', () => {
    assert.equal(isFieldName('X-AB^C', 'x-ab~c'), false);
    assert.equal(isFieldName('x_y', 'x\x7fy'), false);
    assert.equal(isFieldName('keep\ralive', 'keep-alive'), false);
    assert.equal(isFieldName('KEEP-ALIVE', 'keep-alive'), true);
    assert.equal(isFieldName('Proxy-Foo', 'proxy-', 6), true);
    assert.equal(isFieldName('Proxy', 'proxy-', 6), false);
  });
});
