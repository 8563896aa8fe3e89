// Building, patching and reviving the records both stores keep, so the memory and Redis stores
// accept and produce exactly the same values. Pure: no I/O, the clock is passed in.
import type {
  Backend,
  BackendHealth,
  BackendInput,
  BackendPatch,
  HealthReport,
  LifecycleState,
  Region,
  RegionInput,
  RegionPatch,
} from '../core/types.js';
import { invalid } from '../core/errors.js';
import {
  assertId,
  assertRegionHasAddress,
  backendIdFromUrl,
  validateBackendInput,
  validateBackendPatch,
  validateRegionInput,
  validateRegionPatch,
} from '../core/validate.js';

/** Health reports older than this (by `reportedAt`) are pruned by the stores. */
export const HEALTH_RETENTION_MS = 24 * 60 * 60 * 1000;

interface RegionFields {
  id: string;
  name: string;
  lat: number;
  lon: number;
  country: string | undefined;
  continent: string | undefined;
  ipv4: readonly string[];
  ipv6: readonly string[];
  weight: number;
  capacity: number | undefined;
  state: LifecycleState;
  labels: Readonly<Record<string, string>>;
  requireHealth: boolean;
  createdAt: string;
  updatedAt: string;
}

/** A frozen region with its keys in one canonical order (so equal regions serialise equally). */
function makeRegion(f: RegionFields): Region {
  const region: Region = {
    id: f.id,
    name: f.name,
    lat: f.lat,
    lon: f.lon,
    ...(f.country === undefined ? {} : { country: f.country }),
    ...(f.continent === undefined ? {} : { continent: f.continent }),
    ipv4: Object.freeze([...f.ipv4]),
    ipv6: Object.freeze([...f.ipv6]),
    weight: f.weight,
    ...(f.capacity === undefined ? {} : { capacity: f.capacity }),
    state: f.state,
    labels: Object.freeze({ ...f.labels }),
    requireHealth: f.requireHealth,
    createdAt: f.createdAt,
    updatedAt: f.updatedAt,
  };
  return Object.freeze(region);
}

function makeBackend(b: Backend): Backend {
  return Object.freeze({
    id: b.id,
    regionId: b.regionId,
    url: b.url,
    weight: b.weight,
    state: b.state,
    createdAt: b.createdAt,
    updatedAt: b.updatedAt,
  });
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Country and continent codes are accepted in any case and stored upper case. */
function upperCaseCodes<T extends object>(body: T): T {
  const b = { ...body } as Record<string, unknown>;
  if (typeof b.country === 'string') b.country = b.country.toUpperCase();
  if (typeof b.continent === 'string') b.continent = b.continent.toUpperCase();
  return b as T;
}

function regionFromInput(input: RegionInput, createdAt: string, updatedAt: string): Region {
  return makeRegion({
    id: input.id,
    name: input.name ?? input.id,
    lat: input.lat,
    lon: input.lon,
    country: input.country,
    continent: input.continent,
    ipv4: input.ipv4 ?? [],
    ipv6: input.ipv6 ?? [],
    weight: input.weight ?? 100,
    capacity: input.capacity ?? undefined,
    state: input.state ?? 'active',
    labels: input.labels ?? {},
    requireHealth: input.requireHealth ?? false,
    createdAt,
    updatedAt,
  });
}

/** Validates a create body and fills in defaults. Throws E_VALIDATION naming the field. */
export function buildRegion(input: RegionInput, now: Date): Region {
  if (!isObject(input)) throw invalid('body', 'expected a JSON object');
  const valid = validateRegionInput(upperCaseCodes(input));
  const at = now.toISOString();
  return regionFromInput(valid, at, at);
}

/** Applies a validated patch; `null` clears capacity, country and continent. */
export function patchRegion(region: Region, patch: RegionPatch, now: Date): Region {
  if (!isObject(patch)) throw invalid('body', 'expected a JSON object');
  const p = validateRegionPatch(upperCaseCodes(patch));
  const pick = <T>(v: T | null | undefined, old: T | undefined): T | undefined =>
    v === null ? undefined : v === undefined ? old : v;
  const next: RegionFields = {
    id: region.id,
    name: p.name ?? region.name,
    lat: p.lat ?? region.lat,
    lon: p.lon ?? region.lon,
    country: pick(p.country, region.country),
    continent: pick(p.continent, region.continent),
    ipv4: p.ipv4 ?? region.ipv4,
    ipv6: p.ipv6 ?? region.ipv6,
    weight: p.weight ?? region.weight,
    capacity: pick(p.capacity, region.capacity),
    state: p.state ?? region.state,
    labels: p.labels ?? region.labels,
    requireHealth: p.requireHealth ?? region.requireHealth,
    createdAt: region.createdAt,
    updatedAt: now.toISOString(),
  };
  assertRegionHasAddress(next.ipv4, next.ipv6);
  return makeRegion(next);
}

export function buildBackend(regionId: string, input: BackendInput, now: Date): Backend {
  assertId(regionId, 'regionId');
  if (!isObject(input)) throw invalid('body', 'expected a JSON object');
  const valid = validateBackendInput(input);
  const id = valid.id ?? backendIdFromUrl(valid.url);
  assertId(id, 'id');
  const at = now.toISOString();
  return makeBackend({
    id,
    regionId,
    url: valid.url,
    weight: valid.weight ?? 100,
    state: valid.state ?? 'active',
    createdAt: at,
    updatedAt: at,
  });
}

export function patchBackend(backend: Backend, patch: BackendPatch, now: Date): Backend {
  if (!isObject(patch)) throw invalid('body', 'expected a JSON object');
  const p = validateBackendPatch(patch);
  return makeBackend({
    ...backend,
    url: p.url ?? backend.url,
    weight: p.weight ?? backend.weight,
    state: p.state ?? backend.state,
    updatedAt: now.toISOString(),
  });
}

function assertTimestamp(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) {
    throw invalid(field, `expected an ISO timestamp, got ${JSON.stringify(value)}`);
  }
}

/** Revives a stored region (from a state file, Redis or IPC), validating it like a create body. */
export function reviveRegion(x: unknown): Region {
  if (!isObject(x)) throw invalid('region', 'expected an object');
  const { createdAt, updatedAt, ...rest } = x;
  assertTimestamp(createdAt, 'createdAt');
  assertTimestamp(updatedAt, 'updatedAt');
  return regionFromInput(validateRegionInput(rest), createdAt, updatedAt);
}

/** Revives a stored backend (from a state file, Redis or IPC). */
export function reviveBackend(x: unknown): Backend {
  if (!isObject(x)) throw invalid('backend', 'expected an object');
  const { createdAt, updatedAt, regionId, ...rest } = x;
  assertId(regionId, 'regionId');
  assertTimestamp(createdAt, 'createdAt');
  assertTimestamp(updatedAt, 'updatedAt');
  if (rest.id === undefined) throw invalid('id', 'is required');
  const b = validateBackendInput(rest);
  return makeBackend({
    id: b.id ?? '',
    regionId,
    url: b.url,
    weight: b.weight ?? 100,
    state: b.state ?? 'active',
    createdAt,
    updatedAt,
  });
}

const HEALTH_KEYS = new Set([
  'kind',
  'since',
  'prevSince',
  'regionId',
  'reporterId',
  'healthyBackends',
  'totalBackends',
  'inFlight',
  'requestRate',
  'p95LatencyMs',
  'reportedAt',
  'expiresAt',
  'backends',
]);
const BACKEND_HEALTH_KEYS = new Set(['backendId', 'healthy', 'reason']);
const MAX_REPORT_BACKENDS = 10_000;

function count(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(field, `expected an integer >= 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

function nonNegative(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalid(field, `expected a finite number >= 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

function rejectUnknown(value: Record<string, unknown>, allowed: Set<string>, prefix: string): void {
  for (const key of Object.keys(value))
    if (!allowed.has(key)) throw invalid(`${prefix}${key}`, 'unknown field');
}

function backendHealth(x: unknown, i: number): BackendHealth {
  const at = `backends[${i}]`;
  if (!isObject(x)) throw invalid(at, 'expected an object');
  rejectUnknown(x, BACKEND_HEALTH_KEYS, `${at}.`);
  assertId(x.backendId, `${at}.backendId`);
  if (typeof x.healthy !== 'boolean') throw invalid(`${at}.healthy`, 'expected true or false');
  if (x.reason !== undefined && (typeof x.reason !== 'string' || x.reason.length > 1000)) {
    throw invalid(`${at}.reason`, 'expected a string of at most 1000 characters');
  }
  return Object.freeze(
    x.reason === undefined
      ? { backendId: x.backendId, healthy: x.healthy }
      : { backendId: x.backendId, healthy: x.healthy, reason: x.reason },
  );
}

/** Validates a health report (from a proxy, the API, Redis or a state file). Returns a frozen copy. */
export function validateHealthReport(x: unknown): HealthReport {
  if (!isObject(x)) throw invalid('body', 'expected a JSON object');
  rejectUnknown(x, HEALTH_KEYS, '');
  assertId(x.regionId, 'regionId');
  const reporterId = x.reporterId;
  if (typeof reporterId !== 'string' || reporterId.length === 0 || reporterId.length > 200) {
    throw invalid('reporterId', `expected a string of 1-200 characters, got ${JSON.stringify(reporterId)}`);
  }
  if ([...reporterId].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
    throw invalid('reporterId', 'must not contain control characters');
  }
  const healthyBackends = count(x.healthyBackends, 'healthyBackends');
  const totalBackends = count(x.totalBackends, 'totalBackends');
  if (healthyBackends > totalBackends) {
    throw invalid('healthyBackends', `is ${healthyBackends}, more than totalBackends (${totalBackends})`);
  }
  const report: { -readonly [K in keyof HealthReport]: HealthReport[K] } = {
    regionId: x.regionId,
    reporterId,
    healthyBackends,
    totalBackends,
    inFlight: count(x.inFlight, 'inFlight'),
    requestRate: nonNegative(x.requestRate, 'requestRate'),
    p95LatencyMs: nonNegative(x.p95LatencyMs, 'p95LatencyMs'),
    reportedAt: count(x.reportedAt, 'reportedAt'),
    expiresAt: count(x.expiresAt, 'expiresAt'),
  };
  if (x.backends !== undefined) {
    if (!Array.isArray(x.backends)) throw invalid('backends', 'expected a list');
    if (x.backends.length > MAX_REPORT_BACKENDS) {
      throw invalid('backends', `at most ${MAX_REPORT_BACKENDS} entries`);
    }
    report.backends = Object.freeze(x.backends.map((b: unknown, i) => backendHealth(b, i)));
  }
  if (x.kind !== undefined) {
    if (x.kind !== 'proxy' && x.kind !== 'probe') throw invalid('kind', 'expected "proxy" or "probe"');
    report.kind = x.kind;
  }
  if (x.since !== undefined) report.since = count(x.since, 'since');
  if (x.prevSince !== undefined) {
    if (report.since === undefined) throw invalid('prevSince', 'needs since');
    const prevSince = count(x.prevSince, 'prevSince');
    if (prevSince > report.since) throw invalid('prevSince', `is after since (${report.since})`);
    report.prevSince = prevSince;
  }
  return Object.freeze(report);
}

/** Whether a report is old enough (by `reportedAt`) to be forgotten. */
export function isPrunable(report: HealthReport, now: number): boolean {
  return report.reportedAt < now - HEALTH_RETENTION_MS;
}
