// The three regions every DNS benchmark serves (bench-dns-server.ts, bench-dns-path.ts) and the
// gdnsd peer is configured with (gen-gdnsd-peer.ts): one list, so the peers answer alike.
export const BENCH_REGIONS = [
  {
    id: 'eu',
    name: 'Frankfurt',
    lat: 50.11,
    lon: 8.68,
    ipv4: ['192.0.2.10', '192.0.2.11'],
    ipv6: ['2001:db8:10::1'],
  },
  { id: 'us', name: 'Ashburn', lat: 39.04, lon: -77.49, ipv4: ['198.51.100.10'], ipv6: ['2001:db8:20::1'] },
  { id: 'ap', name: 'Singapore', lat: 1.35, lon: 103.82, ipv4: ['203.0.113.10'], ipv6: [] as string[] },
];
