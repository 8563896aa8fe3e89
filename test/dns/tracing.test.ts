// DNS decisions as OpenTelemetry spans: with `dns.tracing.otlp` set, each query the query log
// samples reaches a local OTLP/HTTP receiver as a SERVER span of a new trace, naming the question,
// the client's ECS subnet, the rcode, the region the steering chose and whether the answer cache
// served it. Queries the query log does not sample export nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { answerData, dig } from '../helpers/dig.js';
import { attribute, OtlpReceiver, type OtlpSpan } from '../helpers/otlp-receiver.js';
import { waitFor } from '../helpers/wait.js';
import { REGIONS, startFixture, testDnsConfig, type Fixture } from './fixture.js';

const REGION_OF_ADDRESS = new Map(REGIONS.flatMap((r) => (r.ipv4 ?? []).map((a) => [a, r.id] as const)));

/** A receiver and a DNS fixture exporting to it, started before the suite's tests and closed after. */
function tracedFixture(sampleRate: number): { receiver: OtlpReceiver; fixture: () => Fixture } {
  const receiver = new OtlpReceiver();
  let f: Fixture | undefined;
  before(async () => {
    await receiver.start();
    f = await startFixture({
      config: testDnsConfig({
        queryLog: { sampleRate },
        tracing: { otlp: { endpoint: receiver.url, flushIntervalMs: 50 } },
      }),
    });
  });
  after(async () => {
    await f?.close();
    await receiver.close();
  });
  return { receiver, fixture: () => f as Fixture };
}

void describe('DNS query spans over OTLP', () => {
  const { receiver, fixture } = tracedFixture(1);

  const spansFor = (name: string): OtlpSpan[] =>
    receiver.spans.filter((s) => attribute(s, 'dns.question.name') === name);

  void it('exports a steered answer as a span of a new trace with the decision', async () => {
    const r = await dig(fixture().v4, ['+norec', '+subnet=192.0.2.128/25', 'www.example.test', 'A']);
    const [address] = answerData(r, 'A');
    const region = REGION_OF_ADDRESS.get(address ?? '');
    assert.ok(region !== undefined, `answered ${String(address)}, not a region's address`);
    await waitFor('the span of the www query', () => spansFor('www.example.test').length === 1);
    const span = spansFor('www.example.test')[0] as OtlpSpan;
    assert.equal(span.name, 'DNS A');
    assert.equal(span.kind, 2);
    assert.match(span.traceId, /^[0-9a-f]{32}$/);
    assert.match(span.spanId, /^[0-9a-f]{16}$/);
    assert.ok(span.parentSpanId === undefined || span.parentSpanId === '');
    assert.ok(BigInt(span.endTimeUnixNano) >= BigInt(span.startTimeUnixNano));
    assert.equal(attribute(span, 'dns.question.type'), 'A');
    assert.equal(attribute(span, 'dns.response_code'), 'NOERROR');
    assert.equal(attribute(span, 'network.transport'), 'udp');
    assert.equal(attribute(span, 'client.address'), '127.0.0.1');
    assert.equal(attribute(span, 'meridian.dns.ecs'), '192.0.2.128/25');
    assert.equal(attribute(span, 'meridian.region'), region);
    assert.equal(attribute(span, 'meridian.dns.cached'), false);
    assert.ok(receiver.services.has('meridian-dns'));
  });

  void it('says when the answer cache served the reply, and still names the region', async () => {
    // The cache keeps a reply once its query was seen before: the third one is a hit (dig's random
    // cookie would make every query a new one).
    for (let i = 0; i < 3; i++) await dig(fixture().v4, ['+norec', '+nocookie', 'open.example.test', 'A']);
    await waitFor('three spans of the open query', () => spansFor('open.example.test').length === 3);
    const spans = spansFor('open.example.test');
    assert.ok(
      spans.some((s) => attribute(s, 'meridian.dns.cached') === true),
      'one of the three was served from the cache',
    );
    for (const s of spans) assert.equal(attribute(s, 'meridian.region'), 'eu');
    assert.equal(new Set(spans.map((s) => s.traceId)).size, 3, 'a trace per query');
  });

  void it('exports a plain zone answer over TCP without a region', async () => {
    await dig(fixture().v4, ['+norec', '+tcp', 'mail.example.test', 'A']);
    await waitFor('the span of the mail query', () => spansFor('mail.example.test').length === 1);
    const span = spansFor('mail.example.test')[0] as OtlpSpan;
    assert.equal(attribute(span, 'network.transport'), 'tcp');
    assert.equal(attribute(span, 'meridian.region'), undefined);
    assert.equal(attribute(span, 'meridian.dns.ecs'), undefined);
  });

  void it('exports an NXDOMAIN with its rcode', async () => {
    const r = await dig(fixture().v4, ['+norec', 'nothing-here.example.test', 'A']);
    assert.equal(r.status, 'NXDOMAIN');
    await waitFor('the span of the NXDOMAIN', () => spansFor('nothing-here.example.test').length === 1);
    assert.equal(
      attribute(spansFor('nothing-here.example.test')[0] as OtlpSpan, 'dns.response_code'),
      'NXDOMAIN',
    );
  });
});

void describe('DNS query spans when the query log samples nothing', () => {
  const { receiver, fixture } = tracedFixture(0);

  void it('exports no span', async () => {
    for (let i = 0; i < 5; i++) await dig(fixture().v4, ['+norec', 'www.example.test', 'A']);
    // Several flush intervals (50 ms) pass with nothing to send.
    await sleep(400);
    assert.deepEqual(receiver.spans, []);
  });
});
