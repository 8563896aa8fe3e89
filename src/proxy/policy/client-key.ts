// Turns a policy's `key` spelling into a function from request to the string a limit counts by.
//
// What an operator expects from `key: header:x-api-key` (or `label:`, `cookie:<name>`, `cookie`):
// every API key has its own bucket, and a request *without* the key is neither exempt nor lumped
// into one bucket shared by every keyless request: it is counted by its client address
// (`ip:<address>`), as `key: client_ip` would count it. Key values are used as they are (so quota
// usage is looked up by the plain value), except that a value which could pass for another kind of
// key — one starting with `ip:` or `sha1:` — is stored as its SHA-1, like an over-long value: a
// client cannot send `x-api-key: ip:203.0.113.9` to drain, or borrow, the bucket of the client at
// that address. The client address is the one the proxy resolved: behind a load balancer, list it
// in `proxy.trustedProxies`, or every keyless request counts as the load balancer's.
import { createHash } from 'node:crypto';
import type { PolicyRequest } from './verdict.js';

export type KeyFn = (req: PolicyRequest) => string;

/** Longer values (e.g. a long header) are replaced by their SHA-1 so state and Redis keys stay small. */
const MAX_KEY_LENGTH = 128;

/** Prefixes of the keys the proxy makes itself; a client's value never starts with one. */
const RESERVED = ['ip:', 'sha1:'];

function bounded(value: string): string {
  if (value.length <= MAX_KEY_LENGTH && !RESERVED.some((p) => value.startsWith(p))) return value;
  return `sha1:${createHash('sha1').update(value).digest('hex')}`;
}

function header(req: PolicyRequest, name: string): string | undefined {
  const v = req.headers[name];
  const first = Array.isArray(v) ? v[0] : v;
  return first === undefined || first === '' ? undefined : first;
}

function cookie(req: PolicyRequest, name: string): string | undefined {
  const raw = req.headers.cookie;
  const text = Array.isArray(raw) ? raw.join('; ') : raw;
  if (text === undefined) return undefined;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}

/** The fallback of every keyed spelling: the client's own address. */
const byIp: KeyFn = (req) => `ip:${req.clientIp}`;

export function compileKey(spec: string): KeyFn {
  if (spec === 'client_ip') return (req) => req.clientIp;
  if (spec === 'cookie')
    return (req) =>
      req.affinityKey === undefined || req.affinityKey === '' ? byIp(req) : bounded(req.affinityKey);
  if (spec.startsWith('cookie:')) {
    const name = spec.slice(7);
    return (req) => {
      const v = cookie(req, name);
      return v === undefined ? byIp(req) : bounded(v);
    };
  }
  if (spec.startsWith('header:') || spec.startsWith('label:')) {
    const name = spec.slice(spec.indexOf(':') + 1).toLowerCase();
    return (req) => {
      const v = header(req, name);
      return v === undefined ? byIp(req) : bounded(v);
    };
  }
  return (req) => req.clientIp;
}
