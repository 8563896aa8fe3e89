// Validation of a proxy's health report as posted to `POST /v1/regions/:id/health`. The server
// stamps `reportedAt`/`expiresAt` with its own clock (`ttlSeconds` from the body), so reporters
// with skewed clocks cannot make a report live forever or expire at once.
import { invalid } from '../core/errors.js';
import type { BackendHealth, HealthReport } from '../core/types.js';

const REPORTER_ID = /^[A-Za-z0-9_.:@[\]-]{1,100}$/;
const KEYS = new Set([
  'regionId',
  'reporterId',
  'healthyBackends',
  'totalBackends',
  'inFlight',
  'requestRate',
  'p95LatencyMs',
  'ttlSeconds',
  'backends',
]);
export const DEFAULT_REPORT_TTL_SECONDS = 15;
const MAX_REPORT_TTL_SECONDS = 3600;
const MAX_BACKENDS = 10_000;

function int(value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(field, `expected an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
  return value;
}

function nonNegative(value: unknown, field: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalid(field, `expected a number >= 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

function backendList(value: unknown): BackendHealth[] {
  if (!Array.isArray(value)) throw invalid('backends', 'expected a list of {backendId, healthy, reason?}');
  if (value.length > MAX_BACKENDS) throw invalid('backends', `at most ${MAX_BACKENDS} entries`);
  return value.map((entry: unknown, i): BackendHealth => {
    const field = `backends[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw invalid(field, 'expected an object {backendId, healthy, reason?}');
    }
    const e = entry as Record<string, unknown>;
    for (const key of Object.keys(e)) {
      if (key !== 'backendId' && key !== 'healthy' && key !== 'reason')
        throw invalid(`${field}.${key}`, 'unknown field');
    }
    if (typeof e.backendId !== 'string' || e.backendId.length === 0 || e.backendId.length > 63) {
      throw invalid(`${field}.backendId`, 'expected a backend id');
    }
    if (typeof e.healthy !== 'boolean') throw invalid(`${field}.healthy`, 'expected true or false');
    if (e.reason !== undefined && (typeof e.reason !== 'string' || e.reason.length > 500)) {
      throw invalid(`${field}.reason`, 'expected a string of at most 500 characters');
    }
    return {
      backendId: e.backendId,
      healthy: e.healthy,
      ...(typeof e.reason === 'string' ? { reason: e.reason } : {}),
    };
  });
}

/** Turns a request body into a HealthReport for `regionId`, stamped with `now`. */
export function validateHealthReportBody(body: unknown, regionId: string, now: number): HealthReport {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('body', 'expected a JSON object');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) if (!KEYS.has(key)) throw invalid(key, 'unknown field');
  if (b.regionId !== undefined && b.regionId !== regionId) {
    throw invalid('regionId', `does not match the region in the URL (${regionId})`);
  }
  if (typeof b.reporterId !== 'string' || !REPORTER_ID.test(b.reporterId)) {
    throw invalid(
      'reporterId',
      `expected 1-100 characters of [A-Za-z0-9_.:@[]-], got ${JSON.stringify(b.reporterId)}`,
    );
  }
  const totalBackends = int(b.totalBackends, 'totalBackends', 0);
  const healthyBackends = int(b.healthyBackends, 'healthyBackends', 0, totalBackends);
  const inFlight = b.inFlight === undefined ? 0 : int(b.inFlight, 'inFlight', 0);
  const ttl =
    b.ttlSeconds === undefined
      ? DEFAULT_REPORT_TTL_SECONDS
      : int(b.ttlSeconds, 'ttlSeconds', 1, MAX_REPORT_TTL_SECONDS);
  return {
    regionId,
    reporterId: b.reporterId,
    healthyBackends,
    totalBackends,
    inFlight,
    requestRate: nonNegative(b.requestRate, 'requestRate'),
    p95LatencyMs: nonNegative(b.p95LatencyMs, 'p95LatencyMs'),
    reportedAt: now,
    expiresAt: now + ttl * 1000,
    ...(b.backends === undefined ? {} : { backends: backendList(b.backends) }),
  };
}
