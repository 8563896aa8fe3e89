// W3C Trace Context through the proxy, and span export to a local OTLP/HTTP receiver: the backend
// gets the caller's trace id with the proxy's own span id and the caller's tracestate; a missing or
// invalid traceparent starts a new trace; the exported span names the caller's span as parent and
// records backend, attempts, retries and the policy verdict.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryPolicyStore } from '../../src/storage/memory/policy-store.js';
import type { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import {
  httpRequest,
  regionWithBackends,
  startTestProxy,
  type TestBackend,
  type TestProxy,
} from '../helpers/backends.js';
import { attribute, OtlpReceiver, type OtlpSpan } from '../helpers/otlp-receiver.js';
import { waitFor } from '../helpers/wait.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE}-${PARENT}-01`;
const TRACEPARENT_SHAPE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

/** The trace headers the backend received (the echo route returns them). */
async function traceSeenByBackend(
  proxy: TestProxy,
  headers: Record<string, string>,
  path = '/echo',
): Promise<{ traceparent: string; tracestate: string | undefined; backend: string; status: number }> {
  const res = await httpRequest(`${proxy.url}${path}`, { headers });
  const echo = JSON.parse(res.text) as { backend: string; headers: Record<string, string> };
  return {
    traceparent: echo.headers.traceparent ?? '',
    tracestate: echo.headers.tracestate,
    backend: echo.backend,
    status: res.status,
  };
}

void describe('W3C trace context propagation', () => {
  let store: MemoryStateStore;
  let backends: TestBackend[];
  const proxies: Record<string, TestProxy> = {};

  before(async () => {
    ({ store, backends } = await regionWithBackends(1, 'tp'));
    // HTTP/1 from an untrusted peer takes the flat header-list path; a trusted peer the object path.
    proxies.list = await startTestProxy({ store, region: 'r1' });
    proxies.object = await startTestProxy({ store, region: 'r1', config: { trustedProxies: ['127.0.0.1'] } });
    proxies.off = await startTestProxy({ store, region: 'r1', config: { tracing: { propagate: false } } });
    for (const p of Object.values(proxies))
      await waitFor('the backend healthy', () => p.proxy.backendStates().every((s) => s.healthy));
  });

  after(async () => {
    await Promise.all(Object.values(proxies).map((p) => p.close()));
    await Promise.all(backends.map((b) => b.close()));
    await store.close();
  });

  for (const path of ['list', 'object'] as const) {
    void it(`continues a valid trace with the proxy's span id and passes tracestate (${path})`, async () => {
      const seen = await traceSeenByBackend(proxies[path] as TestProxy, {
        traceparent: TRACEPARENT,
        tracestate: 'rojo=00f067aa0ba902b7',
      });
      const [, traceId, spanId, flags] = TRACEPARENT_SHAPE.exec(seen.traceparent) ?? [];
      assert.equal(traceId, TRACE);
      assert.notEqual(spanId, PARENT, "the backend's parent is the proxy's span");
      assert.equal(flags, '01');
      assert.equal(seen.tracestate, 'rojo=00f067aa0ba902b7');
    });

    void it(`starts a new trace when traceparent is absent or invalid, dropping tracestate (${path})`, async () => {
      const proxy = proxies[path] as TestProxy;
      const absent = await traceSeenByBackend(proxy, {});
      assert.match(absent.traceparent, TRACEPARENT_SHAPE);
      assert.match(absent.traceparent, /-00$/, 'not sampled: nothing is recorded with export off');
      const invalid = await traceSeenByBackend(proxy, {
        traceparent: TRACEPARENT.toUpperCase(),
        tracestate: 'rojo=1',
      });
      const [, traceId] = TRACEPARENT_SHAPE.exec(invalid.traceparent) ?? [];
      assert.ok(traceId !== undefined && traceId !== TRACE, invalid.traceparent);
      assert.equal(invalid.tracestate, undefined);
    });
  }

  void it('passes the client headers untouched with tracing.propagate off', async () => {
    const seen = await traceSeenByBackend(proxies.off as TestProxy, {
      traceparent: 'not-a-traceparent',
      tracestate: 'rojo=1',
    });
    assert.deepEqual([seen.traceparent, seen.tracestate], ['not-a-traceparent', 'rojo=1']);
  });
});

void describe('span export over OTLP/HTTP', () => {
  const receiver = new OtlpReceiver();
  let store: MemoryStateStore;
  let backends: TestBackend[];
  let policies: MemoryPolicyStore;
  let proxy: TestProxy;

  before(async () => {
    await receiver.start();
    ({ store, backends } = await regionWithBackends(2, 'ot'));
    policies = new MemoryPolicyStore();
    await policies.start();
    await policies.put({
      id: 'waf',
      type: 'waf',
      rules: [{ id: 'no-admin', target: 'path', pattern: '^/admin', action: 'block' }],
    });
    proxy = await startTestProxy({
      store,
      region: 'r1',
      config: {
        tracing: { otlp: { endpoint: receiver.url, serviceName: 'proxy-under-test', flushIntervalMs: 50 } },
        health: { intervalMs: 60_000, timeoutMs: 500, jitter: 0 },
        outlier: { consecutiveFailures: 0 },
      },
      policies: { store: policies, keyPrefix: 'trace-test:' },
    });
    await waitFor('both backends in the proxy', () => proxy.proxy.backendStates().length === 2);
  });

  after(async () => {
    await proxy.close();
    await policies.close();
    await Promise.all(backends.map((b) => b.close()));
    await store.close();
    await receiver.close();
  });

  void it("exports the request's span with the caller as parent and the backend's parent as its id", async () => {
    const seen = await traceSeenByBackend(proxy, { traceparent: TRACEPARENT, tracestate: 'rojo=1' });
    const [, , proxySpanId] = TRACEPARENT_SHAPE.exec(seen.traceparent) ?? [];
    const span = await receiver.spanOf(TRACE);
    assert.equal(span.parentSpanId, PARENT);
    assert.equal(span.spanId, proxySpanId);
    assert.equal(span.name, 'GET');
    assert.equal(span.kind, 2);
    assert.ok(BigInt(span.endTimeUnixNano) >= BigInt(span.startTimeUnixNano));
    assert.ok(Math.abs(Number(BigInt(span.startTimeUnixNano) / 1_000_000n) - Date.now()) < 60_000);
    assert.equal(attribute(span, 'meridian.backend'), seen.backend);
    assert.equal(attribute(span, 'meridian.attempts'), '1');
    assert.equal(attribute(span, 'meridian.retries'), '0');
    assert.equal(attribute(span, 'meridian.policy.verdict'), 'pass');
    assert.equal(attribute(span, 'http.response.status_code'), '200');
    assert.equal(span.status.code, 0);
    assert.ok(receiver.services.has('proxy-under-test'));
    assert.ok(
      receiver.paths.every((p) => p === 'POST /v1/traces application/json'),
      receiver.paths.join(),
    );
  });

  void it('records the retry: attempts, the backend that failed, the one that answered', async () => {
    const cookie = 'meridian_affinity=traced-session';
    const first = await traceSeenByBackend(proxy, { cookie });
    const failed = backends.find((b) => b.id === first.backend) as TestBackend;
    failed.failing = true;
    try {
      const traceId = 'a'.repeat(32);
      const res = await httpRequest(`${proxy.url}/echo`, {
        headers: { cookie, traceparent: `00-${traceId}-${PARENT}-01` },
      });
      assert.equal(res.status, 200);
      const span = await receiver.spanOf(traceId);
      assert.equal(attribute(span, 'meridian.attempts'), '2');
      assert.equal(attribute(span, 'meridian.retries'), '1');
      assert.equal(attribute(span, 'meridian.backends_failed'), failed.id);
      assert.notEqual(attribute(span, 'meridian.backend'), failed.id);
    } finally {
      failed.failing = false;
    }
  });

  void it('records a policy rejection, and a new trace when the caller sent none', async () => {
    const res = await httpRequest(`${proxy.url}/admin`);
    assert.equal(res.status, 403);
    await waitFor('the rejected request span', () =>
      receiver.spans.some((s) => attribute(s, 'meridian.policy.verdict') === 'reject'),
    );
    const span = receiver.spans.find((s) => attribute(s, 'meridian.policy.verdict') === 'reject') as OtlpSpan;
    assert.equal(span.parentSpanId, undefined, 'a new trace has no parent');
    assert.match(String(attribute(span, 'meridian.policy.rule')), /no-admin/);
    assert.equal(attribute(span, 'meridian.backend'), 'none');
    assert.equal(attribute(span, 'meridian.attempts'), '0');
  });

  void it('exports nothing for a caller that did not sample its trace', async () => {
    const traceId = 'b'.repeat(32);
    await httpRequest(`${proxy.url}/echo`, { headers: { traceparent: `00-${traceId}-${PARENT}-00` } });
    const marker = 'c'.repeat(32);
    await httpRequest(`${proxy.url}/echo`, { headers: { traceparent: `00-${marker}-${PARENT}-01` } });
    await receiver.spanOf(marker); // exported after the unsampled one, so that one had its chance
    assert.equal(receiver.spans.filter((s) => s.traceId === traceId).length, 0);
  });
});
