// WAF rules compiled once per policy change. Rules of every enabled WAF policy in scope are merged
// and evaluated in priority order (lower first; ties by policy id, then rule order). The first
// matching `block` or `allow` rule decides; `allow` ends WAF evaluation only (rate limits and quotas
// still apply). A matching `log` rule is recorded and evaluation continues. Patterns are RE2 (see
// pattern.ts); `path` and `query` are matched both as received and percent-decoded, so encoding a
// character does not slip past a rule; `header:<name>` sees all values joined by ", "; `method`
// the upper-case method; `client_ip` rules take CIDRs (IPv4-mapped IPv6 addresses count as IPv4).
import { cidrContains, ipToBytes, parseCidr, unmapIPv4, type Cidr } from '../../core/ip.js';
import type { WafPolicy } from '../../config/policy-schema.js';
import { compilePattern, type CompiledPattern } from '../../core/pattern.js';
import type { PolicyRequest } from './verdict.js';

export interface CompiledWafRule {
  readonly policyId: string;
  readonly ruleId: string;
  /** `policyId/ruleId`: the metric label. */
  readonly qualifiedId: string;
  readonly action: 'block' | 'allow' | 'log';
  readonly priority: number;
  readonly target: string;
  matches(req: PolicyRequest, ipBytes: () => Uint8Array | undefined): boolean;
}

function decoded(raw: string): string | undefined {
  if (!raw.includes('%') && !raw.includes('+')) return undefined;
  try {
    const d = decodeURIComponent(raw.replace(/\+/g, ' '));
    return d === raw ? undefined : d;
  } catch {
    return undefined;
  }
}

function headerText(req: PolicyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function matcher(
  target: string,
  source: string,
  cache: Map<string, CompiledPattern>,
): CompiledWafRule['matches'] {
  if (target === 'client_ip') {
    const cidrs = source
      .split(',')
      .map((s) => parseCidr(s.trim()))
      .filter((c): c is Cidr => c !== undefined);
    return (_req, ipBytes) => {
      const bytes = ipBytes();
      return bytes !== undefined && cidrs.some((c) => cidrContains(c, bytes));
    };
  }
  let re = cache.get(source);
  if (re === undefined) {
    re = compilePattern(source);
    cache.set(source, re);
  }
  const pattern = re;
  const both = (s: string): boolean => {
    if (pattern.test(s)) return true;
    const d = decoded(s);
    return d !== undefined && pattern.test(d);
  };
  if (target === 'path') return (req) => both(req.path);
  if (target === 'query') return (req) => both(req.query);
  if (target === 'method') return (req) => pattern.test(req.method.toUpperCase());
  const name = target.slice('header:'.length).toLowerCase();
  return (req) => {
    const v = headerText(req, name);
    return v !== undefined && pattern.test(v);
  };
}

/**
 * Compiles the enabled rules of the given (enabled, in-scope) policies, sorted for evaluation.
 * `cache` keeps compiled patterns across recompilations.
 */
export function compileWaf(
  policies: readonly WafPolicy[],
  cache: Map<string, CompiledPattern>,
): CompiledWafRule[] {
  const rules: (CompiledWafRule & { order: number })[] = [];
  for (const p of policies) {
    p.rules.forEach((r, i) => {
      if (!r.enabled) return;
      rules.push({
        policyId: p.id,
        ruleId: r.id,
        qualifiedId: `${p.id}/${r.id}`,
        action: r.action,
        priority: r.priority,
        target: r.target,
        matches: matcher(r.target, r.pattern, cache),
        order: i,
      });
    });
  }
  rules.sort(
    (a, b) =>
      a.priority - b.priority ||
      (a.policyId < b.policyId ? -1 : a.policyId > b.policyId ? 1 : a.order - b.order),
  );
  return rules;
}

/** Parsed client addresses: a proxy sees the same clients again and again (bounded, cleared when full). */
const IP_CACHE_SIZE = 4096;
const ipCache = new Map<string, Uint8Array | undefined>();

function cachedIpBytes(ip: string): Uint8Array | undefined {
  const hit = ipCache.get(ip);
  if (hit !== undefined || ipCache.has(ip)) return hit;
  const bytes = ipToBytes(unmapIPv4(ip));
  if (ipCache.size >= IP_CACHE_SIZE) ipCache.clear();
  ipCache.set(ip, bytes);
  return bytes;
}

/** Lazily parses the client address once per request (only if a client_ip rule runs). */
export function lazyIpBytes(ip: string): () => Uint8Array | undefined {
  let done = false;
  let bytes: Uint8Array | undefined;
  return () => {
    if (!done) {
      done = true;
      bytes = cachedIpBytes(ip);
    }
    return bytes;
  };
}
