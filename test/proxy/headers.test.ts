// Header handling end to end: X-Forwarded-* (trusted and untrusted peers), X-Request-ID, and
// hop-by-hop stripping in both directions. Uses node:http as the client because it lets a test
// send hop-by-hop headers that undici refuses to send.
import assert from 'node:assert/strict';
import { request as httpRequestRaw, type IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import { startTestProxy, type TestBackend, type TestProxy, regionWithBackends } from '../helpers/backends.js';

interface Echo {
  backend: string;
  headers: IncomingHttpHeaders;
}

function get(
  url: string,
  headers: Record<string, string>,
): Promise<{ headers: IncomingHttpHeaders; echo: Echo }> {
  return new Promise((resolve, reject) => {
    const req = httpRequestRaw(url, { headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          resolve({ headers: res.headers, echo: JSON.parse(text) as Echo });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

void describe('proxy headers', () => {
  let store: MemoryStateStore;
  let backends: TestBackend[];
  let untrusting: TestProxy;
  let trusting: TestProxy;

  before(async () => {
    ({ store, backends } = await regionWithBackends(1, 'h'));
    untrusting = await startTestProxy({ store, region: 'r1' });
    trusting = await startTestProxy({ store, region: 'r1', config: { trustedProxies: ['127.0.0.0/8'] } });
  });

  after(async () => {
    await untrusting?.close();
    await trusting?.close();
    await Promise.all((backends ?? []).map((b) => b.close()));
    await store?.close();
  });

  void it('sets X-Forwarded-* and ignores those sent by an untrusted client', async () => {
    const { echo } = await get(`${untrusting.url}/`, {
      host: 'shop.example.test',
      'x-forwarded-for': '198.51.100.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example.test',
    });
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
    assert.equal(echo.headers['x-forwarded-host'], 'shop.example.test');
    assert.equal(echo.headers.host, 'shop.example.test', 'Host is passed through');
  });

  void it('appends to X-Forwarded-For and keeps -Proto/-Host from a trusted proxy', async () => {
    const { echo } = await get(`${trusting.url}/`, {
      host: 'shop.example.test',
      'x-forwarded-for': '198.51.100.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'www.example.test',
    });
    assert.equal(echo.headers['x-forwarded-for'], '198.51.100.7, 127.0.0.1');
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
    assert.equal(echo.headers['x-forwarded-host'], 'www.example.test');
  });

  void it('generates an X-Request-ID, passes it to the backend and returns it', async () => {
    const { headers, echo } = await get(`${untrusting.url}/`, {});
    const id = headers['x-request-id'];
    assert.match(String(id), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(echo.headers['x-request-id'], id);
    const given = await get(`${untrusting.url}/`, { 'x-request-id': 'trace-abc-1' });
    assert.equal(given.headers['x-request-id'], 'trace-abc-1');
    assert.equal(given.echo.headers['x-request-id'], 'trace-abc-1');
  });

  void it('strips hop-by-hop headers in both directions', async () => {
    const { headers, echo } = await get(`${untrusting.url}/hop`, {
      connection: 'keep-alive, x-custom-hop',
      'x-custom-hop': 'secret',
      'keep-alive': 'timeout=5',
      te: 'trailers',
      'proxy-authorization': 'Basic Zm9vOmJhcg==',
      'x-end-to-end': 'yes',
    });
    for (const name of ['x-custom-hop', 'keep-alive', 'te', 'proxy-authorization', 'upgrade', 'trailer']) {
      assert.equal(echo.headers[name], undefined, `${name} reached the backend`);
    }
    assert.notEqual(echo.headers.connection, 'keep-alive, x-custom-hop');
    assert.equal(echo.headers['x-end-to-end'], 'yes');
    // The backend's hop-by-hop response headers stop at the proxy.
    assert.equal(headers['x-secret-hop'], undefined);
    assert.equal(headers['proxy-authenticate'], undefined);
    assert.equal(headers['x-end-to-end'], 'kept');
  });
});
