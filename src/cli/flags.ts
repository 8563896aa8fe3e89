// Turns CLI flags into API bodies, validating BEFORE anything is sent. Messages name the flag
// (`--lat: expected a number in [-90, 90], got "91"`); the checks themselves are core/validate.ts's,
// with its field names mapped to flag names.
import { isMeridianError } from '../core/errors.js';
import { ipFamily, parseCidr } from '../core/ip.js';
import type { BackendInput, RegionInput, RegionPatch } from '../core/types.js';
import {
  assertId,
  validateBackendInput,
  validateRegionInput,
  validateRegionPatch,
} from '../core/validate.js';

/** A usage or validation error: the CLI prints it and exits 2 without contacting the API. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Raw region flags as commander hands them over (strings, so they are parsed strictly here). */
export interface RegionFlags {
  name?: string;
  lat?: string;
  lon?: string;
  ipv4?: string;
  ipv6?: string;
  weight?: string;
  capacity?: string;
  country?: string;
  continent?: string;
  label?: string[];
  requireHealth?: boolean;
}

const FIELD_TO_FLAG: Record<string, string> = {
  name: '--name',
  lat: '--lat',
  lon: '--lon',
  ipv4: '--ipv4',
  ipv6: '--ipv6',
  weight: '--weight',
  capacity: '--capacity',
  country: '--country',
  continent: '--continent',
  labels: '--label',
  requireHealth: '--require-health',
};

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const UNSIGNED_INT = /^\d{1,15}$/;

/** Rethrows a core/validate.ts error with the field replaced by the flag (or argument) name. */
export function withFlagNames<T>(fn: () => T, names: Record<string, string> = {}): T {
  try {
    return fn();
  } catch (err) {
    if (!isMeridianError(err) || err.code !== 'E_VALIDATION') throw err;
    const field = err.field ?? '';
    const head = /^[A-Za-z0-9]+/.exec(field)?.[0] ?? field;
    const flag = names[head] ?? FIELD_TO_FLAG[head] ?? head;
    let message = err.message.startsWith(`${field}: `) ? err.message.slice(field.length + 2) : err.message;
    if (head === 'labels' && field.startsWith('labels.'))
      message = `${field.slice('labels.'.length)}: ${message}`;
    if (message.includes('at least one IPv4 or IPv6 address')) {
      throw new UsageError(`--ipv4/--ipv6: a region needs at least one address (give --ipv4 and/or --ipv6)`);
    }
    throw new UsageError(`${flag}: ${message}`);
  }
}

export function parseNumberFlag(text: string, flag: string, min: number, max: number): number {
  const value = NUMBER.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new UsageError(`${flag}: expected a number in [${min}, ${max}], got ${JSON.stringify(text)}`);
  }
  return value;
}

export function parseIntFlag(text: string, flag: string): number {
  const value = UNSIGNED_INT.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value))
    throw new UsageError(`${flag}: expected an integer >= 0, got ${JSON.stringify(text)}`);
  return value;
}

/** `a,b , c` → ['a','b','c']; an empty string gives an empty list (clears the list on update). */
export function parseList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function parseLabels(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of values) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--label: expected key=value, got ${JSON.stringify(item)}`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** The fields the flags set, parsed but not yet validated as a whole. */
function regionFields(flags: RegionFlags, forUpdate: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (flags.name !== undefined) body.name = flags.name;
  if (flags.lat !== undefined) body.lat = parseNumberFlag(flags.lat, '--lat', -90, 90);
  if (flags.lon !== undefined) body.lon = parseNumberFlag(flags.lon, '--lon', -180, 180);
  if (flags.ipv4 !== undefined) body.ipv4 = parseList(flags.ipv4);
  if (flags.ipv6 !== undefined) body.ipv6 = parseList(flags.ipv6);
  if (flags.weight !== undefined) body.weight = parseIntFlag(flags.weight, '--weight');
  if (flags.capacity !== undefined) {
    if (flags.capacity.trim().toLowerCase() === 'none') {
      if (forUpdate) body.capacity = null;
    } else {
      body.capacity = parseIntFlag(flags.capacity, '--capacity');
    }
  }
  if (flags.country !== undefined)
    body.country = forUpdate && flags.country === '' ? null : flags.country.toUpperCase();
  if (flags.continent !== undefined) {
    body.continent = forUpdate && flags.continent === '' ? null : flags.continent.toUpperCase();
  }
  if (flags.label !== undefined && flags.label.length > 0) body.labels = parseLabels(flags.label);
  if (flags.requireHealth !== undefined) body.requireHealth = flags.requireHealth;
  return body;
}

export function regionInputFromFlags(id: string, flags: RegionFlags): RegionInput {
  withFlagNames(() => assertId(id), { id: 'ID' });
  if (flags.lat === undefined) throw new UsageError('--lat: required (the region latitude in [-90, 90])');
  if (flags.lon === undefined) throw new UsageError('--lon: required (the region longitude in [-180, 180])');
  const body = { id, ...regionFields(flags, false) };
  return withFlagNames(() => validateRegionInput(body), { id: 'ID' });
}

export function regionPatchFromFlags(id: string, flags: RegionFlags): RegionPatch {
  withFlagNames(() => assertId(id), { id: 'ID' });
  const body = regionFields(flags, true);
  if (Object.keys(body).length === 0) {
    throw new UsageError(
      'nothing to update: give at least one of --name, --lat, --lon, --ipv4, --ipv6, --weight, --capacity, --country, --continent, --label, --require-health',
    );
  }
  return withFlagNames(() => validateRegionPatch(body));
}

export function backendInputFromFlags(url: string, flags: { id?: string; weight?: string }): BackendInput {
  const body: Record<string, unknown> = { url };
  if (flags.id !== undefined) body.id = flags.id;
  if (flags.weight !== undefined) body.weight = parseIntFlag(flags.weight, '--weight');
  return withFlagNames(() => validateBackendInput(body), { id: '--id', url: 'URL' });
}

/** Checks a positional id argument (REGION, ID) before it becomes part of a URL path. */
export function checkIdArgument(value: string, argument: string): string {
  withFlagNames(() => assertId(value), { id: argument });
  return value;
}

export function checkApiUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--api: expected an http or https URL, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--api: expected an http or https URL, got ${JSON.stringify(text)}`);
  }
  return text.replace(/\/+$/, '');
}

export interface ExplainFlags {
  client?: string;
  ecs?: string;
  type?: string;
}

export function explainQueryFromFlags(name: string, flags: ExplainFlags): URLSearchParams {
  if (name === '' || name.length > 253 || /\s/.test(name)) {
    throw new UsageError(`NAME: expected a DNS name, got ${JSON.stringify(name)}`);
  }
  if (flags.client === undefined)
    throw new UsageError('--client: required (the resolver or client IP address)');
  if (ipFamily(flags.client) === undefined) {
    throw new UsageError(`--client: expected an IPv4 or IPv6 address, got ${JSON.stringify(flags.client)}`);
  }
  const params = new URLSearchParams({ name, client: flags.client, type: flags.type ?? 'A' });
  if (flags.ecs !== undefined) {
    if (parseCidr(flags.ecs) === undefined) {
      throw new UsageError(
        `--ecs: expected a CIDR such as 198.51.100.0/24 with the host bits zero, got ${JSON.stringify(flags.ecs)}`,
      );
    }
    params.set('ecs', flags.ecs);
  }
  return params;
}
