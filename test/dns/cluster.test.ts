// Cluster mode with process workers (`dns.workerKind: process`) end to end: two node:cluster workers
// answer on the shared sockets, state changes in the primary's store reach them within 1 s, metrics
// aggregate over the workers. Thread workers (the default): cluster-threads.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { answerData, dig } from '../helpers/dig.js';
import { assertAnswersUdpAndTcp, startFixture, testDnsConfig, type Fixture } from './fixture.js';
import { waitFor } from '../helpers/wait.js';
import { assertWorkersRunWith } from '../helpers/cluster-workers.js';

void describe('cluster mode (2 process workers)', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture({ config: testDnsConfig({ workers: 2, workerKind: 'process' }) });
  });
  after(async () => {
    await f?.close();
  });

  void it('answers over UDP and TCP on both addresses', async () => {
    assert.equal(f.dns.clustered, true);
    await assertAnswersUdpAndTcp(f);
  });

  void it('runs the workers with a 4 MB young-generation semi-space (the V8 flag on their command line)', () => {
    assertWorkersRunWith('--max-semi-space-size=4', 2);
  });

  void it('sees a new region within 1 s in every worker', async () => {
    const paris = async (): Promise<string[]> =>
      answerData(await dig(f.v4, ['+norec', '+subnet=192.0.2.128/25', 'www.example.test', 'A']), 'A');
    assert.deepEqual(await paris(), ['192.0.2.10'], 'Paris clients go to Frankfurt first');
    await f.store.createRegion({ id: 'fr', name: 'Paris', lat: 48.86, lon: 2.35, ipv4: ['192.0.2.200'] });
    const t0 = Date.now();
    await waitFor(
      'Paris to be answered by the new region fr',
      async () => (await paris())[0] === '192.0.2.200',
      { timeoutMs: 1000, intervalMs: 50 },
    );
    assert.ok(Date.now() - t0 <= 1200);
    // Queries are spread over both workers by the shared socket: all of them must know it by now.
    for (let i = 0; i < 12; i++) assert.deepEqual(await paris(), ['192.0.2.200']);
  });

  void it('explains in the primary and aggregates metrics over the workers', async () => {
    const r = f.dns.explain({
      name: 'www.example.test',
      client: '127.0.0.1',
      ecs: '203.0.113.0/24',
      type: 'A',
    });
    assert.deepEqual(r.decision.regions, ['ap']);
    const text = await f.dns.dnsMetrics();
    const m = /meridian_dns_queries_total\{qtype="A",rcode="NOERROR",transport="udp"\} (\d+)/.exec(text);
    assert.ok(m !== null, 'aggregated query counter present');
    assert.ok(Number(m[1]) >= 14);
    assert.match(text, /meridian_dns_snapshot_age_seconds \d/);
    assert.doesNotMatch(await f.registry.metrics(), /meridian_dns_queries_total/);
  });
});
