// The widest correct ECS scope for IPv4 clients (issue #13): a binary trie over the IPv4 space whose
// leaves are replies, with siblings that give the same reply merged (as gdnsd does at load time).
// For a client, the depth of its leaf is the shortest prefix under which every address gets the same
// reply — never wider than true, and maximal: the next wider prefix holds an address answered
// differently (or a leaf that cannot be widened, below).
//
// Built off the hot path, per (balanced name, query family), from the geo partition and the reply
// per geo record: the partition comes from the locator's public `lookupBytes` (its `prefixLength`
// already merges several geo files: an address missed by the first file is answered by the next, over
// the more specific of the two networks), so the trie reflects the fall-through between files.
// Leaves that cannot be widened — the reply depends on the client network (weighted band, address
// rotation) or an override CIDR contains the leaf — are "blocked": they never merge with a reply,
// and their clients keep the geo-network scope (scope.ts). A node that contains an override CIDR boundary is
// always split, so no widened scope straddles an override. IPv6 clients are not covered (their
// scope stays the geo network's): the IPv6 space would need a sparse walk this file does not do.
//
// The build runs in slices of a few milliseconds between queries (setImmediate), one /12 of the
// space at a time, and is dropped when the snapshot, the health verdicts or the geo data change
// mid-way. Bounded: nodes per table and tables per engine; a table that would be too big is not
// built and its clients keep today's scope.
import type { BalancedNameConfig } from '../../config/dns-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import type { GeoLocator, GeoResult } from '../geo/types.js';
import type { CidrRule } from './context.js';
import type { SteeredAnswer } from './types.js';

/** The top of the trie is built one /CHUNK_BITS subtree per unit of work. */
const CHUNK_BITS = 12;

/**
 * Leaf encoding in the child array: ~replyId (negative); reply id 0 = blocked (never widened; two
 * blocked siblings may share a leaf, which saves nodes: a blocked leaf answers no scope at all).
 */
const BLOCKED = ~0;

/** Whether two replies put the same records in the DNS answer (what a resolver would cache). */
function sameReply(a: SteeredAnswer, b: SteeredAnswer): boolean {
  if (a === b) return true;
  if (a.outcome !== b.outcome || a.ttl !== b.ttl || a.addresses.length !== b.addresses.length) return false;
  for (let i = 0; i < a.addresses.length; i++) if (a.addresses[i] !== b.addresses[i]) return false;
  return true;
}

const replyKey = (r: SteeredAnswer): string => `${r.outcome}|${r.ttl}|${r.addresses.join(',')}`;

/** A finished trie: read-only, looked up on the hot path. */
export class ScopeTable {
  constructor(
    /** Two entries per inner node: ≥ 0 an inner node, < 0 a leaf (~reply id). */
    private readonly children: Int32Array,
    private readonly root: number,
    /** Index = reply id; 0 (blocked) has none. */
    private readonly replies: readonly (SteeredAnswer | undefined)[],
  ) {}

  /**
   * The widest prefix around `address` (4 bytes) over which every address gets `reply`; undefined
   * when the address's leaf is blocked or holds another reply (then the caller keeps its scope).
   */
  widest(address: Uint8Array, reply: SteeredAnswer): number | undefined {
    if (address.length !== 4) return undefined;
    const value = ((address[0]! << 24) | (address[1]! << 16) | (address[2]! << 8) | address[3]!) >>> 0;
    const children = this.children;
    let node = this.root;
    let depth = 0;
    while (node >= 0) {
      node = children[node * 2 + ((value >>> (31 - depth)) & 1)]!;
      depth++;
    }
    const leafReply = this.replies[~node];
    return leafReply !== undefined && sameReply(leafReply, reply) ? depth : undefined;
  }

  /** Inner nodes (8 bytes each). */
  get nodes(): number {
    return this.children.length / 2;
  }
}

export interface ScopeTableSource {
  readonly locator: GeoLocator;
  /** IPv4 override rules. */
  readonly rules: readonly CidrRule[];
  /**
   * The reply for a client address (4 bytes, owned by the callee) whose geo record is the one the
   * build found there, or undefined when it depends on more than the record (network-dependent).
   */
  replyFor(address: Uint8Array): SteeredAnswer | undefined;
  /** Inner nodes allowed; a bigger trie is abandoned. */
  readonly maxNodes: number;
}

/** Builds one table in resumable units of work (a /12 each). */
export class ScopeTableBuilder {
  private readonly chunkRoots = new Int32Array(1 << CHUNK_BITS);
  private nextChunk = 0;
  private children = new Int32Array(1 << 16);
  private count = 0;
  private readonly replies: (SteeredAnswer | undefined)[] = [undefined];
  private readonly replyIds = new Map<string, number>();
  private readonly byRecord = new Map<number, number>();
  private readonly ruleNetworks: Uint32Array;
  private readonly rulePrefixes: Uint8Array;
  private readonly scratch = new Uint8Array(4);
  /** Why the build gave up (then no table is made). */
  failure: string | undefined;

  constructor(private readonly source: ScopeTableSource) {
    this.ruleNetworks = Uint32Array.from(source.rules, (r) => toUint32(r.cidr.bytes));
    this.rulePrefixes = Uint8Array.from(source.rules, (r) => r.cidr.prefix);
  }

  /** Works for about `budgetMs`; the table once done, else undefined (call again, or see `failure`). */
  step(budgetMs: number): ScopeTable | undefined {
    const until = performance.now() + budgetMs;
    const chunks = 1 << CHUNK_BITS;
    while (this.failure === undefined && this.nextChunk < chunks) {
      const chunk = this.nextChunk++;
      this.chunkRoots[chunk] = this.build((chunk << (32 - CHUNK_BITS)) >>> 0, CHUNK_BITS, undefined);
      if (performance.now() >= until) break;
    }
    if (this.failure !== undefined || this.nextChunk < chunks) return undefined;
    // Join the /12 subtrees up to the root, merging equal siblings on the way.
    let level: Int32Array = this.chunkRoots;
    while (level.length > 1) {
      const up = new Int32Array(level.length / 2);
      for (let i = 0; i < up.length; i++) up[i] = this.join(level[2 * i]!, level[2 * i + 1]!);
      level = up;
    }
    if (this.failure !== undefined) return undefined;
    return new ScopeTable(this.children.slice(0, this.count * 2), level[0]!, this.replies);
  }

  /** The subtree of `network`/`depth`; `geo`: the lookup of `network` when the caller has it. */
  private build(network: number, depth: number, geo: GeoResult | undefined): number {
    if (this.failure !== undefined) return BLOCKED;
    let split = false;
    for (let i = 0; i < this.rulePrefixes.length; i++) {
      const prefix = this.rulePrefixes[i]!;
      const rule = this.ruleNetworks[i]!;
      if (prefix > depth) {
        // The rule lies inside this node: its boundary is in here, split.
        if (samePrefix(network, rule, depth)) split = true;
      } else if (samePrefix(network, rule, prefix)) {
        return BLOCKED; // the rule covers the node: override answers are not widened
      }
    }
    if (geo === undefined) {
      const bytes = this.scratch;
      bytes[0] = network >>> 24;
      bytes[1] = (network >>> 16) & 255;
      bytes[2] = (network >>> 8) & 255;
      bytes[3] = network & 255;
      geo = this.source.locator.lookupBytes(bytes);
    }
    const geoPrefix = geo?.prefixLength ?? 0;
    if (!split && geoPrefix <= depth) return ~this.replyId(network, geo);
    if (depth >= 32) return BLOCKED;
    const left = this.build(network, depth + 1, geo);
    const right = this.build((network | (1 << (31 - depth))) >>> 0, depth + 1, undefined);
    return this.join(left, right);
  }

  /** A node over two subtrees, or the subtrees' common leaf when they give the same reply. */
  private join(left: number, right: number): number {
    if (left < 0 && left === right) return left;
    if (this.count >= this.source.maxNodes) {
      this.failure = `more than ${this.source.maxNodes} nodes`;
      return BLOCKED;
    }
    if (this.count * 2 + 2 > this.children.length) {
      const grown = new Int32Array(this.children.length * 2);
      grown.set(this.children);
      this.children = grown;
    }
    const node = this.count++;
    this.children[node * 2] = left;
    this.children[node * 2 + 1] = right;
    return node;
  }

  /** The reply id of a geo leaf (one decision per geo record; blocked when it is not the record's). */
  private replyId(network: number, geo: GeoResult | undefined): number {
    const record = geo === undefined ? -1 : geo.recordKey;
    if (record === undefined) {
      this.failure = 'the geo locator does not name its records';
      return 0;
    }
    let id = this.byRecord.get(record);
    if (id !== undefined) return id;
    const reply = this.source.replyFor(
      Uint8Array.of(network >>> 24, (network >>> 16) & 255, (network >>> 8) & 255, network & 255),
    );
    if (reply === undefined) id = 0;
    else {
      const key = replyKey(reply);
      id = this.replyIds.get(key);
      if (id === undefined) {
        id = this.replies.length;
        this.replies.push(reply);
        this.replyIds.set(key, id);
      }
    }
    this.byRecord.set(record, id);
    return id;
  }
}

function toUint32(bytes: Uint8Array): number {
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

/** Whether `a` and `b` share their first `bits` bits. */
function samePrefix(a: number, b: number, bits: number): boolean {
  return bits === 0 || (a ^ b) >>> (32 - bits) === 0;
}

type Name = DeepReadonly<BalancedNameConfig>;

export interface ScopeTablesOptions {
  /** Inner nodes per table (8 bytes each). */
  readonly maxNodes: number;
  /** Tables held at once (names × families); beyond, new names keep today's scope until a reset. */
  readonly maxTables: number;
  /** Milliseconds of work per slice of a background build. */
  readonly sliceMs: number;
}

interface Slot {
  table?: ScopeTable;
  building?: Promise<ScopeTable | undefined>;
}

/**
 * The tables of one engine, per (name, family), for one generation of state, health and geo data:
 * `reset` drops them and makes builds in progress discard their work.
 */
export class ScopeTables {
  private slots = new WeakMap<object, [Slot, Slot]>();
  private tables = 0;
  private epoch = 0;

  constructor(private readonly options: ScopeTablesOptions) {}

  /** The ready table for the name and family, if any (never waits). */
  get(name: Name, family: 4 | 6): ScopeTable | undefined {
    return this.slots.get(name)?.[family === 4 ? 0 : 1].table;
  }

  /**
   * Starts building the table unless it is ready or under way; resolves with it (undefined when it
   * was abandoned: too big, the data changed mid-way, or too many tables).
   */
  ensure(
    name: Name,
    family: 4 | 6,
    source: () => Omit<ScopeTableSource, 'maxNodes'>,
  ): Promise<ScopeTable | undefined> {
    let perName = this.slots.get(name);
    if (perName === undefined) {
      perName = [{}, {}];
      this.slots.set(name, perName);
    }
    const slot = perName[family === 4 ? 0 : 1];
    if (slot.table !== undefined) return Promise.resolve(slot.table);
    if (slot.building !== undefined) return slot.building;
    if (this.tables >= this.options.maxTables) return Promise.resolve(undefined);
    this.tables++;
    const epoch = this.epoch;
    const builder = new ScopeTableBuilder({ ...source(), maxNodes: this.options.maxNodes });
    slot.building = new Promise((resolve) => {
      const work = (): void => {
        if (this.epoch !== epoch) {
          resolve(undefined);
          return;
        }
        let table: ScopeTable | undefined;
        try {
          table = builder.step(this.options.sliceMs);
        } catch (err) {
          // A failed build only costs the wider scopes: its clients keep the geo network's.
          builder.failure = `build failed: ${String(err)}`;
        }
        // A decision made during the slice may itself have noticed a change of health.
        if (this.epoch !== epoch) resolve(undefined);
        else if (table !== undefined) {
          slot.table = table;
          resolve(table);
        } else if (builder.failure !== undefined) resolve(undefined);
        else setImmediate(work);
      };
      setImmediate(work);
    });
    return slot.building;
  }

  /** Drops every table (the snapshot, the health verdicts or the geo data changed). */
  reset(): void {
    this.slots = new WeakMap();
    this.tables = 0;
    this.epoch++;
  }
}
