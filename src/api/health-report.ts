// A proxy's health report as posted to `POST /v1/regions/:id/health`. Only what is specific to the
// API lives here: the region comes from the URL, and the server stamps `reportedAt`/`expiresAt` with
// its own clock (`ttlSeconds` from the body), so reporters with skewed clocks cannot make a report
// live forever or expire at once. Every other field is checked by the store's own validator.
import { invalid } from '../core/errors.js';
import type { HealthReport } from '../core/types.js';
import { validateHealthReport } from '../storage/state-records.js';

export const DEFAULT_REPORT_TTL_SECONDS = 15;
const MAX_REPORT_TTL_SECONDS = 3600;
const SERVER_STAMPED = ['reportedAt', 'expiresAt'] as const;

/** Turns a request body into a HealthReport for `regionId`, stamped with `now`. */
export function validateHealthReportBody(body: unknown, regionId: string, now: number): HealthReport {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('body', 'expected a JSON object');
  const { ttlSeconds, ...rest } = body as Record<string, unknown>;
  if (rest.regionId !== undefined && rest.regionId !== regionId) {
    throw invalid('regionId', `does not match the region in the URL (${regionId})`);
  }
  for (const key of SERVER_STAMPED) if (key in rest) throw invalid(key, 'unknown field (set by the server)');
  let ttl = DEFAULT_REPORT_TTL_SECONDS;
  if (ttlSeconds !== undefined) {
    if (
      typeof ttlSeconds !== 'number' ||
      !Number.isSafeInteger(ttlSeconds) ||
      ttlSeconds < 1 ||
      ttlSeconds > MAX_REPORT_TTL_SECONDS
    ) {
      throw invalid(
        'ttlSeconds',
        `expected an integer in [1, ${MAX_REPORT_TTL_SECONDS}], got ${JSON.stringify(ttlSeconds)}`,
      );
    }
    ttl = ttlSeconds;
  }
  // Load figures are optional in the API (a bare up/down report is enough).
  return validateHealthReport({
    inFlight: 0,
    requestRate: 0,
    p95LatencyMs: 0,
    ...rest,
    regionId,
    reportedAt: now,
    expiresAt: now + ttl * 1000,
  });
}
