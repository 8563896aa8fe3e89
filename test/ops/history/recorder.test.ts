// The history recorder turns growth of the node's cumulative counters into per-minute rollups
// (counter resets included), the view reads percentiles from merged buckets, the report's
// availability comes from health events, and the Prometheus text reader handles escaped labels.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quantileMs } from '../../../src/ops/history/counters.js';
import { parseSamples } from '../../../src/ops/history/prometheus-text.js';
import { HistoryRecorder } from '../../../src/ops/history/recorder.js';
import { trafficView } from '../../../src/ops/history/view.js';
import { availabilityOf } from '../../../src/ops/report/data.js';
import { MemoryHistoryStore } from '../../../src/storage/memory/history-store.js';

const MINUTE = Date.UTC(2026, 5, 1, 12, 0);

function metricsText(dns: number, requests: number, errors: number, waf: number): string {
  return [
    '# HELP meridian_dns_answers_total x',
    '# TYPE meridian_dns_answers_total counter',
    `meridian_dns_answers_total{region="eu-west",country="DE"} ${dns}`,
    `meridian_dns_answers_total{region="eu-west",country="unknown"} 1`,
    `meridian_proxy_requests_total{region="eu-west",backend="web-1",method_class="read",status_class="2xx"} ${requests}`,
    `meridian_proxy_requests_total{region="eu-west",backend="web-1",method_class="read",status_class="5xx"} ${errors}`,
    `meridian_proxy_request_duration_seconds_bucket{le="0.01",region="eu-west",backend="web-1"} ${requests}`,
    `meridian_proxy_request_duration_seconds_bucket{le="+Inf",region="eu-west",backend="web-1"} ${requests + errors}`,
    `meridian_policy_decisions_total{type="waf",action="block"} ${waf}`,
    `meridian_policy_decisions_total{type="waf",action="pass"} 99`,
    'meridian_other_total 5',
  ].join('\n');
}

void describe('history recorder', () => {
  void it('writes the growth since the last flush, per minute and region, and survives a counter reset', async () => {
    const store = new MemoryHistoryStore();
    let text = metricsText(10, 100, 2, 1);
    let now = MINUTE + 5_000;
    const recorder = new HistoryRecorder({
      store,
      metrics: () => Promise.resolve(text),
      proxyRegion: 'eu-west',
      retentionMs: 86_400_000,
      minuteRetentionMs: 3_600_000,
      clock: () => now,
    });
    await recorder.flush();
    text = metricsText(15, 130, 2, 3);
    now = MINUTE + 65_000;
    await recorder.flush();
    // A restarted worker: its counters start over (smaller than before) and count from zero.
    text = metricsText(4, 20, 1, 0);
    now = MINUTE + 70_000;
    await recorder.flush();
    const rollups = await store.traffic({ from: MINUTE, to: MINUTE + 60_000 });
    assert.deepEqual(rollups, [
      {
        minute: MINUTE,
        region: 'eu-west',
        counters: {
          dns: 11,
          'dns:DE:EU': 10,
          'dns:XX:XX': 1,
          'req:web-1': 102,
          'err:web-1': 2,
          'lat:web-1:0.01': 100,
          'lat:web-1:inf': 102,
          waf: 1,
        },
      },
      {
        minute: MINUTE + 60_000,
        region: 'eu-west',
        counters: {
          // The unknown-country series stayed at 1: no growth.
          dns: 5 + 4,
          'dns:DE:EU': 5 + 4,
          'req:web-1': 30 + 20 + 1,
          'err:web-1': 1,
          'lat:web-1:0.01': 30 + 20,
          'lat:web-1:inf': 30 + 21,
          waf: 2,
        },
      },
    ]);
    await recorder.close();
  });

  void it('stores a health event once when several nodes report the same transition', async () => {
    const store = new MemoryHistoryStore();
    const options = { store, metrics: () => Promise.resolve(''), retentionMs: 1, minuteRetentionMs: 1 };
    const a = new HistoryRecorder(options);
    const b = new HistoryRecorder(options);
    const event = {
      t: MINUTE,
      region: 'eu-west',
      backend: null,
      healthy: false,
      reason: 'x',
      source: 'verdict',
    } as const;
    await a.recordHealthEvent(event);
    await b.recordHealthEvent({ ...event, t: MINUTE + 300 });
    assert.equal((await store.healthEvents({ from: 0, to: MINUTE + 1000 })).length, 1);
  });
});

void describe('history view and report arithmetic', () => {
  void it('reads p50/p95 from merged cumulative buckets, interpolating like histogram_quantile', () => {
    const buckets = new Map([
      [0.01, 50],
      [0.1, 90],
      [1, 100],
      [Infinity, 100],
    ]);
    assert.equal(quantileMs(buckets, 0.5), 10);
    assert.equal(quantileMs(buckets, 0.95), 550);
    assert.equal(quantileMs(new Map(), 0.95), null);
    const view = trafficView(
      [
        { minute: MINUTE, region: 'eu-west', counters: { 'req:a': 10, 'lat:a:0.01': 10, 'lat:a:inf': 10 } },
        {
          minute: MINUTE + 60_000,
          region: 'eu-west',
          counters: { 'req:b': 10, 'lat:b:0.01': 0, 'lat:b:1': 10, 'lat:b:inf': 10 },
        },
      ],
      MINUTE,
      MINUTE + 119_999,
      120,
    );
    const [series] = view.series;
    assert.equal(series?.points.length, 1);
    assert.equal(series?.points[0]?.proxyRequests, 20);
    // Half the requests within 10 ms, the other half between 10 ms and 1 s.
    assert.equal(series?.totals.p50Ms, 10);
    assert.equal(series?.totals.peakRequestsPerMinute, 10);
    assert.deepEqual(
      series?.backends.map((b) => b.backend),
      ['a', 'b'],
    );
  });

  void it('computes availability and incidents from region and backend events, clipped to the range', () => {
    const from = MINUTE;
    const to = MINUTE + 100 * 60_000;
    const { availability, incidents } = availabilityOf(
      ['eu-west', 'us-east'],
      [
        // Down since before the range: counts from `from`.
        {
          t: from - 600_000,
          region: 'eu-west',
          backend: null,
          healthy: false,
          reason: 'expired',
          source: 'verdict',
        },
        {
          t: from + 10 * 60_000,
          region: 'eu-west',
          backend: null,
          healthy: true,
          reason: 'ok',
          source: 'verdict',
        },
        {
          t: from + 90 * 60_000,
          region: 'eu-west',
          backend: null,
          healthy: false,
          reason: '0/2 healthy',
          source: 'verdict',
        },
        {
          t: from + 5 * 60_000,
          region: 'us-east',
          backend: 'web-1',
          healthy: false,
          reason: 'ECONNREFUSED',
          source: 'proxy',
        },
      ],
      from,
      to,
    );
    assert.deepEqual(
      availability.map((a) => [a.region, Math.round(a.ratio * 100)]),
      [
        ['eu-west', 80],
        ['us-east', 100],
      ],
    );
    assert.deepEqual(
      incidents.map((i) => [
        i.region,
        i.backend,
        i.start - from,
        i.end === undefined ? 'ongoing' : i.end - from,
        i.cause,
      ]),
      [
        ['eu-west', null, 0, 10 * 60_000, 'expired'],
        ['us-east', 'web-1', 5 * 60_000, 'ongoing', 'ECONNREFUSED'],
        ['eu-west', null, 90 * 60_000, 'ongoing', '0/2 healthy'],
      ],
    );
  });

  void it('reads samples with escaped label values and skips other metrics and comments', () => {
    const samples = parseSamples(
      ['# TYPE x counter', 'x{a="q\\"uote",b="back\\\\slash"} 3', 'y 4', 'x 1.5 1700000000000'].join('\n'),
      new Set(['x']),
    );
    assert.deepEqual(samples, [
      { name: 'x', labels: { a: 'q"uote', b: 'back\\slash' }, value: 3 },
      { name: 'x', labels: {}, value: 1.5 },
    ]);
  });
});
