// RRSIGs made for answered RRsets, kept for the next answer of the same RRset. Compiled RRsets
// (static records, the apex SOA/NS, the negative SOA, the DNSKEY RRset of a key state) are found by
// object identity; RRsets built per query (steered addresses, wildcard-renamed records, NSEC proofs)
// by a hash of (owner, type, TTL, RDATA) confirmed field by field — steered answers come from a few
// region address sets, so these hit almost always, with no key string built per query.
//
// An entry is served until its refresh instant: RFC-wise a signature is good until its expiration,
// but it is made afresh once less than `refreshDays` (plus a per-entry random jitter of up to 10 % of
// the validity) is left, so that cached replies downstream never hold a nearly expired signature and
// refreshes of entries made together spread out. An entry made by a key that no longer signs is a
// miss. Bounded in entries and bytes: the oldest entries go first (a refreshed entry counts as new).
import type { ZoneDnssecConfig } from '../../config/dnssec-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import type { RdataPart, Rr } from '../wire/encoder.js';

/** A rough cost per entry beyond the signature's bytes: the entry, its record, the map slot. */
const ENTRY_OVERHEAD = 200;
const DAY_SECONDS = 86_400;
/** The share of the validity the refresh instant is moved earlier by, at most. */
const JITTER_SHARE = 0.1;
/** A signature is never planned to be refreshed sooner than this after it was made. */
const MIN_LIFETIME_MS = 60_000;

export interface SignatureWindow {
  /** RRSIG inception and expiration, seconds since the epoch. */
  readonly inception: number;
  readonly expiration: number;
  /** When a cached signature made now is made afresh (ms). */
  readonly refreshAt: number;
}

interface Entry {
  readonly rrsig: Rr;
  /** The signing key it was made with (any other key: a miss). */
  readonly key: object;
  readonly refreshAt: number;
  readonly bytes: number;
  /** For hashed entries: what the hash stands for, compared on a hit. */
  readonly owner?: string;
  readonly type?: number;
  readonly ttl?: number;
  readonly rrs?: readonly Rr[];
}

export interface SignatureCacheOptions {
  /** Entries held at most. Default 100,000. */
  readonly maxEntries?: number;
  /** Bytes held at most (signatures and a per-entry estimate). Default 32 MiB. */
  readonly maxBytes?: number;
  /** [0, 1) — the jitter's source (tests inject one). */
  readonly random?: () => number;
}

export class SignatureCache {
  private readonly entries = new Map<object | number, Entry>();
  private bytes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly random: () => number;
  hits = 0;
  misses = 0;

  constructor(options: SignatureCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.maxBytes = options.maxBytes ?? 32 * 1024 * 1024;
    this.random = options.random ?? Math.random;
  }

  /** The validity of a signature made at `nowMs` under a zone's settings, with this entry's jitter. */
  window(nowMs: number, settings: DeepReadonly<ZoneDnssecConfig>): SignatureWindow {
    const validity = settings.signatureValidityDays * DAY_SECONDS;
    const inception = Math.floor(nowMs / 1000) - settings.inceptionOffsetSeconds;
    const expiration = inception + validity;
    const jitter = this.random() * JITTER_SHARE * validity;
    const refreshAt = (expiration - settings.refreshDays * DAY_SECONDS - jitter) * 1000;
    return { inception, expiration, refreshAt: Math.max(Math.floor(refreshAt), nowMs + MIN_LIFETIME_MS) };
  }

  /** The RRSIG held for a compiled RRset (`identity`: an object that stands for exactly that RRset). */
  getByIdentity(identity: object, key: object, nowMs: number): Rr | undefined {
    return this.found(this.entries.get(identity), key, nowMs);
  }

  setByIdentity(identity: object, key: object, rrsig: Rr, refreshAt: number): void {
    this.store(identity, { rrsig, key, refreshAt, bytes: entryBytes(rrsig) });
  }

  /** The RRSIG held for an RRset built per query. */
  getByContent(
    owner: string,
    type: number,
    ttl: number,
    rrs: readonly Rr[],
    key: object,
    nowMs: number,
  ): Rr | undefined {
    const hash = contentHash(owner, type, ttl, rrs);
    const entry = this.entries.get(hash);
    if (
      entry !== undefined &&
      !(entry.owner === owner && entry.type === type && entry.ttl === ttl && sameRdata(entry.rrs!, rrs))
    ) {
      this.misses++;
      return undefined;
    }
    return this.found(entry, key, nowMs);
  }

  setByContent(
    owner: string,
    type: number,
    ttl: number,
    rrs: readonly Rr[],
    key: object,
    rrsig: Rr,
    refreshAt: number,
  ): void {
    const hash = contentHash(owner, type, ttl, rrs);
    this.store(hash, {
      rrsig,
      key,
      refreshAt,
      bytes: entryBytes(rrsig) + 64 * rrs.length,
      owner,
      type,
      ttl,
      rrs: rrs.slice(),
    });
  }

  get size(): number {
    return this.entries.size;
  }

  get heldBytes(): number {
    return this.bytes;
  }

  private found(entry: Entry | undefined, key: object, nowMs: number): Rr | undefined {
    if (entry === undefined || entry.key !== key || nowMs >= entry.refreshAt) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    return entry.rrsig;
  }

  private store(k: object | number, entry: Entry): void {
    const previous = this.entries.get(k);
    if (previous !== undefined) {
      this.entries.delete(k);
      this.bytes -= previous.bytes;
    }
    this.entries.set(k, entry);
    this.bytes += entry.bytes;
    // Oldest first: Map iteration follows insertion, and a re-stored entry moved to the end.
    for (const [oldest, old] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= old.bytes;
    }
  }
}

function entryBytes(rrsig: Rr): number {
  let n = ENTRY_OVERHEAD + rrsig.owner.length;
  for (const part of rrsig.rdata) n += Buffer.isBuffer(part) ? part.length : part.name.length;
  return n;
}

/** FNV-1a over the RRset's fields; names by their characters (no string is built). */
function contentHash(owner: string, type: number, ttl: number, rrs: readonly Rr[]): number {
  let h = 0x811c9dc5;
  h = hashString(h, owner);
  h = Math.imul(h ^ type, 0x01000193);
  h = Math.imul(h ^ (ttl | 0), 0x01000193);
  for (const rr of rrs) {
    for (const part of rr.rdata) {
      if (Buffer.isBuffer(part))
        for (let i = 0; i < part.length; i++) h = Math.imul(h ^ part[i]!, 0x01000193);
      else h = hashString(Math.imul(h ^ 0x2f, 0x01000193), part.name);
    }
    h = Math.imul(h ^ 0x1e, 0x01000193);
  }
  return h >>> 0;
}

function hashString(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

function samePart(a: RdataPart, b: RdataPart): boolean {
  if (Buffer.isBuffer(a)) return Buffer.isBuffer(b) && (a === b || a.equals(b));
  return !Buffer.isBuffer(b) && a.name === b.name;
}

function sameRdata(a: readonly Rr[], b: readonly Rr[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!.rdata;
    const y = b[i]!.rdata;
    if (x.length !== y.length) return false;
    for (let j = 0; j < x.length; j++) if (!samePart(x[j]!, y[j]!)) return false;
  }
  return true;
}
