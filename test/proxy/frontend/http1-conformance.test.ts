// The HTTP/1.1 contract of the proxy's plaintext front-end, run once per implementation
// (`proxy.http1Server: node` — node:http — and `meridian`, the llhttp-based one): keep-alive,
// HTTP/1.0, pipelining, request bodies (length, chunked, Expect: 100-continue), responses without
// a body, chunked responses, malformed and oversized requests, idle and slow-header timeouts,
// clients that go away, WebSocket upgrades, response headers and graceful close. Where the bytes on
// the wire matter the tests speak HTTP over raw sockets, with the small response reader below.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { llhttp } from '../../../src/proxy/frontend/http1/llhttp.js';
import type { MemoryStateStore } from '../../../src/storage/memory/state-store.js';
import {
  regionWithBackends,
  startTestProxy,
  type TestBackend,
  type TestProxy,
} from '../../helpers/backends.js';
import { waitFor } from '../../helpers/wait.js';

const SERVERS = ['node', 'meridian'] as const;

// The `meridian` front-end falls back to node:http where Node's parser internals differ; then the
// cases below would test node:http twice. On the Node this project supports, it must be found.
void it("finds Node's llhttp parser for the meridian front-end", () => {
  const binding = llhttp();
  if (typeof binding === 'string') assert.fail(binding);
  assert.ok(binding.methods.includes('GET'));
});
type Http1Server = (typeof SERVERS)[number];

/** Upper bound of every single wait on a socket. */
const WAIT_MS = 3000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The proxy config selecting the front-end under test, merged with `extra`. */
function proxyConfig(http1Server: Http1Server, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { http1Server, ...extra };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.x client connection and response reader.

interface RawResponse {
  /** The version in the status line ("1.1" or "1.0"). */
  readonly version: string;
  readonly status: number;
  /** Header names in lower case; repeated fields joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** How the body was delimited. */
  readonly framing: 'none' | 'length' | 'chunked' | 'close';
  readonly body: Buffer;
}

interface Echo {
  backend: string;
  method: string;
  url: string;
  headers: Record<string, string | undefined>;
}

/** Sockets opened by the tests, destroyed in `after` whatever happened. */
const openConnections = new Set<RawConnection>();

class RawConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly waiters = new Set<() => void>();
  /** The peer sent FIN. */
  ended = false;
  closed = false;
  error: (Error & { code?: string }) | undefined;

  private constructor(readonly socket: Socket) {
    openConnections.add(this);
    socket.on('data', (data: Buffer) => {
      this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', (err) => {
      this.error = err;
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      openConnections.delete(this);
      this.notify();
    });
  }

  static open(port: number, timeoutMs = WAIT_MS): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connecting to port ${port} timed out`));
      }, timeoutMs);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        socket.setNoDelay(true);
        resolve(new RawConnection(socket));
      });
    });
  }

  /** The peer will send nothing more (FIN, reset or closed). */
  get finished(): boolean {
    return this.ended || this.closed || this.error !== undefined;
  }

  /** Bytes received and not consumed by a read yet. */
  get buffered(): number {
    return this.buffer.length;
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err === undefined || err === null ? resolve() : reject(err)));
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Resolves once the peer has closed the connection (what it sent meanwhile stays buffered). */
  async waitClosed(timeoutMs = WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.finished) await this.next(deadline, 'the server to close the connection');
  }

  /**
   * Reads one response (a 1xx one included). `head`: the request was a HEAD (no body follows).
   * The body is delimited as RFC 9112 §6.3 says: none for 1xx/204/304/HEAD, chunked, content-length,
   * or the end of the connection.
   */
  async readResponse(options: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
    const deadline = Date.now() + (options.timeoutMs ?? WAIT_MS);
    const end = await this.indexOf('\r\n\r\n', deadline, 'response headers');
    const head = this.take(end + 4).toString('latin1');
    const [statusLine = '', ...lines] = head.slice(0, -4).split('\r\n');
    const match = /^HTTP\/(1\.[01]) (\d{3})(?: .*)?$/.exec(statusLine);
    if (match === null) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0 || /[\s]/.test(line.slice(0, colon)))
        throw new Error(`bad header line ${JSON.stringify(line)}`);
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      const previous = headers[name];
      headers[name] = previous === undefined ? value : `${previous}, ${value}`;
    }
    const status = Number(match[2]);
    const version = match[1] ?? '';
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    if (options.head === true || status < 200 || status === 204 || status === 304) {
      return { version, status, headers, framing: 'none', body: Buffer.alloc(0) };
    }
    if (te !== undefined) {
      if (!/(^|,)\s*chunked\s*$/i.test(te))
        throw new Error(`transfer-encoding "${te}" does not end in chunked`);
      return { version, status, headers, framing: 'chunked', body: await this.readChunked(deadline) };
    }
    if (cl !== undefined) {
      if (!/^\d+$/.test(cl)) throw new Error(`bad content-length "${cl}"`);
      const length = Number(cl);
      if (!(await this.fill(length, deadline, 'the response body')))
        throw new Error(`connection closed after ${this.buffer.length} of ${length} body bytes`);
      return { version, status, headers, framing: 'length', body: Buffer.from(this.take(length)) };
    }
    while (!this.finished) await this.next(deadline, 'the end of a close-delimited body');
    return { version, status, headers, framing: 'close', body: Buffer.from(this.take(this.buffer.length)) };
  }

  /** Reads the next final (non-1xx) response. */
  async readFinal(options: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
    for (;;) {
      const res = await this.readResponse(options);
      if (res.status >= 200) return res;
    }
  }

  private async readChunked(deadline: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = await this.indexOf('\r\n', deadline, 'a chunk size line');
      const line = this.take(eol + 2)
        .toString('latin1')
        .slice(0, -2);
      const size = /^([0-9a-fA-F]{1,16})(?:[ \t]*;.*)?$/.exec(line);
      if (size === null) throw new Error(`bad chunk size line ${JSON.stringify(line)}`);
      const n = parseInt(size[1] ?? '', 16);
      if (n === 0) break;
      if (!(await this.fill(n + 2, deadline, 'chunk data')))
        throw new Error('connection closed inside a chunk');
      parts.push(Buffer.from(this.take(n)));
      if (this.take(2).toString('latin1') !== '\r\n') throw new Error('chunk data not followed by CRLF');
    }
    for (;;) {
      // Trailer fields, up to the empty line.
      const eol = await this.indexOf('\r\n', deadline, 'the end of the chunked body');
      this.take(eol + 2);
      if (eol === 0) break;
    }
    return Buffer.concat(parts);
  }

  private notify(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /** Waits for the next socket event; throws once `deadline` passed. */
  private next(deadline: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const left = deadline - Date.now();
      if (left <= 0) {
        reject(new Error(`timed out waiting for ${what}`));
        return;
      }
      const wake = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`timed out waiting for ${what}`));
      }, left);
      this.waiters.add(wake);
    });
  }

  private async indexOf(pattern: string, deadline: number, what: string): Promise<number> {
    for (;;) {
      const i = this.buffer.indexOf(pattern, 0, 'latin1');
      if (i >= 0) return i;
      if (this.finished) {
        const seen = JSON.stringify(this.buffer.toString('latin1').slice(0, 200));
        throw new Error(`connection closed while waiting for ${what} (unread: ${seen})`);
      }
      await this.next(deadline, what);
    }
  }

  /** Waits until `n` bytes are buffered; false when the peer finished first. */
  private async fill(n: number, deadline: number, what: string): Promise<boolean> {
    while (this.buffer.length < n) {
      if (this.finished) return false;
      await this.next(deadline, what);
    }
    return true;
  }

  private take(n: number): Buffer {
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }
}

/** A request head (and body) as bytes: `Host` first, then `headers` in order. */
function request(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  options: { version?: '1.0' | '1.1'; body?: string } = {},
): string {
  let text = `${method} ${path} HTTP/${options.version ?? '1.1'}\r\nHost: conformance.test\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  return `${text}\r\n${options.body ?? ''}`;
}

function echoOf(res: RawResponse): Echo {
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  return JSON.parse(res.body.toString('utf8')) as Echo;
}

/** A 200 echo of `path` (by method), with an X-Request-ID. */
function assertEcho(res: RawResponse, method: string, path: string): Echo {
  assert.equal(res.status, 200, res.body.toString('utf8'));
  assert.match(res.headers['x-request-id'] ?? '', UUID);
  const echo = echoOf(res);
  assert.equal(echo.method, method);
  assert.equal(echo.url, path);
  return echo;
}

/** The proxy's own error answer: that status and `{"error": {"code", "message"}}`. */
function assertJsonError(res: RawResponse, status: number): void {
  assert.equal(res.status, status, `status ${res.status}: ${res.body.toString('utf8')}`);
  assert.match(
    res.headers['content-type'] ?? '',
    /^application\/json/,
    `a JSON error body is expected, got content-type ${res.headers['content-type']} and ${JSON.stringify(res.body.toString('utf8'))}`,
  );
  const body = JSON.parse(res.body.toString('utf8')) as {
    error?: { code?: unknown; message?: unknown; requestId?: unknown };
  };
  assert.match(String(body.error?.code), /^E_[A-Z0-9_]+$/);
  assert.equal(typeof body.error?.message, 'string');
  if (body.error?.requestId !== undefined) assert.equal(typeof body.error.requestId, 'string');
}

/** The connection is not closing: no `Connection: close` and the socket still open. */
function assertKeptOpen(conn: RawConnection, res: RawResponse): void {
  assert.doesNotMatch(res.headers.connection ?? '', /close/i, 'the response announced a close');
  assert.equal(conn.finished, false, 'the server closed a keep-alive connection');
}

/** The proxy's in-flight gauge, as scraped. */
async function inFlight(proxy: TestProxy): Promise<number> {
  const text = await proxy.proxy.proxyMetrics();
  const match = /^meridian_proxy_in_flight_requests\{[^}]*\} (\d+)$/m.exec(text);
  if (match === null) throw new Error(`no in-flight gauge in the proxy metrics:\n${text}`);
  return Number(match[1]);
}

/**
 * A backend whose answers all carry a Content-Length (the shared test backends stream theirs
 * chunked), answering every path with the JSON echo; /healthz answers "ok".
 */
async function startFixedLengthBackend(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    const body =
      req.url === '/healthz'
        ? 'ok'
        : JSON.stringify({ backend: 'fixed', method: req.method, url: req.url, headers: req.headers });
    res.writeHead(200, {
      'content-type': req.url === '/healthz' ? 'text/plain' : 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-backend': 'fixed',
    });
    res.end(body);
  });
  server.keepAliveTimeout = 10_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      return closed;
    },
  };
}

// ---------------------------------------------------------------------------------------------

for (const http1Server of SERVERS) {
  void describe(`HTTP/1.1 front-end: ${http1Server}`, () => {
    let store: MemoryStateStore;
    let backends: TestBackend[] = [];
    let backend: TestBackend;
    let proxy: TestProxy;
    const extraProxies: TestProxy[] = [];
    let fixedLength: { url: string; close(): Promise<void> } | undefined;

    /** Another proxy for region `r1` (or `region`), closed in `after`, answering once this returns. */
    const startProxy = async (extra: Record<string, unknown> = {}, region = 'r1'): Promise<TestProxy> => {
      const p = await startTestProxy({ store, region, config: proxyConfig(http1Server, extra) });
      extraProxies.push(p);
      await waitFor('the proxy to answer', async () => (await get(p, '/warm-up')).status === 200, {
        timeoutMs: WAIT_MS,
      });
      return p;
    };

    /** One GET on a fresh connection that is then closed. */
    const get = async (p: TestProxy, path: string): Promise<RawResponse> => {
      const conn = await RawConnection.open(p.port);
      try {
        await conn.write(request('GET', path, { Connection: 'close' }));
        return await conn.readFinal();
      } finally {
        conn.destroy();
      }
    };

    before(async () => {
      ({ store, backends } = await regionWithBackends(1, 'h'));
      backend = backends[0] as TestBackend;
      proxy = await startTestProxy({ store, region: 'r1', config: proxyConfig(http1Server) });
      await waitFor('the proxy to answer', async () => (await get(proxy, '/warm-up')).status === 200, {
        timeoutMs: WAIT_MS,
      });
    });

    // A failed test leaves no connection (nor its request) behind for the next ones.
    afterEach(() => {
      for (const conn of openConnections) conn.destroy();
    });

    after(async () => {
      for (const conn of openConnections) conn.destroy();
      await Promise.all([proxy, ...extraProxies].map((p) => p?.close(500)));
      await Promise.all(backends.map((b) => b.close()));
      await fixedLength?.close();
      await store?.close();
    });

    void it('keeps a connection alive for 50 requests, then honours Connection: close', async () => {
      const conn = await RawConnection.open(proxy.port);
      const ids = new Set<string>();
      for (let i = 0; i < 50; i++) {
        await conn.write(request('GET', `/keep-alive/${i}`));
        const res = await conn.readFinal();
        assertEcho(res, 'GET', `/keep-alive/${i}`);
        assertKeptOpen(conn, res);
        ids.add(res.headers['x-request-id'] ?? '');
      }
      assert.equal(ids.size, 50, 'every response has its own X-Request-ID');
      await conn.write(request('GET', '/keep-alive/last', { Connection: 'close' }));
      const last = await conn.readFinal();
      assertEcho(last, 'GET', '/keep-alive/last');
      assert.match(last.headers.connection ?? '', /\bclose\b/i);
      await conn.waitClosed();
      assert.equal(conn.buffered, 0, 'nothing follows the last response');
    });

    void it('closes an HTTP/1.0 connection after the response unless keep-alive was asked for', async () => {
      const plain = await RawConnection.open(proxy.port);
      await plain.write(request('GET', '/http10', {}, { version: '1.0' }));
      assertEcho(await plain.readFinal(), 'GET', '/http10');
      await plain.waitClosed();
      assert.equal(plain.buffered, 0);

      // With keep-alive, a response of known length leaves the connection usable, and says so
      // (an HTTP/1.0 client assumes a close otherwise). A backend that sends Content-Length, in a
      // region of its own.
      fixedLength = await startFixedLengthBackend();
      await store.createRegion({ id: 'r2', lat: 0, lon: 0, ipv4: ['127.0.0.1'] });
      await store.createBackend('r2', { id: 'fixed', url: fixedLength.url, weight: 100 });
      const fixedProxy = await startProxy({}, 'r2');
      const kept = await RawConnection.open(fixedProxy.port);
      for (const path of ['/http10-ka/1', '/http10-ka/2']) {
        await kept.write(request('GET', path, { Connection: 'keep-alive' }, { version: '1.0' }));
        const res = await kept.readFinal();
        assert.equal(assertEcho(res, 'GET', path).backend, 'fixed');
        assert.equal(res.framing, 'length');
        assert.match(res.headers.connection ?? '', /keep-alive/i);
        assertKeptOpen(kept, res);
      }
      // A body of unknown length (the shared backend streams chunked) to an HTTP/1.0 keep-alive
      // client: a content-length, or the end of the connection, which the response must not then
      // announce as kept alive.
      const unknown = await RawConnection.open(proxy.port);
      await unknown.write(request('GET', '/http10-ka/3', { Connection: 'keep-alive' }, { version: '1.0' }));
      const res = await unknown.readFinal();
      assertEcho(res, 'GET', '/http10-ka/3');
      assert.equal(res.headers['transfer-encoding'], undefined, 'no chunked encoding for HTTP/1.0');
      if (res.framing === 'close') assert.doesNotMatch(res.headers.connection ?? '', /keep-alive/i);
      else {
        assert.equal(res.framing, 'length');
        assert.match(res.headers.connection ?? '', /keep-alive/i);
      }
      kept.destroy();
      unknown.destroy();
    });

    void it('never sends chunked encoding to an HTTP/1.0 client (streamed download)', async () => {
      const conn = await RawConnection.open(proxy.port);
      await conn.write(request('GET', '/download?bytes=100000', {}, { version: '1.0' }));
      const res = await conn.readFinal();
      assert.equal(res.status, 200);
      assert.equal(
        res.headers['transfer-encoding'],
        undefined,
        'chunked encoding sent to an HTTP/1.0 client',
      );
      assert.ok(res.framing === 'length' || res.framing === 'close', res.framing);
      assert.equal(res.body.length, 100000);
      assert.ok(
        res.body.every((b) => b === 0x78),
        'the body is the backend’s bytes',
      );
      await conn.waitClosed();
    });

    void it('answers pipelined requests in order', async () => {
      const conn = await RawConnection.open(proxy.port);
      await conn.write(request('GET', '/a') + request('GET', '/b') + request('GET', '/c'));
      for (const path of ['/a', '/b', '/c']) {
        const res = await conn.readFinal();
        assertEcho(res, 'GET', path);
        assertKeptOpen(conn, res);
      }
      // The connection is still in a clean state.
      await conn.write(request('GET', '/d'));
      assertEcho(await conn.readFinal(), 'GET', '/d');
      conn.destroy();
    });

    void it('forwards a 1 MiB request body sent with Content-Length', async () => {
      const size = 1024 * 1024;
      const conn = await RawConnection.open(proxy.port);
      await conn.write(request('POST', '/upload', { 'Content-Length': String(size) }));
      await conn.write(Buffer.alloc(size, 'u'));
      const res = await conn.readFinal();
      assert.equal(res.status, 200, res.body.toString('utf8'));
      assert.equal((JSON.parse(res.body.toString('utf8')) as { bytes: number }).bytes, size);
      assertKeptOpen(conn, res);
      // The connection carries on after a body.
      await conn.write(request('GET', '/after-upload'));
      assertEcho(await conn.readFinal(), 'GET', '/after-upload');
      conn.destroy();
    });

    void it('reads the whole body of a Connection: close request, then closes', async () => {
      const size = 300 * 1024;
      const conn = await RawConnection.open(proxy.port);
      await conn.write(request('POST', '/upload', { 'Content-Length': String(size), Connection: 'close' }));
      for (let sent = 0; sent < size; sent += 100 * 1024) {
        await conn.write(Buffer.alloc(100 * 1024, 'c'));
        await sleep(20);
      }
      const res = await conn.readFinal();
      assert.equal(res.status, 200, res.body.toString('utf8'));
      assert.equal((JSON.parse(res.body.toString('utf8')) as { bytes: number }).bytes, size);
      assert.match(res.headers.connection ?? '', /\bclose\b/i);
      await conn.waitClosed();
    });

    void it('forwards a chunked request body sent in several writes', async () => {
      const sizes = [1000, 65536, 7, 30000, 1];
      const conn = await RawConnection.open(proxy.port);
      await conn.write(request('POST', '/upload', { 'Transfer-Encoding': 'chunked' }));
      for (const n of sizes) {
        await sleep(20);
        await conn.write(`${n.toString(16)}\r\n${'c'.repeat(n)}\r\n`);
      }
      await sleep(20);
      await conn.write('0\r\n\r\n');
      const res = await conn.readFinal();
      assert.equal(res.status, 200, res.body.toString('utf8'));
      const total = sizes.reduce((a, b) => a + b, 0);
      assert.equal((JSON.parse(res.body.toString('utf8')) as { bytes: number }).bytes, total);
      assertKeptOpen(conn, res);
      await conn.write(request('GET', '/after-chunked'));
      assertEcho(await conn.readFinal(), 'GET', '/after-chunked');
      conn.destroy();
    });

    void it('answers Expect: 100-continue with 100 Continue before the body is sent', async () => {
      const size = 65536;
      const conn = await RawConnection.open(proxy.port);
      await conn.write(
        request('POST', '/upload', { 'Content-Length': String(size), Expect: '100-continue' }),
      );
      const interim = await conn.readResponse();
      assert.equal(interim.status, 100, 'the first response is 100 Continue');
      assert.equal(interim.version, '1.1');
      await conn.write(Buffer.alloc(size, 'e'));
      const res = await conn.readFinal();
      assert.equal(res.status, 200, res.body.toString('utf8'));
      assert.equal((JSON.parse(res.body.toString('utf8')) as { bytes: number }).bytes, size);
      conn.destroy();
    });

    void it('sends no body for HEAD, 204 and 304, and the connection stays in sync', async () => {
      const conn = await RawConnection.open(proxy.port);
      await conn.write(request('HEAD', '/head'));
      const head = await conn.readFinal({ head: true });
      assert.equal(head.status, 200);
      assert.match(head.headers['x-request-id'] ?? '', UUID);
      assertKeptOpen(conn, head);
      // Had the HEAD answer carried body bytes, they would be read as this response's status line.
      await conn.write(request('GET', '/after-head'));
      assertEcho(await conn.readFinal(), 'GET', '/after-head');

      for (const code of [204, 304]) {
        await conn.write(request('GET', `/status?code=${code}`));
        const res = await conn.readFinal();
        assert.equal(res.status, code);
        assert.equal(res.headers['transfer-encoding'], undefined, `${code} with transfer-encoding`);
        if (code === 204) assert.equal(res.headers['content-length'], undefined, '204 with content-length');
        assertKeptOpen(conn, res);
        await conn.write(request('GET', `/after-${code}`));
        assertEcho(await conn.readFinal(), 'GET', `/after-${code}`);
      }
      await sleep(50);
      assert.equal(conn.buffered, 0, 'no stray bytes after the last response');
      conn.destroy();
    });

    void it('relays a streamed backend response with valid framing and every byte', async () => {
      const size = 300_000;
      const conn = await RawConnection.open(proxy.port);
      await conn.write(request('GET', `/download?bytes=${size}`));
      const res = await conn.readFinal();
      assert.equal(res.status, 200);
      assert.ok(res.framing === 'chunked' || res.framing === 'length', `framing: ${res.framing}`);
      assert.equal(res.body.length, size);
      assert.ok(res.body.every((b) => b === 0x78));
      assertKeptOpen(conn, res);
      await conn.write(request('GET', '/after-download'));
      assertEcho(await conn.readFinal(), 'GET', '/after-download');
      conn.destroy();
    });

    const badRequests: [string, string][] = [
      ['a garbage request line', 'HELLO\r\n\r\n'],
      ['an invalid character in a header name', request('GET', '/bad-header', { 'X-Bad(Name': 'x' })],
      [
        'both Content-Length and Transfer-Encoding (smuggling)',
        request(
          'POST',
          '/upload',
          { 'Content-Length': '5', 'Transfer-Encoding': 'chunked' },
          { body: `0\r\n\r\n${request('GET', '/smuggled')}` },
        ),
      ],
      [
        'two different Content-Length values',
        request('POST', '/upload', { 'Content-Length': '5', 'content-length': '6' }, { body: 'hello!' }),
      ],
    ];
    for (const [what, bytes] of badRequests) {
      void it(`answers ${what} with a JSON 400, closes, and forwards nothing`, async () => {
        const seen = backend.requests;
        const conn = await RawConnection.open(proxy.port);
        await conn.write(bytes);
        const res = await conn.readFinal();
        assert.equal(res.status, 400, `status ${res.status}`);
        await conn.waitClosed();
        // A good request afterwards is the only one the backend gets.
        assertEcho(await get(proxy, '/after-bad'), 'GET', '/after-bad');
        assert.equal(backend.requests, seen + 1, 'the backend saw a request from the malformed input');
        assertJsonError(res, 400);
      });
    }

    void it('answers two Host lines with a JSON 400 and forwards nothing', async () => {
      const seen = backend.requests;
      const conn = await RawConnection.open(proxy.port);
      await conn.write('GET /two-hosts HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n');
      assertJsonError(await conn.readFinal(), 400);
      await conn.waitClosed();
      assert.equal(backend.requests, seen);
    });

    for (const version of ['2.0', '1.2', '3.0', '0.9']) {
      void it(`answers an HTTP/${version} request line with a JSON 505 and forwards nothing`, async () => {
        const seen = backend.requests;
        const conn = await RawConnection.open(proxy.port);
        await conn.write(`GET /version HTTP/${version}\r\nHost: conformance.test\r\n\r\n`);
        const res = await conn.readFinal();
        assertJsonError(res, 505);
        assert.match(res.body.toString('utf8'), /"code":"E_VERSION_NOT_SUPPORTED"/);
        await conn.waitClosed();
        assert.equal(backend.requests, seen);
      });
    }

    void it('answers a bad chunk size in a forwarded body with a JSON 400, never a 502, and the backend stays healthy', async () => {
      const conn = await RawConnection.open(proxy.port);
      // The head is valid (the request is handed over and forwarded); the body's framing breaks.
      await conn.write(
        request(
          'POST',
          '/bad-chunk',
          { 'Transfer-Encoding': 'chunked' },
          { body: '5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n' },
        ),
      );
      const res = await conn.readFinal();
      assertJsonError(res, 400);
      assert.match(res.body.toString('utf8'), /"code":"E_BAD_REQUEST"/);
      await conn.waitClosed();
      assert.deepEqual(
        proxy.proxy.backendStates().map((s) => s.healthy),
        [true],
        'the client’s broken framing is not held against the backend',
      );
      assertEcho(await get(proxy, '/after-bad-chunk'), 'GET', '/after-bad-chunk');
    });

    void it('answers an HTTP/1.1 request without Host with a JSON 400 and forwards nothing', async () => {
      const before = backend.requests;
      const conn = await RawConnection.open(proxy.port);
      await conn.write('GET /no-host HTTP/1.1\r\nUser-Agent: conformance\r\n\r\n');
      assertJsonError(await conn.readFinal(), 400);
      conn.destroy();
      // HTTP/1.0 predates Host: still forwarded.
      const old = await RawConnection.open(proxy.port);
      await old.write('GET /no-host-1.0 HTTP/1.0\r\n\r\n');
      assertEcho(await old.readFinal(), 'GET', '/no-host-1.0');
      old.destroy();
      assert.equal(backend.requests, before + 1, 'only the HTTP/1.0 request reached the backend');
    });

    void it('answers a header block over the size limit with a JSON 431 and closes', async () => {
      const seen = backend.requests;
      const conn = await RawConnection.open(proxy.port);
      await conn.write(request('GET', '/big-header', { 'X-Big': 'b'.repeat(20 * 1024) }));
      const res = await conn.readFinal();
      assert.equal(res.status, 431, `status ${res.status}`);
      await conn.waitClosed();
      assertEcho(await get(proxy, '/after-431'), 'GET', '/after-431');
      assert.equal(backend.requests, seen + 1);
      assertJsonError(res, 431);
    });

    void it('closes an idle keep-alive connection after clientIdleMs', async () => {
      const idle = await startProxy({ timeouts: { clientIdleMs: 300 } });
      const conn = await RawConnection.open(idle.port);
      await conn.write(request('GET', '/idle'));
      assertEcho(await conn.readFinal(), 'GET', '/idle');
      const started = Date.now();
      await conn.waitClosed(2000);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 200, `closed after ${elapsed} ms, before the idle timeout`);
      assert.equal(conn.buffered, 0, 'nothing was sent before closing');
    });

    void it('closes a connection whose headers trickle in slower than clientHeadersMs', async () => {
      const slow = await startProxy({ timeouts: { clientHeadersMs: 500 } });
      const conn = await RawConnection.open(slow.port);
      const started = Date.now();
      await conn.write('GET /slow-headers HTTP/1.1\r\nHost: x\r\nX-Trickle: ');
      const trickle = setInterval(() => {
        if (!conn.finished) conn.socket.write('t', () => undefined);
      }, 200);
      try {
        // Meanwhile other clients are served.
        assertEcho(await get(slow, '/while-trickling'), 'GET', '/while-trickling');
        await conn.waitClosed(3000);
      } finally {
        clearInterval(trickle);
      }
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 400, `closed after ${elapsed} ms, before clientHeadersMs`);
      if (conn.buffered > 0) {
        const res = await conn.readFinal();
        assert.equal(res.status, 408, 'the only answer allowed before closing is 408');
      }
      assertEcho(await get(slow, '/after-trickle'), 'GET', '/after-trickle');
    });

    void it('survives a client that disconnects in the middle of a large download', async () => {
      // A proxy of its own, so that its in-flight gauge counts this download alone.
      const aborted = await startProxy();
      const conn = await RawConnection.open(aborted.port);
      await conn.write(request('GET', '/download?bytes=50000000'));
      let received = 0;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${received} bytes arrived`)), WAIT_MS);
        conn.socket.on('data', (data: Buffer) => {
          received += data.length;
          if (received >= 1024 * 1024) {
            clearTimeout(timer);
            conn.socket.pause();
            resolve();
          }
        });
      });
      assert.equal(await inFlight(aborted), 1, 'the download is counted in flight');
      conn.destroy();
      assertEcho(await get(aborted, '/after-abort'), 'GET', '/after-abort');
      await waitFor('the in-flight count to return to 0', async () => (await inFlight(aborted)) === 0, {
        timeoutMs: WAIT_MS,
      });
      assertEcho(await get(aborted, '/after-abort-2'), 'GET', '/after-abort-2');
    });

    void it('proxies a WebSocket upgrade', async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws`);
      const upgradeHeaders: Record<string, unknown> = {};
      ws.on('upgrade', (res) => Object.assign(upgradeHeaders, res.headers));
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('WebSocket open timed out')), WAIT_MS);
          ws.once('open', () => {
            clearTimeout(timer);
            resolve();
          });
          ws.once('error', (err) => {
            clearTimeout(timer);
            reject(err);
          });
        });
        const messages: string[] = [];
        const done = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`echoes so far: ${messages.join(' ')}`)), WAIT_MS);
          ws.on('message', (data) => {
            messages.push((data as Buffer).toString());
            if (messages.length === 2) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
        ws.send('ping');
        ws.send('pong');
        await done;
        assert.deepEqual(messages, [`${backend.id}:ping`, `${backend.id}:pong`]);
        assert.match(String(upgradeHeaders['x-request-id']), UUID);
      } finally {
        ws.terminate();
      }
    });

    void it('sets X-Request-ID, keeps the client’s, and drops hop-by-hop response headers', async () => {
      const conn = await RawConnection.open(proxy.port);
      await conn.write(request('GET', '/traced', { 'X-Request-ID': 'conformance-trace-1' }));
      const traced = await conn.readFinal();
      assert.equal(traced.status, 200);
      assert.equal(traced.headers['x-request-id'], 'conformance-trace-1');
      const echo = echoOf(traced);
      assert.equal(echo.url, '/traced');
      assert.equal(echo.headers['x-request-id'], 'conformance-trace-1');

      await conn.write(request('GET', '/hop'));
      const hop = await conn.readFinal();
      assertEcho(hop, 'GET', '/hop');
      assert.equal(
        hop.headers['x-secret-hop'],
        undefined,
        'a header named in the backend’s Connection passed',
      );
      assert.equal(hop.headers['proxy-authenticate'], undefined);
      assert.doesNotMatch(hop.headers.connection ?? '', /x-secret-hop/i);
      // The proxy may announce its own keep-alive parameters, never the backend's.
      assert.notEqual(hop.headers['keep-alive'], 'timeout=5');
      assert.equal(hop.headers['x-end-to-end'], 'kept');
      assertKeptOpen(conn, hop);

      // The proxy's own answers carry it too.
      await conn.write(request('GET', '/status?code=404'));
      const notFound = await conn.readFinal();
      assert.equal(notFound.status, 404);
      assert.match(notFound.headers['x-request-id'] ?? '', UUID);
      conn.destroy();
    });

    void it('answers before the request body has arrived, drops the rest of it and stays in sync', async () => {
      // No backend in this region: the 503 goes out as soon as the head is read.
      await store.createRegion({ id: `early-${http1Server}`, lat: 0, lon: 0, ipv4: ['127.0.0.1'] });
      const early = await startTestProxy({
        store,
        region: `early-${http1Server}`,
        config: proxyConfig(http1Server),
      });
      extraProxies.push(early);
      const size = 256 * 1024;
      const conn = await RawConnection.open(early.port);
      await conn.write(request('POST', '/early', { 'Content-Length': String(size) }));
      await conn.write(Buffer.alloc(1000, 'a'));
      const first = await conn.readFinal();
      assertJsonError(first, 503);
      assertKeptOpen(conn, first);
      await conn.write(Buffer.alloc(size - 1000, 'a'));
      const id = 'early-second-request';
      await conn.write(request('GET', '/after', { 'X-Request-ID': id }));
      const second = await conn.readFinal();
      assertJsonError(second, 503);
      assert.equal(second.headers['x-request-id'], id, 'the second answer belongs to the second request');
      conn.destroy();
    });

    void it('lets an in-flight request finish on close, then refuses connections', async () => {
      const closing = await startProxy();
      const seen = backend.requests;
      const conn = await RawConnection.open(closing.port);
      await conn.write(request('GET', '/slow?ms=500'));
      await waitFor('the slow request to reach the backend', () => backend.requests === seen + 1, {
        timeoutMs: WAIT_MS,
      });
      const closed = closing.close(3000);
      await sleep(50);
      await assert.rejects(RawConnection.open(closing.port), { code: 'ECONNREFUSED' });
      const res = await conn.readFinal();
      assertEcho(res, 'GET', '/slow?ms=500');
      assert.match(
        res.headers.connection ?? '',
        /\bclose\b/i,
        'the last response on a closing proxy says close',
      );
      await conn.waitClosed();
      await closed;
      await assert.rejects(RawConnection.open(closing.port), { code: 'ECONNREFUSED' });
    });
  });
}
