// Cluster mode with thread workers (`dns.workerKind: thread`, the default) end to end: two worker
// threads of this process answer UDP and TCP on their own SO_REUSEPORT sockets;
// state changes in the primary's store reach both within 1 s; metrics aggregate over the threads;
// the primary's explain unit and both threads share one mapping of the geo file. Without the UDP
// addon (udpBatching off) the node runs process workers instead.
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { answerData, dig } from '../helpers/dig.js';
import { assertAnswersUdpAndTcp, startFixture, testDnsConfig, type Fixture } from './fixture.js';
import { waitFor } from '../helpers/wait.js';

void describe('cluster mode (2 thread workers)', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture({ config: testDnsConfig({ workers: 2 }) });
  });
  after(async () => {
    await f?.close();
  });

  void it('answers over UDP and TCP on both addresses', async () => {
    assert.equal(f.dns.clustered, true);
    const transports = f.dns.addresses().map((a) => `${a.transport} ${a.host}`);
    assert.deepEqual(transports.sort(), ['tcp 127.0.0.1', 'tcp ::1', 'udp 127.0.0.1', 'udp ::1']);
    await assertAnswersUdpAndTcp(f);
  });

  void it('has a TCP listener of its own in each thread on both addresses', () => {
    for (const [table, port] of [
      ['/proc/net/tcp', f.v4.port],
      ['/proc/net/tcp6', f.v6.port],
    ] as const) {
      const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
      // Columns: sl, local address:port (hex), remote, state (0A = LISTEN), ...
      const listeners = readFileSync(table, 'latin1')
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((cols) => cols[1]?.endsWith(`:${hexPort}`) === true && cols[3] === '0A');
      assert.equal(listeners.length, 2, `${table}: ${listeners.map((c) => c[1]).join(' ')}`);
    }
  });

  void it('maps the geo file once for the primary and both threads', () => {
    const maps = readFileSync('/proc/self/maps', 'latin1')
      .split('\n')
      .filter((line) => /meridian-geo-.*test-city\.mmdb/.test(line));
    assert.equal(maps.length, 1, maps.join('\n'));
  });

  void it('sees a new region within 1 s in every worker', async () => {
    const paris = async (): Promise<string[]> =>
      answerData(await dig(f.v4, ['+norec', '+subnet=192.0.2.128/25', 'www.example.test', 'A']), 'A');
    assert.deepEqual(await paris(), ['192.0.2.10'], 'Paris clients go to Frankfurt first');
    await f.store.createRegion({ id: 'fr', name: 'Paris', lat: 48.86, lon: 2.35, ipv4: ['192.0.2.200'] });
    await waitFor(
      'Paris to be answered by the new region fr',
      async () => (await paris())[0] === '192.0.2.200',
      { timeoutMs: 1000, intervalMs: 50 },
    );
    // Queries are spread over both threads' sockets at random: all of them must know it by now.
    for (let i = 0; i < 12; i++) assert.deepEqual(await paris(), ['192.0.2.200']);
  });

  void it('aggregates metrics over the threads', async () => {
    const text = await f.dns.dnsMetrics();
    const m = /meridian_dns_queries_total\{qtype="A",rcode="NOERROR",transport="udp"\} (\d+)/.exec(text);
    assert.ok(m !== null, 'aggregated query counter present');
    assert.ok(Number(m[1]) >= 14);
    assert.match(text, /meridian_dns_queries_total\{qtype="SOA",rcode="NOERROR",transport="tcp"\} 2/);
    assert.doesNotMatch(await f.registry.metrics(), /meridian_dns_queries_total/);
  });
});

void describe('thread workers without the UDP addon', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture({
      config: testDnsConfig({ workers: 2, workerKind: 'thread', udpBatching: false }),
    });
  });
  after(async () => {
    await f?.close();
  });

  void it('runs process workers instead (node:dgram sockets can only be shared between processes)', async () => {
    assert.equal(Object.values(cluster.workers ?? {}).length, 2);
    const r = await dig(f.v4, ['+norec', '+subnet=198.51.100.0/24', 'www.example.test', 'A']);
    assert.deepEqual(answerData(r, 'A'), ['198.51.100.10']);
  });
});
