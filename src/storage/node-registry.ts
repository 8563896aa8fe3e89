// The NodeRegistry contract: which Meridian nodes exist (DNS, proxy, both), what they serve and
// whether they are alive. Each node announces itself at start and then every heartbeat; an
// announcement carries the whole record, so a store that lost it (Redis restarted, flushed) has it
// back at the next heartbeat. An entry whose heartbeat lapsed is `lost` until it is forgotten.
// Two implementations (memory/node-registry.ts, redis/node-registry.ts) pass one contract suite
// (test/storage/node-registry-contract.ts). Nothing here is on a DNS or proxy hot path.
//
// Same id, two processes: every process announces with its own random `instance`. Announcing an
// id whose entry is alive under another instance is refused (E_CONFLICT); once that entry's
// heartbeat lapsed, or its node deregistered on a clean shutdown, the id is free again.
import { MeridianError, invalid } from '../core/errors.js';

export type NodeRole = 'dns' | 'proxy' | 'api';
export const NODE_ROLES: readonly NodeRole[] = ['dns', 'proxy', 'api'];

/** What a node says about itself. */
export interface NodeRecord {
  /** `nodeId` of its configuration (default hostname:pid). */
  readonly id: string;
  /** Random per process: tells a restart of the same node from a second process using its id. */
  readonly instance: string;
  readonly roles: readonly NodeRole[];
  /** The region its proxy serves (proxy nodes only). */
  readonly region?: string;
  /** Where it listens, e.g. `dns udp 0.0.0.0:53`, `proxy http 10.0.0.5:8080`, `api http://…`. */
  readonly addresses: readonly string[];
  readonly version: string;
  /** RFC 3339. */
  readonly startedAt: string;
  /** SHA-256 (hex) of its effective configuration: nodes that differ stand out. */
  readonly configHash: string;
}

export interface NodeEntry extends NodeRecord {
  /** Last heartbeat, ms epoch (the store's clock: Redis's for the shared store). */
  readonly lastSeen: number;
  /** When the heartbeat lapses, ms epoch. */
  readonly expiresAt: number;
}

export interface NodeListing {
  /** The store's clock when it was read (ms epoch): compare `expiresAt` with it, not with a local clock. */
  readonly now: number;
  readonly nodes: readonly NodeEntry[];
}

export interface AnnounceOptions {
  /** How long the announcement keeps the node `up`. */
  readonly ttlMs: number;
  /** Entries lost for longer than this are removed from the registry by this announcement. */
  readonly forgetAfterMs: number;
}

export interface NodeRegistry {
  readonly kind: 'memory' | 'redis';
  start(): Promise<void>;
  close(): Promise<void>;
  /**
   * Registers or refreshes `record` until `ttlMs` from now. E_CONFLICT (naming the other instance)
   * when the id is alive under another instance; E_VALIDATION for a malformed record;
   * E_UNAVAILABLE when the store cannot be reached.
   */
  announce(record: NodeRecord, options: AnnounceOptions): Promise<NodeEntry>;
  /** Removes the entry if it is still this instance's; false otherwise. */
  deregister(id: string, instance: string): Promise<boolean>;
  /** Every entry, sorted by id. */
  list(): Promise<NodeListing>;
}

export type NodeState = 'up' | 'lost';

export function nodeState(entry: Pick<NodeEntry, 'expiresAt'>, now: number): NodeState {
  return now < entry.expiresAt ? 'up' : 'lost';
}

/** The message of the E_CONFLICT an announcement gets when another process holds the id. */
export function duplicateNode(existing: NodeEntry, now: number): MeridianError {
  const seconds = Math.max(0, Math.ceil((existing.expiresAt - now) / 1000));
  return new MeridianError(
    'E_CONFLICT',
    `node id ${JSON.stringify(existing.id)} is already in use by a running node (instance ${existing.instance}, ` +
      `started ${existing.startedAt}, last heartbeat ${Math.max(0, Math.round((now - existing.lastSeen) / 1000))} s ago); ` +
      `give this node another nodeId, or stop the other one (its entry lapses within ${seconds} s)`,
  );
}

const ID_MAX = 100;
const TEXT_MAX = 300;

function text(value: unknown, field: string, max = TEXT_MAX): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max)
    throw invalid(field, `expected a string of 1-${max} characters`);
  return value;
}

/** Checks a record before it is stored (both backends); returns a plain copy. */
export function validateNodeRecord(value: unknown): NodeRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid('node', 'expected an object');
  const r = value as Record<string, unknown>;
  const roles = r.roles;
  if (!Array.isArray(roles) || roles.some((x) => !(NODE_ROLES as readonly unknown[]).includes(x)))
    throw invalid('roles', `expected a list of ${NODE_ROLES.join(', ')}`);
  const addresses = r.addresses;
  if (!Array.isArray(addresses) || addresses.length > 50)
    throw invalid('addresses', 'expected a list of at most 50 strings');
  return {
    id: text(r.id, 'id', ID_MAX),
    instance: text(r.instance, 'instance', 64),
    roles: [...new Set(roles as NodeRole[])],
    ...(r.region === undefined ? {} : { region: text(r.region, 'region', 63) }),
    addresses: addresses.map((a, i) => text(a, `addresses[${i}]`)),
    version: text(r.version, 'version', 64),
    startedAt: text(r.startedAt, 'startedAt', 40),
    configHash: text(r.configHash, 'configHash', 128),
  };
}

/** Parses a stored entry; undefined for an unreadable one (skipped, never fatal). */
export function parseNodeEntry(json: string): NodeEntry | undefined {
  try {
    const x = JSON.parse(json) as Record<string, unknown>;
    const record = validateNodeRecord(x);
    if (typeof x.lastSeen !== 'number' || typeof x.expiresAt !== 'number') return undefined;
    return { ...record, lastSeen: x.lastSeen, expiresAt: x.expiresAt };
  } catch {
    return undefined;
  }
}

export function checkAnnounceOptions(options: AnnounceOptions): void {
  if (!Number.isFinite(options.ttlMs) || options.ttlMs <= 0)
    throw invalid('ttlMs', 'expected a positive number');
  if (!Number.isFinite(options.forgetAfterMs) || options.forgetAfterMs < 0)
    throw invalid('forgetAfterMs', 'expected a number >= 0');
}
