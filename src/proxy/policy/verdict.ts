// What the policy engine tells the proxy, and the request fields it looks at. Pure. Rejection codes
// and their statuses come from the error catalogue (src/core/errors.ts); the proxy writes the answer.
import { statusOf, type ErrorCode } from '../../core/errors.js';

export interface PolicyRequest {
  readonly method: string;
  /**
   * The path without the query string, normalised by the proxy before any policy sees it (dot
   * segments removed, duplicate slashes collapsed, unreserved characters percent-decoded; `%2F`
   * stays encoded); what the backend receives.
   */
  readonly path: string;
  /** The query string without the leading `?` ('' when none). */
  readonly query: string;
  /** Node-style headers: lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The client address the proxy resolved (after trusted forwarding headers). */
  readonly clientIp: string;
  /** The proxy's affinity key (session cookie value), when the request has one. */
  readonly affinityKey?: string;
}

export interface PolicyErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string; readonly ruleId?: string };
}

export type PolicyVerdict =
  | { readonly action: 'pass'; readonly headers?: Readonly<Record<string, string>> }
  | {
      readonly action: 'reject';
      readonly status: number;
      readonly headers: Readonly<Record<string, string>>;
      readonly body: PolicyErrorBody;
    };

/** Stable codes in reject bodies (entries of the error catalogue). */
export const POLICY_ERROR_CODES = {
  rateLimited: 'E_RATE_LIMITED',
  quotaExceeded: 'E_QUOTA_EXCEEDED',
  wafBlocked: 'E_WAF_BLOCKED',
} as const satisfies Record<string, ErrorCode>;

export const PASS: PolicyVerdict = Object.freeze({ action: 'pass' });

/** IETF draft-ietf-httpapi-ratelimit-headers fields (the separate-header form), plus Retry-After. */
export interface LimitState {
  /** RateLimit-Limit: the bucket size (rate limits) or the period's limit (quotas). */
  readonly limit: number;
  /** RateLimit-Remaining. */
  readonly remaining: number;
  /** RateLimit-Reset: seconds until the full limit is available again. */
  readonly resetSeconds: number;
}

export function limitHeaders(s: LimitState): Record<string, string> {
  return {
    'RateLimit-Limit': String(s.limit),
    'RateLimit-Remaining': String(Math.max(0, Math.floor(s.remaining))),
    'RateLimit-Reset': String(Math.max(0, Math.ceil(s.resetSeconds))),
  };
}

export function tooManyRequests(
  code: ErrorCode,
  message: string,
  state: LimitState,
  retryAfterSeconds: number,
): PolicyVerdict {
  return {
    action: 'reject',
    status: statusOf(code),
    headers: {
      'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))),
      ...limitHeaders({ ...state, remaining: 0 }),
    },
    body: { error: { code, message } },
  };
}
