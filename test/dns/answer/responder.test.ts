// End-to-end behaviour of the authoritative responder, checked with the real dig over UDP and TCP
// on 127.0.0.1 and ::1.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { answerData, dig } from '../../helpers/dig.js';
import { BIG_TXT, healthReport, startFixture, type Fixture } from '../fixture.js';
import { waitFor } from '../../helpers/wait.js';

const EU4 = ['192.0.2.10'];
const US4 = ['198.51.100.10'];
const AP4 = ['203.0.113.10'];

void describe('authoritative DNS responder (dig, single process)', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture();
  });
  after(async () => {
    await f?.close();
  });

  void it('listens on UDP and TCP on 127.0.0.1 and ::1 with real ports', () => {
    const a = f.dns.addresses();
    assert.equal(a.length, 4);
    for (const x of a) assert.ok(x.port > 0);
    assert.deepEqual(a.map((x) => `${x.transport}/${x.host}`).sort(), [
      'tcp/127.0.0.1',
      'tcp/::1',
      'udp/127.0.0.1',
      'udp/::1',
    ]);
  });

  void it('answers the apex SOA and NS with AA, glue in ADDITIONAL, RA clear', async () => {
    const soa = await dig(f.v4, ['+norec', 'example.test', 'SOA']);
    assert.equal(soa.status, 'NOERROR');
    assert.ok(soa.flags.includes('aa'));
    assert.ok(!soa.flags.includes('ra'));
    assert.equal(soa.answer.length, 1);
    assert.match(soa.answer[0]!.data, /^ns1\.example\.test\. hostmaster\.example\.test\. 2026112101 /);
    assert.equal(soa.answer[0]!.ttl, 3600);

    const ns = await dig(f.v6, ['+norec', 'example.test', 'NS']);
    assert.equal(ns.status, 'NOERROR');
    assert.ok(ns.flags.includes('aa'));
    assert.deepEqual(answerData(ns, 'NS'), ['ns1.example.test.', 'ns2.example.test.']);
    const glue = ns.additional.map((r) => `${r.name} ${r.type} ${r.data}`).sort();
    assert.deepEqual(glue, [
      'ns1.example.test. A 192.0.2.53',
      'ns1.example.test. AAAA 2001:db8::53',
      'ns2.example.test. A 198.51.100.53',
    ]);
  });

  void it('steers A by ECS to the nearest region and echoes ECS with the widest scope of that answer', async () => {
    // Until the name's widest-scope table is built (in the background, on first use) the scope is
    // the geo network's (/24 here); then the widest network answered the same.
    const apScope = async (): Promise<number | undefined> =>
      (await dig(f.v4, ['+norec', '+subnet=203.0.113.0/24', 'www.example.test', 'A'])).ecs?.scope;
    await waitFor('the widest-scope table built', async () => (await apScope()) === 5, { timeoutMs: 5000 });
    const cases: [string, string[], number][] = [
      // The test DB splits 192.0.2.0/24 into two /25s (Frankfurt, Paris): both answered by eu.
      ['192.0.2.0/24', EU4, 24],
      ['198.51.100.0/24', US4, 24],
      // 200.0.0.0/5 holds only Singapore and unlocated clients: all answered by ap (default order).
      ['203.0.113.0/24', AP4, 5],
    ];
    for (const [subnet, want, scope] of cases) {
      const r = await dig(f.v4, ['+norec', `+subnet=${subnet}`, 'www.example.test', 'A']);
      assert.equal(r.status, 'NOERROR', subnet);
      assert.ok(r.flags.includes('aa'));
      assert.deepEqual(answerData(r, 'A'), want, subnet);
      assert.equal(r.answer[0]!.ttl, 30);
      assert.deepEqual(
        r.ecs,
        { address: subnet.split('/')[0], source: Number(subnet.split('/')[1]), scope },
        subnet,
      );
    }
  });

  void it('steers AAAA, skipping a v4-only region, and accepts IPv6 ECS', async () => {
    const eu = await dig(f.v6, ['+norec', '+subnet=2001:db8:1::/48', 'www.example.test', 'AAAA']);
    assert.deepEqual(answerData(eu, 'AAAA'), ['2001:db8:10::1']);
    assert.equal(eu.ecs?.source, 48);
    assert.equal(eu.ecs?.scope, 48);
    const us = await dig(f.v6, ['+norec', '+subnet=2001:db8:2::/48', 'www.example.test', 'AAAA']);
    assert.deepEqual(answerData(us, 'AAAA'), ['2001:db8:20::1']);
    // Singapore's region has no IPv6: AAAA comes from another region, A from Singapore.
    const sgA = await dig(f.v6, ['+norec', '+subnet=2001:db8:3::/48', 'www.example.test', 'A']);
    assert.deepEqual(answerData(sgA, 'A'), AP4);
    const sg6 = await dig(f.v6, ['+norec', '+subnet=2001:db8:3::/48', 'www.example.test', 'AAAA']);
    assert.equal(sg6.status, 'NOERROR');
    assert.equal(sg6.answer.length, 1);
    assert.ok(['2001:db8:10::1', '2001:db8:20::1'].includes(sg6.answer[0]!.data));
  });

  void it('adds no ECS when the query had none, scope 0 for static and negative answers, /0 uses the source', async () => {
    const plain = await dig(f.v4, ['+norec', 'www.example.test', 'A']);
    assert.equal(plain.status, 'NOERROR');
    assert.equal(plain.ecs, undefined);
    assert.ok(plain.edns !== undefined);
    assert.equal(plain.edns.udp, 1232);
    const stat = await dig(f.v4, ['+norec', '+subnet=192.0.2.0/24', 'mail.example.test', 'A']);
    assert.deepEqual(stat.ecs, { address: '192.0.2.0', source: 24, scope: 0 });
    const neg = await dig(f.v4, ['+norec', '+subnet=192.0.2.0/24', 'nope.example.test', 'A']);
    assert.equal(neg.status, 'NXDOMAIN');
    assert.equal(neg.ecs?.scope, 0);
    const zero = await dig(f.v4, ['+norec', '+subnet=0.0.0.0/0', 'www.example.test', 'A']);
    assert.equal(zero.status, 'NOERROR');
    assert.equal(zero.answer.length, 1);
    assert.deepEqual(zero.ecs, { address: '0.0.0.0', source: 0, scope: 0 });
    const noedns = await dig(f.v4, ['+norec', '+noedns', 'www.example.test', 'A']);
    assert.equal(noedns.edns, undefined);
  });

  void it('answers NXDOMAIN and NODATA with the SOA and the negative TTL min(ttl, minimum)', async () => {
    const nx = await dig(f.v4, ['+norec', 'missing.example.test', 'A']);
    assert.equal(nx.status, 'NXDOMAIN');
    assert.ok(nx.flags.includes('aa'));
    assert.equal(nx.authority.length, 1);
    assert.equal(nx.authority[0]!.type, 'SOA');
    assert.equal(nx.authority[0]!.ttl, 300);
    for (const [name, type] of [
      ['www.example.test', 'TXT'],
      ['mail.example.test', 'AAAA'],
      ['ent.deep.example.test', 'A'], // empty non-terminal
      ['deep.example.test', 'A'],
      ['www.example.test', 'TYPE666'], // unknown qtype
    ] as const) {
      const r = await dig(f.v4, ['+norec', name, type]);
      assert.equal(r.status, 'NOERROR', `${name} ${type}`);
      assert.ok(r.flags.includes('aa'));
      assert.equal(r.answer.length, 0, `${name} ${type}`);
      assert.equal(r.authority[0]?.type, 'SOA', `${name} ${type}`);
      assert.equal(r.authority[0]?.ttl, 300);
    }
  });

  void it('refuses names outside its zones, and zone transfers', async () => {
    const r = await dig(f.v4, ['+norec', 'www.example.org', 'A']);
    assert.equal(r.status, 'REFUSED');
    assert.ok(!r.flags.includes('aa'));
    const axfr = await dig(f.v4, ['+norec', '+tcp', 'example.test', 'AXFR']);
    assert.ok(!axfr.raw.includes('IN\tSOA\tns1'), 'no zone data in an AXFR reply');
    assert.match(axfr.raw, /REFUSED|Transfer failed/);
  });

  void it('echoes the qname case, the ID and RD', async () => {
    const r = await dig(f.v4, ['+norec', 'WwW.ExAmPlE.TeSt', 'A']);
    assert.equal(r.question?.name, 'WwW.ExAmPlE.TeSt.');
    assert.equal(r.answer[0]?.name, 'WwW.ExAmPlE.TeSt.');
    assert.ok(!r.flags.includes('rd'));
    const rd = await dig(f.v4, ['+rec', 'www.example.test', 'A']);
    assert.ok(rd.flags.includes('rd'));
    assert.ok(!rd.flags.includes('ra'));
  });

  void it('answers static records, CNAMEs (followed in zone), wildcards and referrals', async () => {
    const mx = await dig(f.v4, ['+norec', 'example.test', 'MX']);
    assert.deepEqual(answerData(mx, 'MX'), ['10 mail.example.test.']);
    const srv = await dig(f.v4, ['+norec', '_sip._tcp.example.test', 'SRV']);
    assert.deepEqual(answerData(srv, 'SRV'), ['10 60 5060 mail.example.test.']);
    const caa = await dig(f.v4, ['+norec', 'example.test', 'CAA']);
    assert.deepEqual(answerData(caa, 'CAA'), ['0 issue "letsencrypt.org"']);
    const alias = await dig(f.v4, ['+norec', '+subnet=198.51.100.0/24', 'alias.example.test', 'A']);
    assert.deepEqual(answerData(alias, 'CNAME'), ['www.example.test.']);
    assert.deepEqual(answerData(alias, 'A'), US4);
    assert.equal(alias.ecs?.scope, 24);
    const cname = await dig(f.v4, ['+norec', 'alias.example.test', 'CNAME']);
    assert.deepEqual(answerData(cname, 'CNAME'), ['www.example.test.']);
    assert.equal(cname.answer.length, 1);
    const ext = await dig(f.v4, ['+norec', 'ext.example.test', 'A']);
    assert.equal(ext.status, 'NOERROR');
    assert.deepEqual(answerData(ext, 'CNAME'), ['target.example.net.']);
    const wild = await dig(f.v4, ['+norec', 'Anything.wild.example.test', 'A']);
    assert.deepEqual(answerData(wild, 'A'), ['192.0.2.77']);
    assert.equal(wild.answer[0]!.name, 'Anything.wild.example.test.');
    const ref = await dig(f.v4, ['+norec', 'host.sub.example.test', 'A']);
    assert.equal(ref.status, 'NOERROR');
    assert.ok(!ref.flags.includes('aa'));
    assert.equal(ref.answer.length, 0);
    assert.deepEqual(
      ref.authority.map((r) => `${r.name} ${r.type} ${r.data}`),
      ['sub.example.test. NS ns1.sub.example.test.'],
    );
    assert.deepEqual(
      ref.additional.map((r) => `${r.name} ${r.type} ${r.data}`),
      ['ns1.sub.example.test. A 192.0.2.99'],
    );
  });

  void it('answers ANY minimally (one RRset or HINFO RFC8482)', async () => {
    const apex = await dig(f.v4, ['+norec', 'example.test', 'ANY']);
    assert.equal(apex.answer.length, 1);
    const www = await dig(f.v4, ['+norec', 'www.example.test', 'ANY']);
    assert.equal(www.answer.length, 1);
    assert.equal(www.answer[0]!.type, 'HINFO');
    assert.match(www.answer[0]!.data, /"RFC8482"/);
  });

  void it('sets TC over UDP for a reply over the limit, keeps the OPT, and answers fully over TCP', async () => {
    const udp = await dig(f.v4, ['+norec', '+ignore', '+bufsize=512', 'big.example.test', 'TXT']);
    assert.ok(udp.flags.includes('tc'));
    assert.equal(udp.answer.length, 0);
    assert.ok(udp.edns !== undefined, 'OPT kept in the truncated reply');
    assert.ok(udp.msgSize !== undefined && udp.msgSize <= 512);
    const noedns = await dig(f.v4, ['+norec', '+ignore', '+noedns', 'big.example.test', 'TXT']);
    assert.ok(noedns.flags.includes('tc'));
    const big = await dig(f.v4, ['+norec', '+ignore', '+bufsize=4096', 'big.example.test', 'TXT']);
    assert.ok(!big.flags.includes('tc'), 'fits in 1232');
    const tcp = await dig(f.v4, ['+norec', '+tcp', 'big.example.test', 'TXT']);
    assert.ok(!tcp.flags.includes('tc'));
    assert.equal(tcp.answer.length, BIG_TXT.length);
    assert.ok(tcp.msgSize !== undefined && tcp.msgSize > 512);
    const tcp6 = await dig(f.v6, ['+norec', '+tcp', '+subnet=203.0.113.0/24', 'www.example.test', 'A']);
    assert.deepEqual(answerData(tcp6, 'A'), AP4);
    assert.equal(tcp6.ecs?.scope, 5, 'the widest scope (table built by the ECS test above)');
  });

  void it('answers BADVERS with OPT version 0 for EDNS version 1', async () => {
    const r = await dig(f.v4, ['+norec', '+edns=1', '+noednsneg', 'www.example.test', 'A']);
    assert.equal(r.status, 'BADVERS');
    assert.equal(r.edns?.version, 0);
    assert.equal(r.answer.length, 0);
  });

  void it('answers FORMERR (with OPT, no ECS) for malformed ECS options', async () => {
    for (const hex of ['00031800510245', '000121005102450180', '00011400510245', '0001180051024500']) {
      const r = await dig(f.v4, ['+norec', `+ednsopt=8:${hex}`, 'www.example.test', 'A']);
      assert.equal(r.status, 'FORMERR', hex);
      assert.ok(r.edns !== undefined, hex);
      assert.equal(r.ecs, undefined, hex);
    }
  });

  void it('ignores unknown EDNS options and flags without echoing them; copies DO', async () => {
    const r = await dig(f.v4, [
      '+norec',
      '+ednsopt=100:deadbeef',
      '+ednsflags=0x80',
      '+dnssec',
      'www.example.test',
      'A',
    ]);
    assert.equal(r.status, 'NOERROR');
    assert.ok(!/OPT=100/.test(r.raw));
    assert.deepEqual(r.edns?.flags, ['do']);
  });

  void it('fails over when a region is drained, and when its health report expires, within 1 s', async () => {
    const euQuery = async (): Promise<string[]> =>
      answerData(await dig(f.v4, ['+norec', '+subnet=192.0.2.0/24', 'www.example.test', 'A']), 'A');
    assert.deepEqual(await euQuery(), EU4);
    await f.store.updateRegion('eu', { state: 'draining' });
    const t0 = Date.now();
    await waitFor(
      'eu to stop answering while draining',
      async () => JSON.stringify(await euQuery()) !== JSON.stringify(EU4),
      { timeoutMs: 1000, intervalMs: 50 },
    );
    assert.ok(Date.now() - t0 <= 1000);
    assert.deepEqual(await euQuery(), US4);
    await f.store.updateRegion('eu', { state: 'active' });
    await waitFor(
      'eu to answer again once active',
      async () => JSON.stringify(await euQuery()) === JSON.stringify(EU4),
      { timeoutMs: 1000, intervalMs: 50 },
    );

    // A healthy report that expires in 700 ms: while fresh, eu answers; once expired, it must not.
    await f.store.reportHealth(healthReport('eu', true, 700));
    assert.deepEqual(await euQuery(), EU4);
    const expiry = Date.now() + 700;
    await waitFor(
      'us to answer once the eu report expired',
      async () => JSON.stringify(await euQuery()) === JSON.stringify(US4),
      { timeoutMs: 2000, intervalMs: 50 },
    );
    assert.ok(Date.now() - expiry <= 1000, 'answer changed within 1 s of the expiry');
    await f.store.reportHealth(healthReport('eu', true, 600_000));
    await waitFor(
      'eu to answer again after a fresh report',
      async () => JSON.stringify(await euQuery()) === JSON.stringify(EU4),
      { timeoutMs: 1000, intervalMs: 50 },
    );
  });

  void it('applies fail-open and fail-closed when every eligible region is down', async () => {
    await f.store.reportHealth(healthReport('eu', false, 600_000));
    const closed = await dig(f.v4, ['+norec', '+subnet=192.0.2.0/24', 'closed.example.test', 'A']);
    assert.equal(closed.status, 'NOERROR');
    assert.equal(closed.answer.length, 0);
    assert.equal(closed.authority[0]?.type, 'SOA');
    assert.equal(closed.ecs?.scope, 0);
    const open = await dig(f.v4, ['+norec', '+subnet=192.0.2.0/24', 'open.example.test', 'A']);
    assert.equal(open.status, 'NOERROR');
    assert.ok(open.answer.length >= 1, 'fail-open still answers');
    await f.store.reportHealth(healthReport('eu', true, 600_000));
    const back = await dig(f.v4, ['+norec', '+subnet=192.0.2.0/24', 'closed.example.test', 'A']);
    assert.deepEqual(answerData(back, 'A'), EU4);
  });

  void it('explains decisions and validates its input', () => {
    const r = f.dns.explain({
      name: 'WWW.example.test.',
      client: '127.0.0.1',
      ecs: '198.51.100.0/24',
      type: 'A',
    });
    assert.equal(r.query.name, 'www.example.test');
    assert.equal(r.query.zone, 'example.test');
    assert.deepEqual(r.query.ecs, { family: 4, address: '198.51.100.0', sourcePrefix: 24 });
    assert.deepEqual(r.decision.regions, ['us']);
    assert.deepEqual(r.decision.addresses, US4);
    assert.throws(() => f.dns.explain({ name: 'mail.example.test', client: '127.0.0.1', type: 'A' }), {
      code: 'E_NOT_FOUND',
      message: /mail\.example\.test/,
    });
    assert.throws(() => f.dns.explain({ name: 'www.example.test', client: 'nope', type: 'A' }), {
      code: 'E_VALIDATION',
    });
    assert.throws(
      () => f.dns.explain({ name: 'www.example.test', client: '::1', ecs: '192.0.2.1/24', type: 'A' }),
      {
        code: 'E_VALIDATION',
      },
    );
  });

  void it('counts queries in the passed registry', async () => {
    const text = await f.registry.metrics();
    assert.match(text, /meridian_dns_queries_total\{qtype="A",rcode="NOERROR",transport="udp"\} \d+/);
    assert.match(text, /meridian_dns_queries_total\{qtype="TXT",rcode="NOERROR",transport="tcp"\} \d+/);
    assert.match(text, /meridian_dns_answers_total\{region="us",country="US"\} \d+/);
    assert.match(text, /meridian_dns_ecs_queries_total\{present="true"\} \d+/);
    assert.match(text, /meridian_dns_truncated_total \d+/);
    assert.match(text, /meridian_dns_query_duration_seconds_count \d+/);
    assert.match(text, /meridian_dns_snapshot_age_seconds \d/);
    assert.equal(f.dns.clustered, false);
    assert.match(await f.dns.dnsMetrics(), /meridian_dns_queries_total/);
  });
});
