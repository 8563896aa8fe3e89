// Validation of region/backend input, shared by the CLI (before sending), the admin API and the
// stores, so every entry point rejects the same input with the same message. Pure.
import { ID_PATTERN, LIFECYCLE_STATES } from './types.js';
import type { BackendInput, BackendPatch, LifecycleState, RegionInput, RegionPatch } from './types.js';
import { invalid } from './errors.js';
import { ipFamily } from './ip.js';

const COUNTRY = /^[A-Z]{2}$/;
export const CONTINENTS = ['AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA'] as const;
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,62}$/;
/**
 * C0 controls (TAB, LF and ESC included), DEL and C1 controls. Terminals act on them (ESC and the
 * 8-bit CSI U+009B start escape sequences), so a name printed by the CLI or in a log viewer could
 * rewrite the screen; none belongs in a name, label or description.
 */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;
/** The escapes people know; other control characters are shown as `\xNN`. */
const NAMED_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Why `text` is not printable text, or undefined when it is (for schemas that report their own way). */
export function controlCharacterProblem(text: string): string | undefined {
  const at = text.search(CONTROL_CHARACTERS);
  if (at < 0) return undefined;
  const code = text.charCodeAt(at).toString(16).toUpperCase().padStart(4, '0');
  return `contains the control character U+${code} at position ${at}; only printable text is allowed`;
}

/**
 * `text` with every control character written as a visible escape (`\x1b`, `\n`): what a terminal
 * may safely show of input that may hold them (error messages echo it, old records may hold it).
 */
export function escapeControlCharacters(text: string): string {
  return text.replace(
    CONTROL_CHARACTERS,
    (c) => NAMED_ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** Throws E_VALIDATION naming `field` when `text` holds a control character or terminal escape. */
export function assertPrintable(text: string, field: string): void {
  const problem = controlCharacterProblem(text);
  if (problem !== undefined) throw invalid(field, problem);
}

export function assertId(value: unknown, field = 'id'): asserts value is string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw invalid(field, `expected 1-63 characters of [a-z0-9-], got ${JSON.stringify(value)}`);
  }
}

function assertFiniteIn(value: unknown, field: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalid(field, `expected a number in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
}

function assertNonNegativeInt(value: unknown, field: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(field, `expected an integer >= 0, got ${JSON.stringify(value)}`);
  }
}

function assertState(value: unknown, field: string): asserts value is LifecycleState {
  if (!LIFECYCLE_STATES.includes(value as LifecycleState)) {
    throw invalid(field, `expected one of ${LIFECYCLE_STATES.join(', ')}, got ${JSON.stringify(value)}`);
  }
}

function assertAddresses(value: unknown, field: string, family: 4 | 6): asserts value is string[] {
  if (!Array.isArray(value)) throw invalid(field, 'expected a list of addresses');
  value.forEach((a, i) => {
    if (typeof a !== 'string' || ipFamily(a) !== family) {
      throw invalid(`${field}[${i}]`, `expected an IPv${family} address, got ${JSON.stringify(a)}`);
    }
  });
  if (new Set(value).size !== value.length) throw invalid(field, 'contains a duplicate address');
}

function assertLabels(value: unknown, field: string): asserts value is Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(field, 'expected an object of string labels');
  }
  for (const [k, v] of Object.entries(value)) {
    // The key is shown escaped: it is the offending input, and the message may reach a terminal.
    if (!LABEL_KEY.test(k))
      throw invalid(`${field}.${escapeControlCharacters(k)}`, 'label keys are 1-63 of [A-Za-z0-9_.-/]');
    if (typeof v !== 'string' || v.length > 253)
      throw invalid(`${field}.${k}`, 'expected a string of at most 253 characters');
    assertPrintable(v, `${field}.${k}`);
  }
}

function assertOptional(value: unknown, field: string, kind: 'country' | 'continent'): void {
  if (value === undefined || value === null) return;
  if (kind === 'country' && (typeof value !== 'string' || !COUNTRY.test(value))) {
    throw invalid(field, `expected an ISO 3166-1 alpha-2 code such as DE, got ${JSON.stringify(value)}`);
  }
  if (kind === 'continent' && !CONTINENTS.includes(value as (typeof CONTINENTS)[number])) {
    throw invalid(field, `expected one of ${CONTINENTS.join(' ')}, got ${JSON.stringify(value)}`);
  }
}

const REGION_KEYS = new Set([
  'id',
  'name',
  'lat',
  'lon',
  'country',
  'continent',
  'ipv4',
  'ipv6',
  'weight',
  'capacity',
  'state',
  'labels',
  'requireHealth',
]);

function rejectUnknownKeys(value: object, allowed: Set<string>): void {
  for (const key of Object.keys(value)) {
    if (!allowed.has(key)) throw invalid(escapeControlCharacters(key), 'unknown field');
  }
}

/** Validates the fields present in a region create or patch body. */
function checkRegionFields(body: Record<string, unknown>): void {
  if (body.name !== undefined && (typeof body.name !== 'string' || body.name.length > 200)) {
    throw invalid('name', 'expected a string of at most 200 characters');
  }
  if (typeof body.name === 'string') assertPrintable(body.name, 'name');
  if (body.lat !== undefined) assertFiniteIn(body.lat, 'lat', -90, 90);
  if (body.lon !== undefined) assertFiniteIn(body.lon, 'lon', -180, 180);
  assertOptional(body.country, 'country', 'country');
  assertOptional(body.continent, 'continent', 'continent');
  if (body.ipv4 !== undefined) assertAddresses(body.ipv4, 'ipv4', 4);
  if (body.ipv6 !== undefined) assertAddresses(body.ipv6, 'ipv6', 6);
  if (body.weight !== undefined) assertNonNegativeInt(body.weight, 'weight');
  if (body.capacity !== undefined && body.capacity !== null) {
    assertNonNegativeInt(body.capacity, 'capacity');
  }
  if (body.state !== undefined) assertState(body.state, 'state');
  if (body.labels !== undefined) assertLabels(body.labels, 'labels');
  if (body.requireHealth !== undefined && typeof body.requireHealth !== 'boolean') {
    throw invalid('requireHealth', 'expected true or false');
  }
}

export function validateRegionInput(body: unknown): RegionInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('body', 'expected a JSON object');
  const b = body as Record<string, unknown>;
  rejectUnknownKeys(b, REGION_KEYS);
  assertId(b.id);
  if (b.lat === undefined) throw invalid('lat', 'is required');
  if (b.lon === undefined) throw invalid('lon', 'is required');
  checkRegionFields(b);
  const v4 = (b.ipv4 as string[] | undefined) ?? [];
  const v6 = (b.ipv6 as string[] | undefined) ?? [];
  if (v4.length + v6.length === 0) throw invalid('ipv4', 'a region needs at least one IPv4 or IPv6 address');
  return b as unknown as RegionInput;
}

export function validateRegionPatch(body: unknown): RegionPatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('body', 'expected a JSON object');
  const b = body as Record<string, unknown>;
  rejectUnknownKeys(b, REGION_KEYS);
  if (b.id !== undefined) throw invalid('id', 'cannot be changed');
  checkRegionFields(b);
  return b;
}

/** After applying a patch, a region must still have an address. */
export function assertRegionHasAddress(ipv4: readonly string[], ipv6: readonly string[]): void {
  if (ipv4.length + ipv6.length === 0)
    throw invalid('ipv4', 'a region needs at least one IPv4 or IPv6 address');
}

const BACKEND_KEYS = new Set(['id', 'url', 'weight', 'state']);

function assertUrl(value: unknown): asserts value is string {
  if (typeof value !== 'string') throw invalid('url', 'expected an http or https URL');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid('url', `expected an http or https URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid('url', `expected an http or https URL, got scheme ${url.protocol.slice(0, -1)}`);
  }
  if (url.username !== '' || url.password !== '')
    throw invalid('url', 'credentials in the URL are not supported');
}

export function validateBackendInput(body: unknown): BackendInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('body', 'expected a JSON object');
  const b = body as Record<string, unknown>;
  rejectUnknownKeys(b, BACKEND_KEYS);
  if (b.id !== undefined) assertId(b.id);
  assertUrl(b.url);
  if (b.weight !== undefined) assertNonNegativeInt(b.weight, 'weight');
  if (b.state !== undefined) assertState(b.state, 'state');
  return b as unknown as BackendInput;
}

export function validateBackendPatch(body: unknown): BackendPatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('body', 'expected a JSON object');
  const b = body as Record<string, unknown>;
  rejectUnknownKeys(b, BACKEND_KEYS);
  if (b.id !== undefined) throw invalid('id', 'cannot be changed');
  if (b.url !== undefined) assertUrl(b.url);
  if (b.weight !== undefined) assertNonNegativeInt(b.weight, 'weight');
  if (b.state !== undefined) assertState(b.state, 'state');
  return b;
}

/** A backend id derived from its URL when the operator gives none: stable across nodes. */
export function backendIdFromUrl(url: string): string {
  const u = new URL(url);
  const port = u.port === '' ? (u.protocol === 'https:' ? '443' : '80') : u.port;
  return `${u.hostname}-${port}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
}
