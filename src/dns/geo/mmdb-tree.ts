// The MaxMind DB search tree, walked from address bytes over the database buffer: no text, no
// parsing, no allocation. This is the hot half of a geo lookup; `maxmind` (its Reader) still opens,
// validates and decodes the file. The layout (MaxMind DB spec, "Search Tree Section"): nodeCount
// nodes of two records (24, 28 or 32 bits each); a record < nodeCount is the next node,
// == nodeCount means "no data", > nodeCount points into the data section. IPv4 addresses in an
// IPv6 tree live under ::/96, so their walk starts at the node 96 left-steps down from the root
// (the same start node and depth counting as maxmind's Reader, which tests compare against).
import type { Reader, Response } from 'maxmind';

type Metadata = Reader<Response>['metadata'];

/** Bits of the address resolved by one table lookup before the walk. */
const JUMP_BITS = 16;
const JUMP_SLOTS = 1 << JUMP_BITS;

interface Jump {
  readonly nodes: Int32Array;
  readonly depths: Uint8Array;
}

/** Returned by `find` when the address's network has no data. */
export const NO_RECORD = -1;

export class SearchTree {
  private readonly nodeCount: number;
  private readonly recordSize: number;
  private readonly nodeByteSize: number;
  private readonly searchTreeSize: number;
  private readonly ipv4Start: number;
  /**
   * The walk's first 16 steps, done once: for each value of an address's first two bytes, the node
   * (or record) reached and the depth the walk stopped at (16, or less where a network is wider).
   * IPv4 from the ::/96 node, IPv6 from the root; 320 KB per family, and a lookup then walks only
   * the bits past the first 16 (GeoLite2 City IPv4: about 8 steps instead of 24).
   */
  private readonly jump4: Jump;
  private readonly jump6: Jump | undefined;
  /** Prefix length of the network found by the last `find` (in the address's own family). */
  depth = 0;

  constructor(
    private readonly db: Buffer,
    metadata: Metadata,
  ) {
    this.nodeCount = metadata.nodeCount;
    this.recordSize = metadata.recordSize;
    this.nodeByteSize = metadata.nodeByteSize;
    this.searchTreeSize = metadata.searchTreeSize;
    let start = 0;
    if (metadata.ipVersion === 6) {
      for (let i = 0; i < 96 && start < this.nodeCount; i++) start = this.left(start * this.nodeByteSize);
    }
    this.ipv4Start = start;
    this.jump4 = this.jumpFrom(start);
    this.jump6 = metadata.ipVersion === 6 ? this.jumpFrom(0) : undefined;
  }

  private jumpFrom(start: number): Jump {
    const nodes = new Int32Array(JUMP_SLOTS);
    const depths = new Uint8Array(JUMP_SLOTS);
    const nodeCount = this.nodeCount;
    for (let prefix = 0; prefix < JUMP_SLOTS; prefix++) {
      let node = start;
      let depth = 0;
      for (; depth < JUMP_BITS && node < nodeCount; depth++) {
        const bit = (prefix >> (JUMP_BITS - 1 - depth)) & 1;
        const offset = node * this.nodeByteSize;
        node = bit === 0 ? this.left(offset) : this.right(offset);
      }
      nodes[prefix] = node;
      depths[prefix] = depth;
    }
    return { nodes, depths };
  }

  /**
   * The file offset of the data record for `address` (4 or 16 bytes), or NO_RECORD; `depth` is
   * set to the prefix length of the network the walk ended in, found or not.
   */
  find(address: Uint8Array): number {
    const nodeCount = this.nodeCount;
    const bits = address.length * 8;
    const jump = address.length === 4 ? this.jump4 : this.jump6;
    let node: number;
    let depth: number;
    if (jump !== undefined && bits >= JUMP_BITS) {
      const prefix = (address[0]! << 8) | address[1]!;
      node = jump.nodes[prefix]!;
      depth = jump.depths[prefix]!;
    } else {
      node = address.length === 4 ? this.ipv4Start : 0;
      depth = 0;
    }
    for (; depth < bits && node < nodeCount; depth++) {
      const bit = (address[depth >> 3]! >> (7 - (depth & 7))) & 1;
      const offset = node * this.nodeByteSize;
      node = bit === 0 ? this.left(offset) : this.right(offset);
    }
    this.depth = depth;
    if (node <= nodeCount) return NO_RECORD;
    // The data section starts 16 bytes (the separator) after the tree; a record value counts from
    // nodeCount + 16 there (spec: $offset = $record - $node_count + $search_tree_size).
    return node - nodeCount + this.searchTreeSize;
  }

  /**
   * Calls `fn` for every IPv4 network of the tree that holds data, in address order: the network
   * as a 32-bit number, its prefix length and its data offset (as `find` gives it). Off the query
   * path: for benchmarks and for building tables from the whole database.
   */
  forEachIPv4Network(fn: (network: number, prefix: number, offset: number) => void): void {
    const visit = (node: number, depth: number, network: number): void => {
      if (node > this.nodeCount) {
        fn(network >>> 0, depth, node - this.nodeCount + this.searchTreeSize);
        return;
      }
      if (node === this.nodeCount || depth === 32) return;
      const offset = node * this.nodeByteSize;
      visit(this.left(offset), depth + 1, network);
      visit(this.right(offset), depth + 1, (network | (1 << (31 - depth))) >>> 0);
    };
    visit(this.ipv4Start, 0, 0);
  }

  /**
   * A resumable depth-first walk of the whole tree from its root, off the query path: each `step`
   * visits up to `budget` nodes and calls `onData` with the data offset of every network it
   * reaches (an offset comes again for every network that shares its record); it returns false
   * once the walk is over. A node is visited once, so subtrees the tree aliases (IPv4 under
   * ::ffff:0:0/96 and 2002::/16 in MaxMind's IPv6 files) are walked once.
   */
  dataWalk(): { step(budget: number, onData: (offset: number) => void): boolean } {
    const nodeCount = this.nodeCount;
    const seen = new Uint32Array(Math.ceil(nodeCount / 32));
    const stack: number[] = [0];
    return {
      step: (budget, onData) => {
        for (let visited = 0; visited < budget; visited++) {
          const node = stack.pop();
          if (node === undefined) return false;
          if (node > nodeCount) {
            onData(node - nodeCount + this.searchTreeSize);
            continue;
          }
          if (node === nodeCount) continue;
          const word = node >>> 5;
          const bit = 1 << (node & 31);
          if ((seen[word]! & bit) !== 0) continue;
          seen[word] = seen[word]! | bit;
          const offset = node * this.nodeByteSize;
          stack.push(this.right(offset), this.left(offset));
        }
        return stack.length > 0;
      },
    };
  }

  private left(offset: number): number {
    const db = this.db;
    switch (this.recordSize) {
      case 24:
        return (db[offset]! << 16) | (db[offset + 1]! << 8) | db[offset + 2]!;
      case 28:
        return (
          ((db[offset + 3]! & 0xf0) << 20) | (db[offset]! << 16) | (db[offset + 1]! << 8) | db[offset + 2]!
        );
      default:
        return db.readUInt32BE(offset);
    }
  }

  private right(offset: number): number {
    const db = this.db;
    switch (this.recordSize) {
      case 24:
        return (db[offset + 3]! << 16) | (db[offset + 4]! << 8) | db[offset + 5]!;
      case 28:
        return (
          ((db[offset + 3]! & 0x0f) << 24) |
          (db[offset + 4]! << 16) |
          (db[offset + 5]! << 8) |
          db[offset + 6]!
        );
      default:
        return db.readUInt32BE(offset + 4);
    }
  }
}
