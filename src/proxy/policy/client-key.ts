// Turns a policy's `key` spelling into a function from request to the string a limit counts by.
// A request without the named header or cookie is counted by its client address (`ip:<addr>`),
// so leaving the header out never escapes a limit.
import { createHash } from 'node:crypto';
import type { PolicyRequest } from './verdict.js';

export type KeyFn = (req: PolicyRequest) => string;

/** Longer values (e.g. a long header) are replaced by their SHA-1 so state and Redis keys stay small. */
const MAX_KEY_LENGTH = 128;

function bounded(value: string): string {
  return value.length <= MAX_KEY_LENGTH ? value : `sha1:${createHash('sha1').update(value).digest('hex')}`;
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

export function compileKey(spec: string): KeyFn {
  const byIp: KeyFn = (req) => `ip:${req.clientIp}`;
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
