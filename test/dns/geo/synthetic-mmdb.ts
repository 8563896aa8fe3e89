// A minimal MaxMind DB writer for tests that need many random networks (the Perl writer behind
// geo-data/test-city.mmdb is not installed everywhere, and a fixed file cannot be randomised): an
// IPv4 tree (ip_version 4, 32-bit records) over flat @ip-location-db style records
// (`country_code`, `latitude`, `longitude`), which the locator reads. Follows the MaxMind DB spec:
// search tree, 16 zero bytes, data section, metadata marker, metadata map.

export interface SyntheticRecord {
  readonly country: string;
  readonly lat: number;
  readonly lon: number;
}

export interface SyntheticNetwork {
  /** First address as a 32-bit number. */
  readonly network: number;
  readonly prefix: number;
  readonly record: SyntheticRecord;
}

function control(type: number, size: number): number[] {
  if (size >= 29) throw new Error(`synthetic mmdb: size ${size} too large for this writer`);
  return type <= 7 ? [(type << 5) | size] : [size, type - 7];
}

function encodeString(text: string): number[] {
  const bytes = [...Buffer.from(text, 'utf8')];
  return [...control(2, bytes.length), ...bytes];
}

function encodeDouble(value: number): number[] {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(value);
  return [...control(3, 8), ...b];
}

/** Unsigned integer of `type` (5 uint16, 6 uint32, 9 uint64) in as few bytes as it needs. */
function encodeUint(type: number, value: number): number[] {
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return [...control(type, bytes.length), ...bytes];
}

function encodeMap(entries: [string, number[]][]): number[] {
  return [...control(7, entries.length), ...entries.flatMap(([k, v]) => [...encodeString(k), ...v])];
}

/** The database image for non-overlapping `networks`. Throws if two overlap. */
export function writeSyntheticMmdb(networks: readonly SyntheticNetwork[]): Buffer {
  // Data section: one entry per distinct record object.
  const data: number[] = [];
  const offsets = new Map<SyntheticRecord, number>();
  for (const { record } of networks) {
    if (offsets.has(record)) continue;
    offsets.set(record, data.length);
    data.push(
      ...encodeMap([
        ['country_code', encodeString(record.country)],
        ['latitude', encodeDouble(record.lat)],
        ['longitude', encodeDouble(record.lon)],
      ]),
    );
  }
  // Tree: node → [left, right], each a node index, 'empty', or a data offset.
  type Child = { node: number } | { data: number } | 'empty';
  const nodes: [Child, Child][] = [['empty', 'empty']];
  for (const { network, prefix, record } of networks) {
    if (prefix < 1 || prefix > 32) throw new Error(`synthetic mmdb: prefix /${prefix} not in 1..32`);
    let node = 0;
    for (let depth = 0; depth < prefix; depth++) {
      const bit = (network >>> (31 - depth)) & 1;
      const pair = nodes[node]!;
      const child = pair[bit]!;
      if (depth === prefix - 1) {
        if (child !== 'empty') throw new Error('synthetic mmdb: overlapping networks');
        pair[bit] = { data: offsets.get(record)! };
        break;
      }
      if (child === 'empty') {
        nodes.push(['empty', 'empty']);
        pair[bit] = { node: nodes.length - 1 };
        node = nodes.length - 1;
      } else if ('node' in child) node = child.node;
      else throw new Error('synthetic mmdb: overlapping networks');
    }
  }
  const nodeCount = nodes.length;
  const tree = Buffer.alloc(nodeCount * 8);
  const value = (c: Child): number =>
    c === 'empty' ? nodeCount : 'node' in c ? c.node : nodeCount + 16 + c.data;
  nodes.forEach(([l, r], i) => {
    tree.writeUInt32BE(value(l), i * 8);
    tree.writeUInt32BE(value(r), i * 8 + 4);
  });
  const metadata = encodeMap([
    ['binary_format_major_version', encodeUint(5, 2)],
    ['binary_format_minor_version', encodeUint(5, 0)],
    ['build_epoch', encodeUint(9, 1_767_225_600)],
    ['database_type', encodeString('Meridian-Synthetic')],
    ['description', encodeMap([])],
    ['ip_version', encodeUint(5, 4)],
    ['languages', control(11, 0)],
    ['node_count', encodeUint(6, nodeCount)],
    ['record_size', encodeUint(5, 32)],
  ]);
  return Buffer.concat([
    tree,
    Buffer.alloc(16),
    Buffer.from(data),
    Buffer.from('abcdef4d61784d696e642e636f6d', 'hex'),
    Buffer.from(metadata),
  ]);
}
