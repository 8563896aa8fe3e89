// Header rewriting between client and backend: hop-by-hop stripping (RFC 9110 §7.6.1), the
// X-Forwarded-* family, X-Request-ID, W3C traceparent/tracestate (the proxy's own span id), and
// reading the affinity cookie. Pure apart from the random request ids.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { cidrContains, ipToBytes, parseCidr, unmapIPv4, type Cidr } from '../../core/ip.js';
import { newRequestId } from './request-id.js';

const PLAIN_CONNECTION = new Set(['keep-alive', 'close', 'Keep-Alive', 'Close', 'upgrade', 'Upgrade']);

/** Header names listed in `Connection` (lower case), which are hop-by-hop too. */
function connectionTokens(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  if (PLAIN_CONNECTION.has(text)) return undefined; // the usual values name no header

  const out: string[] = [];
  for (const part of text.split(',')) {
    const t = part.trim().toLowerCase();
    if (t !== '' && t !== 'close' && t !== 'keep-alive' && t !== 'upgrade') out.push(t);
  }
  return out.length === 0 ? undefined : out;
}

/** Accepts a client-supplied request id only when it is short printable ASCII. */
const REQUEST_ID = /^[\x21-\x7e]{1,200}$/;

export interface ForwardContext {
  /** The client's address as seen on the socket (IPv4-mapped addresses unmapped). */
  readonly peer: string;
  /** Whether `peer` is a trusted proxy (its X-Forwarded-* headers are kept and appended to). */
  readonly trusted: boolean;
  readonly proto: 'http' | 'https';
  readonly requestId: string;
  /** The trace this request continues (its headers replace the client's), or undefined to pass them. */
  readonly trace?: TraceHeaders | undefined;
}

/** What the backend gets of the request's trace. */
export interface TraceHeaders {
  readonly traceparent: string;
  readonly tracestate: string | undefined;
}

// What the rewrites need to know of a field name, decided without a lower-case copy (a switch on
// the length, then at most four short ASCII comparisons): a `toLowerCase` and a Set lookup per
// field took about 55 ns, this about 13 (a browser's dozen fields: 0.66 → 0.16 µs). The one list
// of the names the proxy treats specially.
export const FIELD_OTHER = 0;
/**
 * Never forwarded in either direction: hop-by-hop (RFC 9110 §7.6.1: keep-alive, transfer-encoding,
 * te, trailer, upgrade, `proxy-*`), `http2-settings`, and `expect` (Node answers it itself and undici
 * rejects it). Connection, hop-by-hop too, is its own kind: the fields it names are dropped as well.
 */
export const FIELD_HOP_BY_HOP = 1;
export const FIELD_CONNECTION = 2;
export const FIELD_HOST = 3;
/** traceparent, tracestate. */
export const FIELD_TRACE = 4;
/** X-Forwarded-For, -Proto, -Host. */
export const FIELD_FORWARDED = 5;
export const FIELD_REQUEST_ID = 6;

/** The kind of a header field, by its name in any case. */
export function fieldKind(name: string): number {
  switch (name.length) {
    case 2:
      return isFieldName(name, 'te') ? FIELD_HOP_BY_HOP : FIELD_OTHER;
    case 4:
      return isFieldName(name, 'host') ? FIELD_HOST : FIELD_OTHER;
    case 6:
      if (isFieldName(name, 'expect')) return FIELD_HOP_BY_HOP;
      break;
    case 7:
      if (isFieldName(name, 'trailer') || isFieldName(name, 'upgrade')) return FIELD_HOP_BY_HOP;
      break;
    case 10:
      if (isFieldName(name, 'connection')) return FIELD_CONNECTION;
      if (isFieldName(name, 'keep-alive')) return FIELD_HOP_BY_HOP;
      if (isFieldName(name, 'tracestate')) return FIELD_TRACE;
      break;
    case 11:
      if (isFieldName(name, 'traceparent')) return FIELD_TRACE;
      break;
    case 12:
      if (isFieldName(name, 'x-request-id')) return FIELD_REQUEST_ID;
      break;
    case 14:
      if (isFieldName(name, 'http2-settings')) return FIELD_HOP_BY_HOP;
      break;
    case 15:
      if (isFieldName(name, 'x-forwarded-for')) return FIELD_FORWARDED;
      break;
    case 16:
      if (isFieldName(name, 'x-forwarded-host')) return FIELD_FORWARDED;
      break;
    case 17:
      if (isFieldName(name, 'transfer-encoding')) return FIELD_HOP_BY_HOP;
      if (isFieldName(name, 'x-forwarded-proto')) return FIELD_FORWARDED;
      break;
  }
  return name.length >= 6 && isFieldName(name, 'proxy-', 6) ? FIELD_HOP_BY_HOP : FIELD_OTHER;
}

/**
 * Whether field name `name` is `lower` (a lower-case name) in ASCII case-insensitive comparison;
 * with `prefix`, whether its first `prefix` characters are. No lower-case copy is made.
 */
export function isFieldName(name: string, lower: string, prefix?: number): boolean {
  const n = prefix ?? lower.length;
  if (prefix === undefined ? name.length !== n : name.length < n) return false;
  if (prefix === undefined && name === lower) return true;
  for (let i = 0; i < n; i++) {
    const l = lower.charCodeAt(i);
    const c = name.charCodeAt(i);
    // Only letters differ by case: 'A'..'Z' is 'a'..'z' minus 0x20.
    if (c !== l && (c + 0x20 !== l || l < 0x61 || l > 0x7a)) return false;
  }
  return true;
}

export class TrustedProxies {
  private readonly cidrs: readonly Cidr[];

  constructor(list: readonly string[]) {
    this.cidrs = list.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== undefined);
  }

  get empty(): boolean {
    return this.cidrs.length === 0;
  }

  contains(address: string): boolean {
    if (this.cidrs.length === 0) return false;
    const bytes = ipToBytes(address);
    if (bytes === undefined) return false;
    for (const c of this.cidrs) if (cidrContains(c, bytes)) return true;
    return false;
  }

  /**
   * The original client: the socket peer, or when it is trusted, the right-most X-Forwarded-For
   * entry that is not itself a trusted proxy.
   */
  clientAddress(peer: string, xff: string | string[] | undefined): string {
    if (xff === undefined || !this.contains(peer)) return peer;
    const parts = (Array.isArray(xff) ? xff.join(',') : xff).split(',');
    for (let i = parts.length - 1; i >= 0; i--) {
      const a = unmapIPv4((parts[i] ?? '').trim());
      if (a === '') continue;
      if (ipToBytes(a) === undefined) return peer;
      if (!this.contains(a)) return a;
    }
    return peer;
  }
}

/** The client's X-Request-ID when acceptable, else a new id. */
export function requestIdOf(given: string | undefined): string {
  if (given !== undefined && REQUEST_ID.test(given)) return given;
  return newRequestId();
}

/**
 * Headers for the backend request: hop-by-hop and HTTP/2 pseudo-headers removed, `host` kept
 * (from `:authority` under HTTP/2), X-Forwarded-For/-Proto/-Host set or appended, X-Request-ID set.
 */
export function upstreamHeaders(incoming: IncomingHttpHeaders, ctx: ForwardContext): Record<string, string> {
  const out: Record<string, string> = {};
  const extra = connectionTokens(incoming.connection);
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const kind = fieldKind(name);
    if (kind === FIELD_HOP_BY_HOP || kind === FIELD_CONNECTION) continue;
    if (extra !== undefined && extra.includes(name)) continue;
    if (ctx.trace !== undefined && kind === FIELD_TRACE) continue;
    out[name] = Array.isArray(value) ? value.join(name === 'cookie' ? '; ' : ', ') : value;
  }
  const authority = incoming[':authority'];
  if (out.host === undefined && typeof authority === 'string') out.host = authority;

  const xff = ctx.trusted ? out['x-forwarded-for'] : undefined;
  out['x-forwarded-for'] = xff === undefined || xff === '' ? ctx.peer : `${xff}, ${ctx.peer}`;
  if (!ctx.trusted || out['x-forwarded-proto'] === undefined) out['x-forwarded-proto'] = ctx.proto;
  if (!ctx.trusted || out['x-forwarded-host'] === undefined) {
    if (out.host !== undefined) out['x-forwarded-host'] = out.host;
    else delete out['x-forwarded-host'];
  }
  out['x-request-id'] = ctx.requestId;
  if (ctx.trace !== undefined) {
    out.traceparent = ctx.trace.traceparent;
    if (ctx.trace.tracestate !== undefined) out.tracestate = ctx.trace.tracestate;
  }
  return out;
}

/**
 * The HTTP/1 fast path of `upstreamHeaders` for a peer that is not a trusted proxy: a flat
 * name/value list (undici takes it as is) built from the request's raw headers, in their order and
 * case, with the same rules — hop-by-hop (and those named in `Connection`) dropped, the client's
 * X-Forwarded-*, X-Request-ID and (with `trace`) traceparent/tracestate replaced.
 */
export function upstreamHeaderList(
  raw: readonly string[],
  peer: string,
  proto: 'http' | 'https',
  requestId: string,
  trace: TraceHeaders | undefined,
): string[] {
  const out: string[] = [];
  let host: string | undefined;
  let connection: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    switch (fieldKind(name)) {
      case FIELD_CONNECTION:
        connection = connection === undefined ? value : `${connection}, ${value}`;
        continue;
      case FIELD_HOP_BY_HOP:
      case FIELD_FORWARDED:
      case FIELD_REQUEST_ID:
        continue;
      case FIELD_TRACE:
        if (trace !== undefined) continue;
        break;
      case FIELD_HOST:
        if (host !== undefined) continue; // one Host only
        host = value;
        break;
    }
    out.push(name, value);
  }
  if (connection !== undefined) {
    const extra = connectionTokens(connection);
    if (extra !== undefined) {
      for (let i = out.length - 2; i >= 0; i -= 2) {
        if (extra.includes((out[i] as string).toLowerCase())) out.splice(i, 2);
      }
    }
  }
  out.push('x-forwarded-for', peer, 'x-forwarded-proto', proto);
  if (host !== undefined) out.push('x-forwarded-host', host);
  out.push('x-request-id', requestId);
  if (trace !== undefined) {
    out.push('traceparent', trace.traceparent);
    if (trace.tracestate !== undefined) out.push('tracestate', trace.tracestate);
  }
  return out;
}

/**
 * Response headers for an HTTP/1 client, from undici's raw header buffers: a flat name/value list
 * for `writeHead`, hop-by-hop (and those named in `Connection`) and X-Request-ID dropped. Values are
 * decoded as latin1 so their bytes pass through unchanged.
 */
export function downstreamHeaderList(raw: readonly Buffer[]): string[] {
  const out: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1');
    const kind = fieldKind(name);
    if (kind === FIELD_CONNECTION) {
      const v = (raw[i + 1] as Buffer).toString('latin1');
      connection = connection === undefined ? v : `${connection}, ${v}`;
      continue;
    }
    // Hop-by-hop, or set by the proxy.
    if (kind === FIELD_HOP_BY_HOP || kind === FIELD_REQUEST_ID) continue;
    out.push(name, (raw[i + 1] as Buffer).toString('latin1'));
  }
  if (connection !== undefined) {
    const extra = connectionTokens(connection);
    if (extra !== undefined) {
      for (let i = out.length - 2; i >= 0; i -= 2) {
        if (extra.includes((out[i] as string).toLowerCase())) out.splice(i, 2);
      }
    }
  }
  return out;
}

/** undici's raw header buffers as a header object (lower-case names; repeated ones as arrays). */
export function rawHeadersToObject(raw: readonly Buffer[]): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1').toLowerCase();
    const value = (raw[i + 1] as Buffer).toString('latin1');
    const seen = out[name];
    if (seen === undefined) out[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else out[name] = [seen, value];
  }
  return out;
}

/** Response headers for the client: hop-by-hop removed. Mutates and returns `headers`. */
export function downstreamHeaders(
  headers: Record<string, string | string[] | undefined>,
): OutgoingHttpHeaders {
  const extra = connectionTokens(headers.connection);
  for (const name in headers) {
    const kind = fieldKind(name);
    if (kind === FIELD_HOP_BY_HOP || kind === FIELD_CONNECTION) delete headers[name];
  }
  if (extra !== undefined) for (const name of extra) delete headers[name];
  return headers;
}

/** The value of cookie `name` in a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let at = 0;
  const n = header.length;
  while (at < n) {
    let end = header.indexOf(';', at);
    if (end < 0) end = n;
    let s = at;
    while (s < end && header.charCodeAt(s) === 32) s++;
    if (header.startsWith(name, s) && header.charCodeAt(s + name.length) === 61 /* '=' */) {
      let value = header.slice(s + name.length + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      return value === '' ? undefined : value;
    }
    at = end + 1;
  }
  return undefined;
}

/** Only visible ASCII without separators may serve as an affinity cookie value we accept. */
const COOKIE_VALUE = /^[A-Za-z0-9._~-]{1,128}$/;

export function validCookieValue(value: string): boolean {
  return COOKIE_VALUE.test(value);
}

export function affinityCookie(name: string, value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${name}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

/** Adds a Set-Cookie value to a header object, keeping any the backend set. */
export function appendSetCookie(headers: OutgoingHttpHeaders, cookie: string): void {
  const existing = headers['set-cookie'];
  if (existing === undefined) headers['set-cookie'] = [cookie];
  else if (Array.isArray(existing)) existing.push(cookie);
  else headers['set-cookie'] = [String(existing), cookie];
}
