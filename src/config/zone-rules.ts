// What makes a zone valid beyond its schema (dns-schema.ts): records inside the zone, values that
// parse for their type (MX and SRV targets host names, CAA per RFC 8659), no duplicate values, a
// CNAME alone at its name, balanced names not beside static A/AAAA. Used by the zone store before
// any write (API, CLI, the YAML seed), so a bad zone is refused with the offending field named and
// nothing stored. Also the SOA serial's increment. Pure.
import type { ZodError } from 'zod';
import { canonicalName, inZone, isHostName, ownerName } from '../core/dns-names.js';
import { invalid } from '../core/errors.js';
import { ipToBytes } from '../core/ip.js';
import { zoneSchema, type StaticRecordConfig, type ZoneConfig } from './dns-schema.js';

function pathText(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`;
  return out === '' ? 'body' : out;
}

/** A zod failure as E_VALIDATION naming the first bad field (and listing every problem). */
export function schemaError(error: ZodError, prefix: string): Error {
  const first = error.issues[0];
  const firstPath =
    first?.code === 'unrecognized_keys' ? [...first.path, first.keys[0] ?? ''] : (first?.path ?? []);
  const field = pathText(prefix, firstPath);
  const message = error.issues
    .map((issue) => {
      const where = pathText(prefix, issue.path);
      if (issue.code === 'unrecognized_keys') return `${where}: unknown field(s) ${issue.keys.join(', ')}`;
      return `${where}: ${issue.message.replace(/^Invalid input: /, '')}`;
    })
    .join('; ');
  return invalid(field, message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message);
}

const CAA_TAGS_WITH_DOMAIN = new Set(['issue', 'issuewild', 'issuemail']);

/** The value of a CAA record, unquoted; throws naming `field` when the syntax is wrong (RFC 8659). */
function checkCaa(value: string, field: string): void {
  const m = /^(\d{1,3})\s+([A-Za-z0-9]+)\s+(.*)$/.exec(value.trim());
  if (m === null) throw invalid(field, `expected "FLAGS TAG VALUE", got ${JSON.stringify(value)}`);
  if (Number(m[1]) > 255) throw invalid(field, `CAA flags ${m[1]} is over 255`);
  const tag = m[2]!;
  if (tag.length > 15) throw invalid(field, `CAA tag ${tag} is longer than 15 characters`);
  const quoted = /^"(.*)"$/.exec(m[3]!);
  const text = quoted === null ? m[3]! : quoted[1]!;
  if (quoted === null && /[\s"]/.test(text))
    throw invalid(field, `CAA value ${JSON.stringify(text)} must be quoted when it has spaces`);
  const lowerTag = tag.toLowerCase();
  if (CAA_TAGS_WITH_DOMAIN.has(lowerTag)) {
    const domain = text.split(';')[0]!.trim();
    if (domain !== '' && !isHostName(domain))
      throw invalid(field, `CAA ${lowerTag} expects an issuer domain name, got ${JSON.stringify(domain)}`);
  } else if (lowerTag === 'iodef' && !/^(mailto:|https?:\/\/)\S+$/.test(text)) {
    throw invalid(field, `CAA iodef expects a mailto: or http(s):// URL, got ${JSON.stringify(text)}`);
  }
}

function checkTarget(target: string, what: string, field: string): void {
  if (target === '.') return;
  if (ipToBytes(target) !== undefined || !isHostName(target))
    throw invalid(field, `${what} must be a host name, got ${JSON.stringify(target)}`);
}

const DNS_NAME =
  /^(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$|^@$/;

/** Checks one value of a static record for its type; throws naming `field`. */
export function checkValue(type: StaticRecordConfig['type'], value: string, field: string): void {
  switch (type) {
    case 'A':
    case 'AAAA': {
      const bytes = ipToBytes(value);
      if (bytes === undefined || bytes.length !== (type === 'A' ? 4 : 16))
        throw invalid(field, `expected an IPv${type === 'A' ? 4 : 6} address, got ${JSON.stringify(value)}`);
      return;
    }
    case 'CNAME':
    case 'NS':
    case 'PTR':
      if (!DNS_NAME.test(value) || value.length > 253)
        throw invalid(field, `expected a DNS name, got ${JSON.stringify(value)}`);
      if (type === 'NS') checkTarget(value, 'an NS target', field);
      return;
    case 'MX': {
      const m = /^(\d{1,5})\s+(\S+)$/.exec(value.trim());
      if (m === null || Number(m[1]) > 65535)
        throw invalid(field, `expected "PRIORITY HOST" (priority 0-65535), got ${JSON.stringify(value)}`);
      checkTarget(m[2]!, 'an MX target', field);
      return;
    }
    case 'SRV': {
      const m = /^(\d{1,5})\s+(\d{1,5})\s+(\d{1,5})\s+(\S+)$/.exec(value.trim());
      if (m === null || [m[1], m[2], m[3]].some((x) => Number(x) > 65535))
        throw invalid(
          field,
          `expected "PRIORITY WEIGHT PORT TARGET" (each 0-65535), got ${JSON.stringify(value)}`,
        );
      checkTarget(m[4]!, 'an SRV target', field);
      return;
    }
    case 'CAA':
      checkCaa(value, field);
      return;
    case 'TXT':
      return;
  }
}

/** A value's comparable form: the same address or name written two ways is a duplicate. */
function valueKey(type: StaticRecordConfig['type'], value: string, zone: string): string {
  if (type === 'A' || type === 'AAAA') return Buffer.from(ipToBytes(value) ?? []).toString('hex');
  if (type === 'CNAME' || type === 'NS' || type === 'PTR') return ownerName(value, zone);
  if (type === 'TXT') return value;
  return value.trim().replace(/\s+/g, ' ').toLowerCase();
}

/**
 * Every rule of a whole zone; throws E_VALIDATION naming the first bad field under `prefix`
 * (`records[3].values[0]`, `balanced[1].name`, …).
 */
export function checkZone(zone: ZoneConfig, prefix = ''): void {
  const f = (path: string): string => (prefix === '' ? path : `${prefix}.${path}`);
  const zname = canonicalName(zone.name);
  const types = new Map<string, Set<string>>();
  const seen = new Map<string, string>();
  zone.records.forEach((rec, ri) => {
    const owner = ownerName(rec.name, zname);
    if (!inZone(owner, zname)) throw invalid(f(`records[${ri}].name`), `${owner} is outside zone ${zname}`);
    if (owner === zname && (rec.type === 'NS' || rec.type === 'CNAME'))
      throw invalid(
        f(`records[${ri}].type`),
        `${rec.type} at the zone apex: apex NS are the zone's ns list; a CNAME cannot be at the apex`,
      );
    rec.values.forEach((value, vi) => {
      const field = f(`records[${ri}].values[${vi}]`);
      checkValue(rec.type, value, field);
      const key = `${owner}/${rec.type}/${valueKey(rec.type, value, zname)}`;
      const first = seen.get(key);
      if (first !== undefined)
        throw invalid(
          field,
          `duplicate ${rec.type} value ${JSON.stringify(value)} at ${owner} (also ${first})`,
        );
      seen.set(key, field);
    });
    let set = types.get(owner);
    if (set === undefined) types.set(owner, (set = new Set()));
    set.add(rec.type);
    if (rec.type === 'CNAME') {
      const count = zone.records
        .filter((r) => r.type === 'CNAME' && ownerName(r.name, zname) === owner)
        .reduce((n, r) => n + r.values.length, 0);
      if (count > 1) throw invalid(f(`records[${ri}].values`), `${owner} has more than one CNAME`);
    }
    if (set.has('CNAME') && set.size > 1)
      throw invalid(
        f(`records[${ri}].type`),
        `${owner}: a CNAME cannot coexist with other data (${[...set].filter((t) => t !== 'CNAME').join(', ')})`,
      );
  });
  const balanced = new Set<string>();
  zone.balanced.forEach((bc, bi) => {
    const owner = ownerName(bc.name, zname);
    if (!inZone(owner, zname)) throw invalid(f(`balanced[${bi}].name`), `${owner} is outside zone ${zname}`);
    if (balanced.has(owner)) throw invalid(f(`balanced[${bi}].name`), `${owner} is balanced twice`);
    balanced.add(owner);
    const set = types.get(owner);
    if (set?.has('CNAME') === true)
      throw invalid(f(`balanced[${bi}].name`), `${owner}: a CNAME cannot coexist with a balanced name`);
    if (set?.has('A') === true || set?.has('AAAA') === true)
      throw invalid(
        f(`balanced[${bi}].name`),
        `${owner}: a balanced name cannot also have static A/AAAA records`,
      );
    if ((bc.policy === 'failover' || bc.policy === 'fixed') && bc.regions.length === 0)
      throw invalid(f(`balanced[${bi}].regions`), `policy ${bc.policy} needs the regions in order`);
    for (const id of Object.keys(bc.weights)) {
      if (bc.regions.length > 0 && !bc.regions.includes(id))
        throw invalid(f(`balanced[${bi}].weights.${id}`), `region ${id} is not in the name's regions`);
    }
  });
}

/**
 * Parses and checks a whole zone (the schema's defaults filled, the name in canonical form).
 * Throws E_VALIDATION naming the first bad field under `prefix`.
 */
export function parseZone(input: unknown, prefix = ''): ZoneConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw invalid(prefix === '' ? 'body' : prefix, 'expected a zone object');
  const result = zoneSchema.safeParse(input);
  if (!result.success) throw schemaError(result.error, prefix);
  const zone = { ...result.data, name: canonicalName(result.data.name) };
  if (zone.name === '' || zone.name === '@')
    throw invalid(prefix === '' ? 'name' : `${prefix}.name`, 'expected a zone name such as example.com');
  checkZone(zone, prefix);
  return zone;
}

/** YYYYMMDD00 for the UTC day of `now`. */
function dateSerial(now: number): number {
  const d = new Date(now);
  return (d.getUTCFullYear() * 10000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate()) * 100;
}

/** The serial a new zone starts with: a `date` scheme starts at today's YYYYMMDD00 at least. */
export function initialSerial(serial: number, scheme: 'date' | 'counter', now: number): number {
  return scheme === 'date' ? Math.max(serial, dateSerial(now)) : serial;
}

/**
 * The serial after a change: `counter` adds one; `date` takes today's YYYYMMDD00 or, when the
 * serial is already there or beyond, adds one. Never goes backwards; wraps only past 2^32 - 1
 * (RFC 1982), which a date serial reaches in the year 42949.
 */
export function nextSerial(serial: number, scheme: 'date' | 'counter', now: number): number {
  const next = scheme === 'date' ? Math.max(serial + 1, dateSerial(now)) : serial + 1;
  return next > 0xffffffff ? next - 0x100000000 : next;
}
