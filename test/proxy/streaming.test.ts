// Streaming through the proxy: 200 MB each way without buffering (RSS stays flat), server-sent
// events delivered as they are produced, and WebSocket upgrades.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { WebSocket } from 'ws';
import type { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import { startTestProxy, type TestBackend, type TestProxy, regionWithBackends } from '../helpers/backends.js';

const SIZE = 200 * 1024 * 1024;
const RSS_BOUND = 60 * 1024 * 1024;

/** Runs `work` while sampling RSS; returns the peak growth over the starting RSS. */
async function peakRssGrowth(work: () => Promise<void>): Promise<number> {
  global.gc?.();
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  return peak - start;
}

function generated(bytes: number): Readable {
  const chunk = Buffer.alloc(64 * 1024, 'y');
  let left = bytes;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, chunk.length);
      left -= n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

void describe('proxy streaming', () => {
  let store: MemoryStateStore;
  let backends: TestBackend[];
  let proxy: TestProxy;

  before(async () => {
    ({ store, backends } = await regionWithBackends(2, 's'));
    proxy = await startTestProxy({ store, region: 'r1' });
    // Warm up first: the first large transfer in a process grows RSS once (allocator arenas,
    // JIT code) whether or not a proxy is involved; the bound is about what the proxy adds.
    const down = await request(`${proxy.url}/download?bytes=${32 * 1024 * 1024}`);
    for await (const _ of down.body) void _;
    const up = await request(`${proxy.url}/upload`, { method: 'PUT', body: generated(32 * 1024 * 1024) });
    await up.body.dump();
  });

  after(async () => {
    await proxy?.close();
    await Promise.all((backends ?? []).map((b) => b.close()));
    await store?.close();
  });

  void it('streams a 200 MB response body without buffering it', async () => {
    let received = 0;
    const growth = await peakRssGrowth(async () => {
      const res = await request(`${proxy.url}/download?bytes=${SIZE}`);
      assert.equal(res.statusCode, 200);
      for await (const chunk of res.body) received += (chunk as Buffer).length;
    });
    assert.equal(received, SIZE);
    assert.ok(growth < RSS_BOUND, `RSS grew by ${(growth / 1048576).toFixed(1)} MB`);
  });

  void it('streams a 200 MB request body without buffering it', async () => {
    let answer: { bytes: number } | undefined;
    const growth = await peakRssGrowth(async () => {
      const res = await request(`${proxy.url}/upload`, { method: 'PUT', body: generated(SIZE) });
      assert.equal(res.statusCode, 200);
      answer = (await res.body.json()) as { bytes: number };
    });
    assert.equal(answer?.bytes, SIZE);
    assert.ok(growth < RSS_BOUND, `RSS grew by ${(growth / 1048576).toFixed(1)} MB`);
  });

  void it('delivers server-sent events before the stream ends', async () => {
    const res = await request(`${proxy.url}/sse?gapMs=1500`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/event-stream');
    const chunks: string[] = [];
    let firstAt = 0;
    for await (const chunk of res.body) {
      if (chunks.length === 0) firstAt = Date.now();
      chunks.push(String(chunk));
    }
    const endAt = Date.now();
    assert.equal(chunks[0], 'data: 1\n\n', 'the first event arrived alone, not with the end of the stream');
    assert.ok(endAt - firstAt >= 1000, 'the first event came well before the end');
    assert.equal(chunks.join(''), 'data: 1\n\ndata: 2\n\n');
  });

  void it('proxies WebSocket upgrades to the session’s backend', async () => {
    const ws = new WebSocket(`${proxy.url.replace('http', 'ws')}/ws`, {
      headers: { cookie: 'meridian_affinity=ws-session' },
    });
    const messages: string[] = [];
    const upgradeHeaders: Record<string, unknown> = {};
    ws.on('upgrade', (res) => Object.assign(upgradeHeaders, res.headers));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const done = new Promise<void>((resolve) => {
      ws.on('message', (data) => {
        messages.push((data as Buffer).toString());
        if (messages.length === 3) resolve();
      });
    });
    ws.send('one');
    ws.send('two');
    ws.send('three');
    await done;
    ws.close();
    const backend = messages[0]?.split(':')[0];
    assert.ok(backend === 's1' || backend === 's2');
    assert.deepEqual(messages, [`${backend}:one`, `${backend}:two`, `${backend}:three`]);
    assert.match(String(upgradeHeaders['x-request-id']), /^[0-9a-f-]{36}$/);
  });
});
