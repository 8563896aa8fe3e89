// The policy gate: traffic policies (WAF, rate limits, quotas) decide on every admitted request
// before any backend is picked, ordinary or upgrade alike. `check` is awaited only when it returned
// a promise (a cluster-wide limit waiting on Redis); a check that fails lets the request through
// (fail open) and is logged at most every 10 s.
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../infra/logger.js';
import type { PolicyEngine, PolicyRequest, PolicyVerdict } from '../policy/engine.js';
import { PASS } from '../policy/verdict.js';
import type { Exchange } from './exchange.js';

const POLICY_ERROR_LOG_INTERVAL_MS = 10_000;

/** Called with the verdict, synchronously when the policies did not need to wait. */
export type VerdictHandler = (ex: Exchange, preq: PolicyRequest, verdict: PolicyVerdict) => void;

export class PolicyGate {
  private lastErrorLog = 0;

  constructor(
    private readonly policies: PolicyEngine,
    private readonly logger: Logger,
    private readonly onVerdict: VerdictHandler,
  ) {}

  check(ex: Exchange): void {
    const preq = policyRequest(ex);
    let verdict: PolicyVerdict | Promise<PolicyVerdict>;
    try {
      verdict = this.policies.check(preq);
    } catch (err) {
      this.failed(err, ex);
      verdict = PASS;
    }
    if (verdict instanceof Promise) {
      verdict.then(
        (v) => this.onVerdict(ex, preq, v),
        (err: unknown) => {
          this.failed(err, ex);
          this.onVerdict(ex, preq, PASS);
        },
      );
      return;
    }
    this.onVerdict(ex, preq, verdict);
  }

  /** A policy check failed (Redis, a bug): the request goes through; logged at most every 10 s. */
  private failed(err: unknown, ex: Exchange): void {
    const now = Date.now();
    if (now - this.lastErrorLog < POLICY_ERROR_LOG_INTERVAL_MS) return;
    this.lastErrorLog = now;
    this.logger.warn(
      { err: describeError(err), requestId: ex.requestId },
      'policy check failed; letting requests through (logged at most every 10 s)',
    );
  }
}

/** The request as the policy engine sees it: the normalised target, split at the query. */
function policyRequest(ex: Exchange): PolicyRequest {
  const url = ex.target;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const headers = ex.req.headers;
  const method = ex.method;
  const clientIp = ex.clientIp;
  const affinityKey = ex.affinityKey;
  // Two literal shapes rather than a spread (this runs for every request).
  return affinityKey === undefined
    ? { method, path, query, headers, clientIp }
    : { method, path, query, headers, clientIp, affinityKey };
}
