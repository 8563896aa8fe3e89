// Policies used across the policy tests.
import type { Policy, RateLimitPolicy } from '../../../src/config/policy-schema.js';
export const rateLimit = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  type: 'rate_limit',
  rate: 10,
  burst: 20,
  key: 'client_ip',
  ...extra,
});

export const quota = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  type: 'quota',
  limit: 100,
  period: 'hour',
  key: 'label:x-tenant',
  ...extra,
});

export const waf = (
  id: string,
  rules: Record<string, unknown>[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> => ({
  id,
  type: 'waf',
  rules,
  ...extra,
});

export const bandwidth = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  type: 'bandwidth_limit',
  bytesPerSecond: 65536,
  ...extra,
});

/** Narrows a stored policy to a rate limit (failing the test otherwise). */
export function asRateLimit(p: Policy): RateLimitPolicy {
  if (p.type !== 'rate_limit') throw new Error(`policy ${p.id} is a ${p.type}, not a rate_limit`);
  return p;
}
