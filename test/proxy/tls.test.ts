// HTTPS listener with a self-signed certificate: HTTP/2 negotiated by ALPN, HTTP/1.1 as fallback,
// Secure affinity cookies, and request bodies over HTTP/2; a renewed certificate written over the
// same files is served to new connections without a restart.
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { connect, constants } from 'node:http2';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../helpers/wait.js';
import type { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import { startTestProxy, type TestBackend, type TestProxy, regionWithBackends } from '../helpers/backends.js';
import { makeSelfSignedCert, type TestCert } from '../helpers/tls.js';

void describe('proxy over TLS', () => {
  let store: MemoryStateStore;
  let backends: TestBackend[];
  let proxy: TestProxy;
  let cert: TestCert;
  let httpsPort = 0;

  before(async () => {
    cert = makeSelfSignedCert();
    ({ store, backends } = await regionWithBackends(2, 't'));
    proxy = await startTestProxy({
      store,
      region: 'r1',
      config: { tls: { cert: cert.certPath, key: cert.keyPath }, tlsListen: ['127.0.0.1:0'] },
    });
    httpsPort = proxy.proxy.addresses().find((a) => a.protocol === 'https')?.port ?? 0;
    assert.ok(httpsPort > 0);
  });

  after(async () => {
    await proxy?.close();
    await Promise.all((backends ?? []).map((b) => b.close()));
    await store?.close();
    cert?.remove();
  });

  void it('negotiates HTTP/2 by ALPN and forwards requests and bodies', async () => {
    const session = connect(`https://localhost:${httpsPort}`, { ca: cert.cert });
    session.on('error', () => undefined);
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('connect', () => resolve());
        session.once('error', reject);
      });
      assert.equal(session.alpnProtocol, 'h2');
      const get = await h2(session, { ':path': '/hello?x=1', ':method': 'GET' });
      assert.equal(get.status, 200);
      const echo = JSON.parse(get.body) as { url: string; headers: Record<string, string> };
      assert.equal(echo.url, '/hello?x=1');
      assert.equal(echo.headers.host, `localhost:${httpsPort}`);
      assert.equal(echo.headers['x-forwarded-proto'], 'https');
      const cookie = String(get.headers['set-cookie']);
      assert.match(cookie, /; HttpOnly; SameSite=Lax; Secure$/);

      const post = await h2(session, { ':path': '/upload', ':method': 'POST' }, Buffer.alloc(300_000, 'z'));
      assert.equal(post.status, 200);
      assert.equal((JSON.parse(post.body) as { bytes: number }).bytes, 300_000);
    } finally {
      session.close();
    }
  });

  void it('falls back to HTTP/1.1 for clients that do not offer h2', async () => {
    const result = await new Promise<{ alpn: string | false | null; status: number; body: string }>(
      (resolve, reject) => {
        // ALPNProtocols reaches tls.connect (agent: false) though RequestOptions does not declare it.
        const options = {
          host: '127.0.0.1',
          port: httpsPort,
          path: '/one',
          ca: cert.cert,
          servername: 'localhost',
          ALPNProtocols: ['http/1.1'],
          agent: false as const,
        };
        const req = httpsRequest(options, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () =>
            resolve({ alpn: (res.socket as TLSSocket).alpnProtocol, status: res.statusCode ?? 0, body }),
          );
        });
        req.on('error', reject);
        req.end();
      },
    );
    assert.equal(result.alpn, 'http/1.1');
    assert.equal(result.status, 200);
    assert.equal((JSON.parse(result.body) as { url: string }).url, '/one');
  });
});

/** The fingerprint of the certificate the listener presents to a new connection. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      {
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        rejectUnauthorized: false,
        ALPNProtocols: ['http/1.1'],
      },
      () => {
        const fp = socket.getPeerCertificate().fingerprint256;
        socket.end();
        resolve(fp);
      },
    );
    socket.once('error', reject);
  });
}

void describe('proxy TLS certificate reload', () => {
  it('serves a renewed certificate from the same files without a restart', async () => {
    const first = makeSelfSignedCert();
    const second = makeSelfSignedCert();
    const dir = mkdtempSync(join(tmpdir(), 'meridian-proxy-tls-'));
    const served = { certPath: join(dir, 'cert.pem'), keyPath: join(dir, 'key.pem') };
    copyFileSync(first.certPath, served.certPath);
    copyFileSync(first.keyPath, served.keyPath);
    const { store, backends } = await regionWithBackends(1, 'u');
    const proxy = await startTestProxy({
      store,
      region: 'r1',
      config: {
        tls: { cert: served.certPath, key: served.keyPath, reloadCheckSeconds: 1 },
        tlsListen: ['127.0.0.1:0'],
      },
    });
    try {
      const port = proxy.proxy.addresses().find((a) => a.protocol === 'https')?.port ?? 0;
      const fingerprint = (c: { cert: string | Buffer }): string =>
        new X509Certificate(c.cert).fingerprint256;
      assert.equal(await servedFingerprint(port), fingerprint(first));
      copyFileSync(second.keyPath, served.keyPath);
      copyFileSync(second.certPath, served.certPath);
      await waitFor(
        'the renewed certificate',
        async () => (await servedFingerprint(port)) === fingerprint(second),
        {
          timeoutMs: 10_000,
        },
      );
    } finally {
      await proxy.close();
      await Promise.all(backends.map((b) => b.close()));
      await store.close();
      first.remove();
      second.remove();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function h2(
  session: ReturnType<typeof connect>,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let responseHeaders: Record<string, unknown> = {};
    let text = '';
    stream.on('response', (h) => {
      status = Number(h[constants.HTTP2_HEADER_STATUS]);
      responseHeaders = h;
    });
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (text += c));
    stream.on('end', () => resolve({ status, headers: responseHeaders, body: text }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}
