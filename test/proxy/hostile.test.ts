// Hostile HTTP through a running proxy, on both plaintext front-ends (node:http and Meridian's
// llhttp one): WAF path rules cannot be dodged with dot segments, double slashes, encoded
// unreserved characters or an absolute-form target, and the backend receives the normalised
// origin-form; an upgrade the backend refuses (403) or ignores (200) reaches the client as the
// backend sent it, in one attempt, and never costs the backend its health (issue #12 items 3, 4).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MemoryPolicyStore } from '../../src/storage/memory/policy-store.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import { startTestProxy, type TestProxy } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait.js';

const FRONT_ENDS = ['node', 'meridian'] as const;
const WAIT_MS = 5000;

/** A backend that echoes the target it received; upgrades are refused with a 403 or ignored. */
interface PlainBackend {
  readonly id: string;
  readonly url: string;
  /** Targets received (health checks excluded), upgrades included. */
  readonly targets: string[];
  close(): Promise<void>;
}

async function startPlainBackend(id: string, upgrades: 'refuse' | 'ignore'): Promise<PlainBackend> {
  const targets: string[] = [];
  const server: Server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.end('ok');
      return;
    }
    targets.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-plain-backend', id);
    res.end(JSON.stringify({ backend: id, url: req.url }));
  });
  if (upgrades === 'refuse') {
    // Without this listener node:http answers an upgrade request as an ordinary one (it ignores Upgrade).
    server.on('upgrade', (req, socket) => {
      targets.push(req.url ?? '');
      socket.end(
        'HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nx-plain-backend: ' +
          `${id}\r\ncontent-length: 12\r\nconnection: close\r\n\r\nno upgrades\n`,
      );
    });
  }
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    id,
    url: `http://127.0.0.1:${port}`,
    targets,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Sends raw bytes on a fresh connection and reads the answer until the proxy closes it. */
function exchange(port: number, bytes: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer to ${JSON.stringify(bytes.slice(0, 60))}`));
    }, WAIT_MS);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: text.slice(split + 4) });
    });
    socket.write(bytes);
  });
}

function get(target: string, host = 'shop.example', extra = ''): string {
  return `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`;
}

function errorCodeOf(answer: RawAnswer): string {
  return (JSON.parse(answer.body) as { error: { code: string } }).error.code;
}

for (const http1Server of FRONT_ENDS) {
  void describe(`request targets are normalised before policies and forwarding (${http1Server})`, () => {
    let state: MemoryStateStore;
    let policies: MemoryPolicyStore;
    let backend: PlainBackend;
    let proxy: TestProxy;

    before(async () => {
      backend = await startPlainBackend('n1', 'ignore');
      state = new MemoryStateStore();
      await state.start();
      await state.createRegion({ id: 'r1', lat: 0, lon: 0, ipv4: ['127.0.0.1'] });
      await state.createBackend('r1', { id: backend.id, url: backend.url, weight: 100 });
      policies = new MemoryPolicyStore();
      await policies.start();
      await policies.put({
        id: 'waf',
        type: 'waf',
        rules: [{ id: 'no-admin', target: 'path', pattern: '^/admin', action: 'block' }],
      });
      proxy = await startTestProxy({
        store: state,
        region: 'r1',
        config: { http1Server },
        policies: { store: policies, keyPrefix: 'test:' },
      });
      await waitFor('the backend healthy', () => proxy.proxy.backendStates().every((s) => s.healthy), {
        timeoutMs: WAIT_MS,
      });
    });

    after(async () => {
      await proxy?.close(500);
      await policies?.close();
      await state?.close();
      await backend?.close();
    });

    for (const target of [
      '/admin',
      '/x/../admin',
      '/./admin',
      '//admin',
      '/%61dmin',
      '/%2e%2e/admin/users',
      'http://shop.example/admin',
    ]) {
      void it(`blocks ${target} by the rule on ^/admin, and the backend sees nothing`, async () => {
        const seen = backend.targets.length;
        const answer = await exchange(proxy.port, get(target));
        assert.equal(answer.status, 403, answer.body);
        assert.equal(errorCodeOf(answer), 'E_WAF_BLOCKED');
        assert.equal(backend.targets.length, seen);
      });
    }

    void it('forwards the normalised origin-form (query untouched, %2F kept encoded)', async () => {
      const cases: [string, string][] = [
        ['/a/./b/../c//d?x=/../y', '/a/c/d?x=/../y'],
        ['/%7Euser/a%2Fb/%41', '/~user/a%2Fb/A'],
        ['/files/%c3%a9', '/files/%C3%A9'],
        ['http://shop.example/ok?q=1', '/ok?q=1'],
        ['http://SHOP.example:80', '/'],
      ];
      for (const [sent, received] of cases) {
        const answer = await exchange(proxy.port, get(sent));
        assert.equal(answer.status, 200, `${sent}: ${answer.body}`);
        assert.equal((JSON.parse(answer.body) as { url: string }).url, received, sent);
      }
    });

    void it('applies the same normalisation and WAF rules to an upgrade request', async () => {
      const seen = backend.targets.length;
      const answer = await exchange(
        proxy.port,
        get('/x/../admin/socket', 'shop.example', 'Upgrade: websocket\r\n').replace(
          'Connection: close',
          'Connection: Upgrade',
        ),
      );
      assert.equal(answer.status, 403, answer.body);
      assert.equal(errorCodeOf(answer), 'E_WAF_BLOCKED');
      assert.equal(answer.headers.connection, 'close');
      assert.equal(backend.targets.length, seen);
    });

    void it('answers an absolute-form target whose authority is not Host with a 400', async () => {
      const seen = backend.targets.length;
      for (const bytes of [get('http://other.example/ok'), get('http://user@shop.example/ok'), get('/%zz')]) {
        const answer = await exchange(proxy.port, bytes);
        assert.equal(answer.status, 400, answer.body);
        assert.equal(errorCodeOf(answer), 'E_BAD_REQUEST');
      }
      assert.equal(backend.targets.length, seen);
    });
  });

  void describe(`an upgrade the backend does not accept is passed through (${http1Server})`, () => {
    let state: MemoryStateStore;
    const backends: PlainBackend[] = [];
    const proxies: TestProxy[] = [];

    before(async () => {
      state = new MemoryStateStore();
      await state.start();
      for (const [region, mode] of [
        ['refuses', 'refuse'],
        ['ignores', 'ignore'],
      ] as const) {
        const backend = await startPlainBackend(`${region}-1`, mode);
        backends.push(backend);
        await state.createRegion({ id: region, lat: 0, lon: 0, ipv4: ['127.0.0.1'] });
        await state.createBackend(region, { id: backend.id, url: backend.url, weight: 100 });
        const proxy = await startTestProxy({ store: state, region, config: { http1Server } });
        proxies.push(proxy);
        await waitFor('the backend healthy', () => proxy.proxy.backendStates().every((s) => s.healthy), {
          timeoutMs: WAIT_MS,
        });
      }
    });

    after(async () => {
      await Promise.all(proxies.map((p) => p.close(500)));
      await state?.close();
      await Promise.all(backends.map((b) => b.close()));
    });

    const upgrade = (target: string): string =>
      get(
        target,
        'shop.example',
        'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n',
      ).replace('Connection: close', 'Connection: Upgrade');

    void it('gives the client the backend’s 403 or 200 as is, one attempt each, and keeps both backends healthy', async () => {
      const [refusing, ignoring] = backends as [PlainBackend, PlainBackend];
      const [refusingProxy, ignoringProxy] = proxies as [TestProxy, TestProxy];
      // More than outlier.consecutiveFailures (5): before the fix each of these ejected the backend.
      for (let i = 0; i < 7; i++) {
        const refused = await exchange(refusingProxy.port, upgrade(`/ws?i=${i}`));
        assert.equal(refused.status, 403);
        assert.equal(refused.body, 'no upgrades\n');
        assert.equal(refused.headers['x-plain-backend'], refusing.id);
        const ignored = await exchange(ignoringProxy.port, upgrade(`/ws?i=${i}`));
        assert.equal(ignored.status, 200);
        assert.deepEqual(JSON.parse(ignored.body), { backend: ignoring.id, url: `/ws?i=${i}` });
      }
      assert.equal(refusing.targets.length, 7, 'one attempt per upgrade');
      assert.equal(ignoring.targets.length, 7, 'one attempt per upgrade');
      for (const proxy of proxies) {
        assert.deepEqual(
          proxy.proxy.backendStates().map((s) => s.healthy),
          [true],
          'a client’s upgrade never costs the backend its health',
        );
        const metrics = await proxy.proxy.proxyMetrics();
        assert.doesNotMatch(metrics, /meridian_proxy_retries_total(\{[^}]*\})? [1-9]/);
        assert.doesNotMatch(metrics, /meridian_proxy_ejections_total\{[^}]*\} [1-9]/);
      }
    });
  });
}
