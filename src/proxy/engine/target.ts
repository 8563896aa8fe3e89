// Request-target normalisation, done once before any policy sees the request and before it is
// forwarded, so that a WAF rule on `/admin` also matches `/x/../admin`, `/./admin`, `//admin`,
// `/%61dmin` and `http://shop.example/admin`, and the backend receives exactly what was checked.
// On the path (never the query): percent-decoding of unreserved characters only (RFC 3986 §2.3;
// `%2F` and every other reserved or non-ASCII octet stay encoded, hex upper-cased per §6.2.2.1),
// duplicate slashes collapsed, then dot-segment removal (§5.2.4). An absolute-form target
// (RFC 9112 §3.2.2) becomes origin-form, and its authority must match Host. Pure.

/** Why a target is refused (answered with a 400). */
export interface TargetRefusal {
  readonly invalid: string;
}

const HEX = '0123456789ABCDEF';

/** Whether a path needs the slow path: a dot segment, a double slash, a percent or a backslash. */
function isPlain(target: string, end: number): boolean {
  let prev = 0;
  for (let i = 0; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === 37 /* % */ || c === 92 /* \ */) return false;
    if (c === 47 /* / */ && prev === 47) return false;
    if (c === 46 /* . */ && prev === 47) {
      const next = i + 1 < end ? target.charCodeAt(i + 1) : 47;
      if (next === 47 || next === 46) return false; // "/./", "/..", or a trailing "/."
    }
    prev = c;
  }
  return true;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function isUnreserved(c: number): boolean {
  return (
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) ||
    c === 45 ||
    c === 46 ||
    c === 95 ||
    c === 126
  );
}

/** Percent-decodes unreserved characters; undefined for a malformed escape. */
function decodeUnreserved(path: string): string | undefined {
  if (!path.includes('%')) return path;
  let out = '';
  let from = 0;
  for (let i = path.indexOf('%'); i >= 0; i = path.indexOf('%', i + 1)) {
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return undefined;
    const byte = hi * 16 + lo;
    out += path.slice(from, i);
    out += isUnreserved(byte) ? String.fromCharCode(byte) : `%${HEX[hi]}${HEX[lo]}`;
    from = i + 3;
    i += 2;
  }
  return out + path.slice(from);
}

/** RFC 3986 §5.2.4 on an absolute path whose empty segments are already collapsed. */
export function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  // segments[0] is the empty string before the leading slash.
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i] as string;
    const last = i === segments.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      if (last) out.push(''); // "/a/.." → "/", "/a/." → "/a/"
    } else out.push(s);
  }
  return '/' + out.join('/');
}

function normalisePath(path: string): string | undefined {
  const decoded = decodeUnreserved(path);
  if (decoded === undefined) return undefined;
  return removeDotSegments(decoded.replace(/\/{2,}/g, '/'));
}

/** `host[:port]` lower-cased, with the scheme's default port dropped. */
function canonicalAuthority(authority: string, defaultPort: string): string {
  const lower = authority.toLowerCase();
  const suffix = `:${defaultPort}`;
  return lower.endsWith(suffix) ? lower.slice(0, -suffix.length) : lower;
}

/**
 * Normalises a request target. `host` is the request's Host header (undefined when absent);
 * `secure` whether the listener is TLS (for the default port of an absolute-form target).
 */
/** The normalised origin-form target (the input itself when already normal: no allocation), or a refusal. */
export function normaliseTarget(
  raw: string,
  host: string | undefined,
  secure: boolean,
): string | TargetRefusal {
  if (raw === '*') return raw; // OPTIONS * (asterisk-form)
  let target = raw;
  if (raw.charCodeAt(0) !== 47 /* / */) {
    const lower = raw.slice(0, 8).toLowerCase();
    const schemeLength = lower.startsWith('http://') ? 7 : lower.startsWith('https://') ? 8 : 0;
    if (schemeLength === 0)
      return { invalid: 'the request target must be origin-form (/path) or absolute-form' };
    let end = raw.length;
    for (const stop of ['/', '?', '#']) {
      const at = raw.indexOf(stop, schemeLength);
      if (at >= 0 && at < end) end = at;
    }
    const authority = raw.slice(schemeLength, end);
    if (authority === '' || authority.includes('@'))
      return { invalid: 'the absolute-form target needs a host and no user information' };
    const defaultPort = schemeLength === 8 || secure ? '443' : '80';
    if (
      host !== undefined &&
      canonicalAuthority(authority, defaultPort) !== canonicalAuthority(host, defaultPort)
    )
      return { invalid: `the target's authority ${JSON.stringify(authority)} does not match Host` };
    target = raw.slice(end);
    if (target === '' || target.charCodeAt(0) !== 47) target = '/' + target;
  }
  const q = target.indexOf('?');
  const pathEnd = q < 0 ? target.length : q;
  if (target.indexOf('#') >= 0 && target.indexOf('#') < pathEnd)
    return { invalid: 'the request target must not carry a fragment' };
  if (isPlain(target, pathEnd)) return target;
  const path = normalisePath(target.slice(0, pathEnd).replace(/\\/g, '%5C'));
  if (path === undefined) return { invalid: 'the request target has a malformed percent-encoding' };
  return q < 0 ? path : path + target.slice(q);
}
