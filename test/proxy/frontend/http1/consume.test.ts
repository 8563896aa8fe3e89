// The front-end's parser reads each connection's handle directly (`parser.consume`, as node:http
// does): no 'data' event or Buffer per read. What that path must still get right, on a bare
// Http1Server over real sockets: backpressure (a full request body and a full pipeline queue stop
// the handle, and reading resumes), and an upgrade, whose bytes after the head come from the
// parser's current buffer and whose later bytes reach the socket's stream again.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../../../../src/infra/logger.js';
import { createHttp1Server, type Http1Server } from '../../../../src/proxy/frontend/http1/server.js';

interface Handle {
  _consumed?: boolean;
}

/** Everything a socket has received so far (kept across reads; the socket stays open). */
const received = new WeakMap<Socket, { text: string }>();

/** Waits until the text received on `socket` satisfies `done`, or fails after 5 s. */
async function readUntil(socket: Socket, done: (text: string) => boolean): Promise<string> {
  let seen = received.get(socket);
  if (seen === undefined) {
    const record = { text: '' };
    seen = record;
    received.set(socket, record);
    socket.on('data', (chunk: Buffer) => (record.text += chunk.toString('latin1')));
  }
  const record = seen;
  const deadline = Date.now() + 5000;
  while (!done(record.text)) {
    if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(record.text.slice(-300))}`);
    if (socket.destroyed)
      throw new Error(`connection closed; got ${JSON.stringify(record.text.slice(-300))}`);
    await sleep(5);
  }
  return record.text;
}

void describe('HTTP/1.1 front-end reading through a consumed handle', { timeout: 30_000 }, () => {
  let server: Http1Server;
  let port = 0;
  const consumed: boolean[] = [];

  before(async () => {
    const made = createHttp1Server(
      { idleMs: 10_000, headersMs: 10_000, logger: silentLogger },
      (req, res) => {
        consumed.push((req.socket as unknown as { _handle: Handle })._handle._consumed === true);
        if (req.body === null) {
          res.writeHead(200, ['content-length', String(req.url.length)]).end(req.url);
          return;
        }
        // A slow reader: the body's buffer fills and the connection must stop reading meanwhile.
        let bytes = 0;
        const body = req.body;
        const readSlowly = async (): Promise<void> => {
          for await (const chunk of body) {
            bytes += (chunk as Buffer).length;
            if (bytes < 1 << 20) await sleep(1);
          }
          res.writeHead(200, ['content-length', String(String(bytes).length)]).end(String(bytes));
        };
        void readSlowly();
      },
      (req, socket, head) => {
        // Echoes the bytes that came with the head, then everything read later.
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n`);
        socket.write(`head=${head.toString('latin1')};`);
        socket.on('data', (data: Buffer) => socket.write(`data=${data.toString('latin1')};`));
        socket.resume();
        consumed.push((socket as unknown as { _handle: Handle })._handle._consumed === true);
        void req;
      },
    );
    if (typeof made === 'string') assert.fail(made);
    server = made;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  void it('hands requests over from a consumed handle', async () => {
    consumed.length = 0;
    const socket = connect(port, '127.0.0.1');
    socket.write('GET /one HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    const text = await readUntil(socket, (t) => t.endsWith('/one'));
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.deepEqual(consumed, [true]);
    socket.destroy();
  });

  void it('answers 100 pipelined requests sent in one write, in order (the queue pauses reading)', async () => {
    const socket = connect(port, '127.0.0.1');
    let burst = '';
    for (let i = 0; i < 100; i++) burst += `GET /p${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
    socket.write(burst);
    const text = await readUntil(socket, (t) => t.endsWith('/p99'));
    const bodies = [...text.matchAll(/\r\n\r\n(\/p\d+)/g)].map((m) => m[1]);
    assert.deepEqual(
      bodies,
      Array.from({ length: 100 }, (_, i) => `/p${i}`),
    );
    socket.destroy();
  });

  void it('reads an 8 MiB body that a slow handler drains (the handle stops and restarts)', async () => {
    const size = 8 << 20;
    const socket = connect(port, '127.0.0.1');
    socket.write(`POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let sent = 0; sent < size; sent += chunk.length) {
      if (!socket.write(chunk)) await once(socket, 'drain');
    }
    // A second request on the same connection: the parser is back in step after the body.
    socket.write('GET /after HTTP/1.1\r\nHost: a\r\n\r\n');
    const text = await readUntil(socket, (t) => t.endsWith('/after'));
    assert.match(text, new RegExp(`\\r\\n\\r\\n${size}HTTP/1\\.1 200 OK`));
    socket.destroy();
  });

  void it('gives an upgrade the bytes that followed its head, and the later ones through the socket', async () => {
    consumed.length = 0;
    const socket = connect(port, '127.0.0.1');
    socket.write('GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nfirst');
    await readUntil(socket, (t) => t.endsWith('head=first;'));
    // The handle no longer feeds the parser: later bytes are plain socket data.
    assert.deepEqual(consumed, [false]);
    socket.write('second');
    const text = await readUntil(socket, (t) => t.includes('data=second;'));
    assert.match(text, /data=second;/);
    socket.destroy();
  });
});
