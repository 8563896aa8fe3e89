// The ZoneStore contract and the logic both implementations share. Two implementations
// (memory/zone-store.ts, redis/zone-store.ts) pass one contract suite (test/storage/zone-store-contract.ts).
// A zone is stored exactly as the validated `ZoneConfig` of config/dns-schema.ts, so fields the
// schema gains are stored and replicated without this code knowing them. Every write bumps the SOA
// serial (zone-rules.ts `nextSerial`, never backwards). The DNS tier reads only `current()`.
import { canonicalName, inZone, ownerName } from '../core/dns-names.js';
import { MeridianError, conflict, invalid, notFound } from '../core/errors.js';
import type { DnssecKeyConfig, ZoneDnssecConfig } from '../config/dnssec-schema.js';
import {
  balancedNameSchema,
  staticRecordSchema,
  type BalancedNameConfig,
  type StaticRecordConfig,
  type ZoneConfig,
} from '../config/dns-schema.js';
import { checkValue, initialSerial, nextSerial, parseZone, schemaError } from '../config/zone-rules.js';
import { deepFreeze } from '../core/freeze.js';
import { keepRemovalsSafe, pruneRemovedKeys } from '../core/dnssec-rollover.js';

export type { ZoneConfig };

export type ZoneListener = (zones: readonly ZoneConfig[]) => void;

/** Turns the stored zone (a private, mutable copy) into the next one; the store validates the result. */
export type ZoneEdit = (zone: ZoneConfig) => ZoneConfig;

export interface ZoneStore {
  /** Loads the zones and follows changes. Resolves once `current()` is usable. */
  start(): Promise<void>;
  close(): Promise<void>;
  /** Every zone, sorted by name, deep-frozen. Synchronous, never touches the network. */
  current(): readonly ZoneConfig[];
  /** Called after every applied change (local or remote) with the new list. Returns an unsubscribe. */
  onChange(listener: ZoneListener): () => void;
  /** Throws E_NOT_FOUND. The name in any case, with or without the trailing dot. */
  get(name: string): ZoneConfig;

  // Writes: validated (E_VALIDATION naming the field), atomic, visible in this node's `current()`
  // when the promise resolves; every other node sees them within about a second.
  /** Creates a zone; E_CONFLICT when it exists. */
  create(input: unknown): Promise<ZoneConfig>;
  /** Applies `edit` to the stored zone, bumps its serial and writes it (compare-and-set); E_NOT_FOUND. */
  change(name: string, edit: ZoneEdit): Promise<ZoneConfig>;
  remove(name: string): Promise<void>;
  /**
   * Writes `zones` (all or nothing) only when this store has never held a zone — the YAML
   * `dns.zones` on a node's first start. Resolves with how many were written (0: the store wins).
   */
  seed(zones: readonly unknown[]): Promise<number>;
  /** Shared stores: whether the shared copy lost the zones this node keeps serving. */
  dataLost?(): boolean;
  /** Shared stores: writes this node's zones back after a loss (0 when nothing was lost). */
  reseed?(): Promise<number>;
}

/** An immutable list, sorted by name. */
export function freezeZones(zones: Iterable<ZoneConfig>): readonly ZoneConfig[] {
  const list = [...zones].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const z of list) deepFreeze(z);
  return Object.freeze(list);
}

/** A zone as the API and audit entries show it: its DNSSEC keys without their private halves. */
export type ZoneView = Omit<ZoneConfig, 'dnssec'> & {
  readonly dnssec?: Omit<ZoneDnssecConfig, 'keys'> & { readonly keys: Omit<DnssecKeyConfig, 'privateKey'>[] };
};

/**
 * The zone without its DNSSEC keys' (sealed) private halves: what API answers, exports and audit
 * entries show.
 */
export function zoneView(zone: ZoneConfig): ZoneView {
  const { dnssec, ...rest } = zone;
  if (dnssec === undefined) return rest;
  return { ...rest, dnssec: { ...dnssec, keys: dnssec.keys.map(({ privateKey: _private, ...key }) => key) } };
}

export function findZone(zones: readonly ZoneConfig[], name: string): ZoneConfig {
  const key = canonicalName(name);
  const found = zones.find((z) => z.name === key);
  if (found === undefined) throw notFound(`zone ${key}`);
  return found;
}

/** A new zone, validated; a date-scheme serial starts at today's YYYYMMDD00 at least. */
export function prepareCreate(input: unknown, existing: readonly ZoneConfig[], now: number): ZoneConfig {
  const zone = parseZone(input);
  if (existing.some((z) => z.name === zone.name)) throw conflict(`zone ${zone.name}`);
  const parent = existing.find((z) => inZone(zone.name, z.name) || inZone(z.name, zone.name));
  if (parent !== undefined)
    throw invalid('name', `${zone.name} overlaps zone ${parent.name}: delegate with NS records instead`);
  const serial = initialSerial(zone.soa.serial, zone.soa.serialScheme, now);
  return { ...zone, soa: { ...zone.soa, serial } };
}

/**
 * The zone after `edit`, validated, with its serial bumped past the stored one, its removed DNSSEC
 * keys pruned and pending key removals kept safe for its TTLs.
 */
export function prepareChange(current: ZoneConfig, edit: ZoneEdit, now: number): ZoneConfig {
  const edited = edit(structuredClone(current));
  const zone = parseZone(edited);
  if (zone.name !== current.name) throw invalid('name', 'a zone cannot be renamed');
  // An operator may move the serial forward by hand, never backwards.
  const serial = Math.max(zone.soa.serial, nextSerial(current.soa.serial, zone.soa.serialScheme, now));
  // DNSSEC keys past their removeAt (the end of a rollover) leave the stored block with this change;
  // a retiring key stays published as long as the zone's TTLs, perhaps raised by this change, need.
  const dnssec =
    zone.dnssec === undefined
      ? {}
      : {
          dnssec: {
            ...zone.dnssec,
            keys: keepRemovalsSafe(
              zone,
              { ...zone.dnssec, keys: pruneRemovedKeys(zone.dnssec.keys, now) },
              now,
            ),
          },
        };
  return { ...zone, ...dnssec, soa: { ...zone.soa, serial } };
}

/** Validates a seed batch as a whole before anything is written. */
export function validateSeed(entries: readonly unknown[], now: number): ZoneConfig[] {
  const out: ZoneConfig[] = [];
  entries.forEach((entry, i) => {
    try {
      out.push(prepareCreate(entry, out, now));
    } catch (err) {
      if (err instanceof MeridianError && err.field !== undefined) {
        throw invalid(`dns.zones[${i}].${err.field}`, err.message.replace(/^[^:]*: /, ''));
      }
      throw err;
    }
  });
  return out;
}

// ---- Edits: pure functions of a zone, shared by the API routes (and the CLI through them). ----

export interface RecordInput {
  readonly name: string;
  readonly type: StaticRecordConfig['type'];
  readonly values: readonly string[];
  readonly ttl?: number | undefined;
}

/** Parses a record body (`values` or a single `value`); throws E_VALIDATION naming the field. */
export function parseRecordInput(input: unknown): RecordInput {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw invalid('body', 'expected {"name", "type", "values" or "value", "ttl"?}');
  const raw = { ...(input as Record<string, unknown>) };
  if (raw.value !== undefined) {
    if (raw.values !== undefined) throw invalid('value', 'give value or values, not both');
    raw.values = [raw.value];
    delete raw.value;
  }
  const result = staticRecordSchema.safeParse(raw);
  if (!result.success) throw schemaError(result.error, '');
  const rec = result.data;
  rec.values.forEach((v, i) => checkValue(rec.type, v, `values[${i}]`));
  return rec;
}

function sameSet(zone: ZoneConfig, rec: StaticRecordConfig, owner: string, type: string): boolean {
  return rec.type === type && ownerName(rec.name, zone.name) === owner;
}

function checkPlacement(zone: ZoneConfig, owner: string, type: string): void {
  if (!inZone(owner, zone.name)) throw invalid('name', `${owner} is outside zone ${zone.name}`);
  const others = new Set(
    zone.records.filter((r) => ownerName(r.name, zone.name) === owner && r.type !== type).map((r) => r.type),
  );
  const balanced = zone.balanced.some((b) => ownerName(b.name, zone.name) === owner);
  if (type === 'CNAME' && (others.size > 0 || balanced))
    throw invalid(
      'type',
      `${owner}: a CNAME cannot coexist with other data (${[...others].join(', ') || 'a balanced name'})`,
    );
  if (type !== 'CNAME' && others.has('CNAME'))
    throw invalid('type', `${owner} has a CNAME, which cannot coexist with other data`);
  if ((type === 'A' || type === 'AAAA') && balanced)
    throw invalid('type', `${owner} is a balanced name: its A/AAAA come from steering`);
}

/** Adds values to the RRset (owner, type), creating it; a value already there is a duplicate. */
export function addRecord(zone: ZoneConfig, rec: RecordInput): ZoneConfig {
  const owner = ownerName(rec.name, zone.name);
  checkPlacement(zone, owner, rec.type);
  const existing = zone.records.filter((r) => sameSet(zone, r, owner, rec.type));
  const have = new Set(existing.flatMap((r) => r.values.map((v) => valueText(rec.type, v))));
  rec.values.forEach((v, i) => {
    if (have.has(valueText(rec.type, v)))
      throw invalid(`values[${i}]`, `duplicate: ${owner} ${rec.type} already has ${JSON.stringify(v)}`);
  });
  if (rec.type === 'CNAME' && existing.length + rec.values.length > 1)
    throw invalid('values', `${owner} can have only one CNAME`);
  const first = existing[0];
  if (first === undefined) {
    zone.records.push({
      name: owner === zone.name ? '@' : `${owner}.`,
      type: rec.type,
      values: [...rec.values],
      ...ttlOf(rec),
    });
  } else {
    first.values.push(...rec.values);
    if (rec.ttl !== undefined) first.ttl = rec.ttl;
  }
  return zone;
}

/** Replaces the RRset (owner, type) with these values and TTL; E_NOT_FOUND when it has none. */
export function replaceRecord(zone: ZoneConfig, rec: RecordInput): ZoneConfig {
  const owner = ownerName(rec.name, zone.name);
  if (!zone.records.some((r) => sameSet(zone, r, owner, rec.type))) throw notFound(`${owner} ${rec.type}`);
  if (rec.type === 'CNAME' && rec.values.length > 1)
    throw invalid('values', `${owner} can have only one CNAME`);
  const ttl = rec.ttl ?? zone.records.find((r) => sameSet(zone, r, owner, rec.type))?.ttl;
  zone.records = zone.records.filter((r) => !sameSet(zone, r, owner, rec.type));
  zone.records.push({
    name: owner === zone.name ? '@' : `${owner}.`,
    type: rec.type,
    values: [...rec.values],
    ...(ttl === undefined ? {} : { ttl }),
  });
  return zone;
}

/** Removes one value, or the whole RRset without `value`; E_NOT_FOUND when nothing matched. */
export function removeRecord(
  zone: ZoneConfig,
  name: string,
  type: string,
  value: string | undefined,
): ZoneConfig {
  const owner = ownerName(name, zone.name);
  let removed = 0;
  const kept: StaticRecordConfig[] = [];
  for (const r of zone.records) {
    if (!sameSet(zone, r, owner, type)) {
      kept.push(r);
      continue;
    }
    if (value === undefined) {
      removed += r.values.length;
      continue;
    }
    const want = valueText(r.type, value);
    const values = r.values.filter((v) => valueText(r.type, v) !== want);
    removed += r.values.length - values.length;
    if (values.length > 0) kept.push({ ...r, values });
  }
  if (removed === 0)
    throw notFound(value === undefined ? `${owner} ${type}` : `${owner} ${type} ${JSON.stringify(value)}`);
  zone.records = kept;
  return zone;
}

/** Parses a balanced-name body; throws E_VALIDATION naming the field. */
export function parseBalancedInput(input: unknown): BalancedNameConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw invalid('body', 'expected a balanced name object');
  const result = balancedNameSchema.safeParse(input);
  if (!result.success) throw schemaError(result.error, '');
  return result.data;
}

function balancedIndex(zone: ZoneConfig, owner: string): number {
  return zone.balanced.findIndex((b) => ownerName(b.name, zone.name) === owner);
}

export function addBalanced(zone: ZoneConfig, input: unknown): ZoneConfig {
  const bc = parseBalancedInput(input);
  const owner = ownerName(bc.name, zone.name);
  if (!inZone(owner, zone.name)) throw invalid('name', `${owner} is outside zone ${zone.name}`);
  if (balancedIndex(zone, owner) >= 0) throw conflict(`balanced name ${owner}`);
  const beside = zone.records.filter((r) => ownerName(r.name, zone.name) === owner).map((r) => r.type);
  if (beside.includes('CNAME'))
    throw invalid('name', `${owner} has a CNAME, which cannot coexist with other data`);
  if (beside.includes('A') || beside.includes('AAAA'))
    throw invalid('name', `${owner} has static A/AAAA records: remove them before balancing the name`);
  zone.balanced.push(bc);
  return zone;
}

/** Merges top-level fields into the balanced name; its `name` cannot change. */
export function updateBalanced(zone: ZoneConfig, name: string, patch: unknown): ZoneConfig {
  const owner = ownerName(name, zone.name);
  const at = balancedIndex(zone, owner);
  if (at < 0) throw notFound(`balanced name ${owner}`);
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch))
    throw invalid('body', 'expected a JSON object');
  const p = patch as Record<string, unknown>;
  const current = zone.balanced[at]!;
  if (p.name !== undefined && (typeof p.name !== 'string' || ownerName(p.name, zone.name) !== owner))
    throw invalid('name', 'cannot be changed (remove and add the name)');
  zone.balanced[at] = parseBalancedInput({ ...current, ...p, name: current.name });
  return zone;
}

export function removeBalanced(zone: ZoneConfig, name: string): ZoneConfig {
  const owner = ownerName(name, zone.name);
  const at = balancedIndex(zone, owner);
  if (at < 0) throw notFound(`balanced name ${owner}`);
  zone.balanced.splice(at, 1);
  return zone;
}

function ttlOf(rec: RecordInput): { ttl?: number } {
  return rec.ttl === undefined ? {} : { ttl: rec.ttl };
}

/** A value's comparable spelling (spacing and case of names do not make a new value). */
function valueText(type: string, value: string): string {
  return type === 'TXT' ? value : value.trim().replace(/\s+/g, ' ').toLowerCase().replace(/\.$/, '');
}

/** Calls each listener, isolating failures so one bad listener cannot break the others. */
export function notifyZones(
  listeners: Iterable<ZoneListener>,
  zones: readonly ZoneConfig[],
  onError: (err: unknown) => void,
): void {
  for (const l of listeners) {
    try {
      l(zones);
    } catch (err) {
      onError(err);
    }
  }
}
