// Upstream headers and body timeouts end to end, with real backends: a request without a body is
// timed by the engine's deadline sweep, one with a body by undici. A backend that stalls mid-body
// has the client's response cut and counts as failing; one that is slow but keeps sending does
// not; nor does a slow client.
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import {
  httpRequest,
  startBackend,
  startTestProxy,
  type TestBackend,
  type TestProxy,
} from '../helpers/backends.js';
import { waitFor } from '../helpers/wait.js';

// Active checks every minute (the first one at once): only passive outcomes change health here.
const QUIET_HEALTH = { health: { intervalMs: 60_000, timeoutMs: 500, jitter: 0 } };

/** GET through node:http; `readAfterMs` holds the body unread that long (a slow client). */
function fetchBody(
  url: string,
  readAfterMs = 0,
): Promise<{ status: number; body: Buffer; complete: boolean; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    get(url, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.pause();
      setTimeout(() => res.resume(), readAfterMs);
      res.on('data', (c: Buffer) => chunks.push(c));
      // 'close' comes after 'end' for a whole body, and alone when the proxy cut the stream.
      res.on('close', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks),
          complete: res.complete,
          ms: performance.now() - started,
        }),
      );
      res.on('error', () => {}); // 'aborted' / ECONNRESET: reported through `complete`
    }).on('error', reject);
  });
}

void describe('proxy upstream timeouts', () => {
  let store: MemoryStateStore;
  const proxies: TestProxy[] = [];
  const backends: TestBackend[] = [];

  async function regionWith(region: string, config: Record<string, unknown>): Promise<TestProxy> {
    await store.createRegion({ id: region, lat: 0, lon: 0, ipv4: ['127.0.0.1'] });
    const b = await startBackend(`${region}-b`);
    backends.push(b);
    await store.createBackend(region, { id: b.id, url: b.url, weight: 100 });
    const proxy = await startTestProxy({ store, region, config: { ...QUIET_HEALTH, ...config } });
    proxies.push(proxy);
    await waitFor('the backend healthy', () => proxy.proxy.backendStates()[0]?.healthy === true);
    return proxy;
  }

  before(async () => {
    store = new MemoryStateStore();
    await store.start();
  });

  after(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(backends.map((b) => b.close()));
    await store?.close();
  });

  void it('cuts a response whose backend stops sending for bodyMs, and counts it against the backend', async () => {
    const proxy = await regionWith('stall', {
      timeouts: { bodyMs: 300 },
      outlier: {
        consecutiveFailures: 1,
        baseEjectionMs: 60_000,
        maxEjectionMs: 60_000,
        maxEjectedPercent: 100,
      },
    });
    // The backend sends one event, then nothing for 5 s.
    const res = await fetchBody(`${proxy.url}/sse?gapMs=5000`);
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'data: 1\n\n');
    assert.equal(res.complete, false, 'the client must see the response end early, not a whole body');
    assert.ok(res.ms >= 300, `cut after ${res.ms.toFixed(0)} ms: before bodyMs`);
    assert.ok(res.ms < 3000, `cut after ${res.ms.toFixed(0)} ms: the timeout did not fire`);
    const state = proxy.proxy.backendStates()[0];
    assert.equal(state?.healthy, false, 'one failure ejects the backend in this configuration');
    assert.match(state?.reason ?? '', /UND_ERR_BODY_TIMEOUT/, 'a body timeout, not a headers timeout');
  });

  void it('keeps a slow response whose gaps are shorter than bodyMs', async () => {
    const proxy = await regionWith('trickle', { timeouts: { bodyMs: 800 } });
    const res = await fetchBody(`${proxy.url}/sse?gapMs=400`);
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'data: 1\n\ndata: 2\n\n');
    assert.equal(res.complete, true);
    assert.equal(proxy.proxy.backendStates()[0]?.healthy, true);
  });

  void it('does not time out a backend while a slow client holds the response back', async () => {
    const proxy = await regionWith('reader', { timeouts: { bodyMs: 200 } });
    const bytes = 64 * 1024 * 1024; // far beyond the socket buffers: the proxy must pause
    const res = await fetchBody(`${proxy.url}/download?bytes=${bytes}`, 1500);
    assert.equal(res.status, 200);
    assert.equal(res.complete, true);
    assert.equal(res.body.length, bytes);
    assert.equal(proxy.proxy.backendStates()[0]?.healthy, true);
  });

  void it('answers 504 to a request with a body whose backend sends no headers within headersMs', async () => {
    // Timed by undici (the request has a body), as before the sweep existed.
    const proxy = await regionWith('upload', { timeouts: { headersMs: 300 } });
    const started = Date.now();
    const res = await httpRequest(`${proxy.url}/slow?ms=3000`, { method: 'POST', body: 'payload' });
    assert.equal(res.status, 504, res.text);
    assert.equal((JSON.parse(res.text) as { error: { code: string } }).error.code, 'E_UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - started < 2500);
  });
});
