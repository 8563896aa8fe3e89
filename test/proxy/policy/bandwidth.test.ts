// Bandwidth pacing measured end to end: a real loopback HTTP server pipes every response through
// `engine.pace()`; several concurrent downloads by one client together get the set rate (±10 %),
// and another client gets its own budget.
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { MemoryPolicyStore } from '../../../src/storage/memory/policy-store.js';
import { PolicyEngine } from '../../../src/proxy/policy/engine.js';
import { bandwidth } from './fixtures.js';

const RATE = 256 * 1024;
const BODY = 256 * 1024;

let server: Server;
let port = 0;
let engine: PolicyEngine;

/** Downloads with a client key; resolves with the bytes and the time the last byte arrived. */
function download(clientKey: string): Promise<{ bytes: number; end: number }> {
  return new Promise((resolve, reject) => {
    const r = request(
      { host: '127.0.0.1', port, path: '/', headers: { 'x-client': clientKey }, agent: false },
      (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ bytes, end: performance.now() }));
        res.on('error', reject);
      },
    );
    r.setTimeout(20_000, () => r.destroy(new Error('download timed out')));
    r.on('error', reject);
    r.end();
  });
}

describe('bandwidth limit pacing', () => {
  before(async () => {
    const store = new MemoryPolicyStore();
    await store.start();
    await store.put(bandwidth('bw', { bytesPerSecond: RATE, key: 'header:x-client' }));
    engine = new PolicyEngine({ store, regionId: 'eu-west' });
    server = createServer((req, res) => {
      const client = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        query: '',
        headers: req.headers,
        clientIp: req.socket.remoteAddress ?? '',
      };
      const paced = engine.pace(client);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      // 16 KiB chunks, produced as fast as the pacer accepts them.
      const source = Readable.from(
        (function* () {
          for (let sent = 0; sent < BODY; sent += 16 * 1024) yield Buffer.alloc(16 * 1024, 0x61);
        })(),
      );
      const done = paced === undefined ? pipeline(source, res) : pipeline(source, paced, res);
      done.catch(() => res.destroy());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    engine.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('paces concurrent streams of one client to the set rate in total, each stream getting a fair share', async (t) => {
    const streams = 4;
    const start = performance.now();
    const results = await Promise.all(Array.from({ length: streams }, () => download('alice')));
    const total = results.reduce((s, r) => s + r.bytes, 0);
    assert.equal(total, streams * BODY);
    const elapsed = (Math.max(...results.map((r) => r.end)) - start) / 1000;
    const rate = total / elapsed;
    t.diagnostic(
      `${streams} streams of one client: ${Math.round(rate)} B/s aggregate (set ${RATE}), ${elapsed.toFixed(2)} s`,
    );
    assert.ok(
      Math.abs(rate - RATE) <= RATE * 0.1,
      `aggregate ${Math.round(rate)} B/s vs ${RATE} B/s (${elapsed.toFixed(2)} s)`,
    );
    // Fair interleaving: no stream finishes long before the others.
    const ends = results.map((r) => (r.end - start) / 1000);
    assert.ok(Math.min(...ends) >= elapsed * 0.8, `stream ends ${ends.map((e) => e.toFixed(2)).join(', ')}`);
  });

  it('gives each client its own budget', async (t) => {
    const start = performance.now();
    const [a, b] = await Promise.all([download('carol'), download('dave')]);
    const elapsed = (Math.max(a.end, b.end) - start) / 1000;
    // One body per client at the full rate each: about BODY / RATE seconds, not twice that.
    const each = BODY / elapsed;
    t.diagnostic(`two clients at once: ${Math.round(each)} B/s each (set ${RATE})`);
    assert.ok(
      Math.abs(each - RATE) <= RATE * 0.1,
      `per-client ${Math.round(each)} B/s vs ${RATE} (${elapsed.toFixed(2)} s)`,
    );
  });
});
