// The answer cache: encoded replies for repeated query shapes, served with the new query's ID and
// QNAME bytes (its original case) patched in. An entry is valid while the steering engine's
// generation is unchanged. Entries are found by a 30-bit hash of the key and confirmed byte for
// byte, so no key string is built per query; an admission filter caches a reply only when its key
// was missed before, so a stream of names asked once (a scan, random subdomains) does not churn the
// cache and promote thousands of entries into the old heap.
import type { Transport } from '../metrics.js';
import type { AddressBytes } from '../wire/address.js';

/** An encoded reply for one query shape. */
export interface CachedAnswer {
  /** The key bytes (see `AnswerCache.key`). */
  readonly key: Buffer;
  readonly reply: Buffer;
  readonly rcode: number;
  readonly generation: number;
  readonly truncated: boolean;
  /** For the answers metric: the first region answered and the client country, when steered. */
  readonly region: string | undefined;
  readonly country: string | undefined;
}

export type CacheableAnswer = Omit<CachedAnswer, 'key'>;

/** A rough per-entry cost beyond the key and reply bytes: the entry object, two Buffers, the map slot. */
const ENTRY_OVERHEAD = 300;

export class AnswerCache {
  /** Hash of the key (30 bits) → entry. */
  private entries = new Map<number, CachedAnswer>();
  /** Bytes held by the entries' keys and replies, plus a fixed estimate per entry. */
  private bytes = 0;
  private hitCount = 0;
  /** Scratch space for building keys. */
  private readonly keyScratch = Buffer.allocUnsafe(65_535 + 64);
  private keyLength = 0;
  /** Admission filter: a hash of each recently missed key, by its low 16 bits. */
  private readonly seenOnce = new Uint32Array(65_536);

  /**
   * `size`: entries held at most; `maxBytes`: bytes of keys and replies held at most (the map is
   * dropped whole when either is reached: simple, and the hot shapes come back at once).
   */
  constructor(
    private readonly size: number,
    private readonly maxBytes = 8 * 1024 * 1024,
  ) {}

  get enabled(): boolean {
    return this.size > 0;
  }

  /**
   * Builds the key for this query and returns its hash: transport, the client address bytes when no
   * ECS address decides, then the message from its flags on with the QNAME's ASCII letters lower-cased
   * (names match case-insensitively; every other byte — flags, type, class, EDNS options — must
   * match exactly).
   */
  key(
    msg: Buffer,
    qnameLength: number,
    ecsDecides: boolean,
    client: AddressBytes,
    transport: Transport,
  ): number {
    const k = this.keyScratch;
    k[0] = transport === 'udp' ? 0x75 : 0x74;
    // The client's length first, so its bytes and the message's can never run into each other.
    const clientLength = ecsDecides ? 0 : client.length;
    k[1] = clientLength;
    if (clientLength > 0) k.set(client, 2);
    let p = 2 + clientLength;
    const bodyStart = p;
    p += msg.copy(k, p, 2);
    const nameStart = bodyStart + 10;
    const nameEnd = nameStart + qnameLength;
    for (let i = nameStart; i < nameEnd; i++) {
      const c = k[i] as number;
      if (c >= 0x41 && c <= 0x5a) k[i] = c | 0x20;
    }
    this.keyLength = p;
    // FNV-1a; | 1 so that 0 marks an empty admission-filter slot.
    let h = 0x811c9dc5;
    for (let i = 0; i < p; i++) h = Math.imul(h ^ (k[i] as number), 0x01000193);
    return (h | 1) >>> 0;
  }

  /**
   * The entry for the key built last (by `key`), if held and still valid: `generation` is asked only
   * when an entry is found (it is cheap, but not free).
   */
  get(hash: number, generation: () => number): CachedAnswer | undefined {
    const hit = this.entries.get(hash >>> 2);
    if (hit === undefined || hit.generation !== generation() || !this.sameKey(hit.key)) return undefined;
    this.hitCount++;
    return hit;
  }

  /** Whether the key with this hash was missed before (then its reply is worth caching). */
  admit(hash: number): boolean {
    const slot = hash & 0xffff;
    if (this.seenOnce[slot] === hash) return true;
    this.seenOnce[slot] = hash;
    return false;
  }

  /** Stores a reply under the key built last (no other key may have been built since). */
  set(hash: number, entry: CacheableAnswer): void {
    const cost = ENTRY_OVERHEAD + this.keyLength + entry.reply.length;
    if (this.entries.size >= this.size || this.bytes + cost > this.maxBytes) {
      this.entries = new Map();
      this.bytes = 0;
    }
    const previous = this.entries.get(hash >>> 2);
    if (previous !== undefined) this.bytes -= ENTRY_OVERHEAD + previous.key.length + previous.reply.length;
    this.entries.set(hash >>> 2, { key: Buffer.from(this.keyScratch.subarray(0, this.keyLength)), ...entry });
    this.bytes += cost;
  }

  stats(): { hits: number; entries: number } {
    return { hits: this.hitCount, entries: this.entries.size };
  }

  /** Bytes held now (keys, replies and the per-entry estimate). */
  heldBytes(): number {
    return this.bytes;
  }

  private sameKey(key: Buffer): boolean {
    return key.length === this.keyLength && key.compare(this.keyScratch, 0, this.keyLength) === 0;
  }
}

/** A cached reply for a new query: its ID and its QNAME bytes (original case) copied in. */
export function patchCached(cached: Buffer, msg: Buffer, qnameLength: number): Buffer {
  const out = Buffer.allocUnsafe(cached.length);
  cached.copy(out);
  out[0] = msg[0]!;
  out[1] = msg[1]!;
  msg.copy(out, 12, 12, 12 + qnameLength);
  return out;
}
