// The native UDP batching addon (src/dns/native, wrapped by src/dns/transport/udp-batch.ts) on real sockets on
// 127.0.0.1 and ::1: batches really form, every reply reaches its sender, client addresses arrive as
// the bytes of the address node:dgram names, drops and errors are counted, SO_REUSEPORT, close, and the DNS listeners
// giving the same dig answers with the addon and with the node:dgram fallback.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRuntime, type Runtime } from '../../../src/dns/runtime.js';
import { DnsListeners } from '../../../src/dns/transport/server.js';
import { BatchedUdpSocket, loadUdpBatch, udpBatchLoadError } from '../../../src/dns/transport/udp-batch.js';
import { addressFromText, addressText } from '../../../src/dns/wire/address.js';
import type { Logger } from '../../../src/infra/logger.js';
import { silentLogger } from '../../../src/infra/logger.js';
import { MemoryStateStore } from '../../../src/storage/memory/state-store.js';
import { dig, type DigResult } from '../../helpers/dig.js';
import { GEO_DB, REGIONS, REPO, startFixture, testDnsConfig } from '../fixture.js';
import { waitFor } from '../../helpers/wait.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCP port free on ::1 right now. */
function freeTcpPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen({ host: '::1', port: 0, ipv6Only: true }, () => {
      const address = s.address();
      s.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function udpClient(family: 4 | 6): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket(family === 6 ? 'udp6' : 'udp4');
    s.once('error', reject);
    s.bind(0, family === 6 ? '::1' : '127.0.0.1', () => {
      s.off('error', reject);
      s.setRecvBufferSize(1 << 20);
      resolve(s);
    });
  });
}

function closeAll(sockets: readonly Socket[]): void {
  for (const s of sockets) s.close();
}

/** Collects replies per client until `want` arrived in total or `ms` passed. */
function collect(clients: readonly Socket[], want: number, ms: number): Promise<string[][]> {
  const got = clients.map(() => [] as string[]);
  let total = 0;
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      clients.forEach((c) => c.removeAllListeners('message'));
      resolve(got);
    };
    const timer = setTimeout(done, ms);
    clients.forEach((c, i) =>
      c.on('message', (m) => {
        got[i]!.push(m.toString('latin1'));
        if (++total >= want) done();
      }),
    );
  });
}

/** What node:dgram says each client's address is (a reference dgram server sees one packet each). */
async function dgramViewOf(clients: readonly Socket[], family: 4 | 6): Promise<string[]> {
  const host = family === 6 ? '::1' : '127.0.0.1';
  const ref = createSocket(family === 6 ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
  await new Promise<void>((r) => ref.bind(0, host, () => r()));
  const byPort = new Map<number, string>();
  const all = new Promise<void>((resolve) => {
    ref.on('message', (_m, rinfo) => {
      byPort.set(rinfo.port, rinfo.address);
      if (byPort.size === clients.length) resolve();
    });
  });
  for (const c of clients) c.send('who', ref.address().port, host);
  await Promise.race([all, sleep(2000)]);
  ref.close();
  return clients.map((c) => byPort.get(c.address().port) ?? '?');
}

async function echoBurst(family: 4 | 6): Promise<void> {
  const host = family === 6 ? '::1' : '127.0.0.1';
  // The handler tags every reply with the client address bytes it was given, as text.
  const server = BatchedUdpSocket.bind(host, 0, false, (msg, client) =>
    Buffer.from(`${addressText(client)}|${msg.toString('latin1')}`, 'latin1'),
  );
  const clients = await Promise.all([1, 2, 3, 4].map(() => udpClient(family)));
  try {
    // The same sender as node:dgram names it, parsed to bytes and printed the same way.
    const expectedAddress = (await dgramViewOf(clients, family)).map((text) => {
      const bytes = addressFromText(text);
      return bytes === undefined ? '?' : addressText(bytes);
    });
    assert.ok(!expectedAddress.includes('?'), 'the reference dgram server saw every client');
    const perRound = 40;
    const rounds = 4;
    const replies = clients.map(() => [] as string[]);
    for (let round = 0; round < rounds; round++) {
      const pending = collect(clients, clients.length * perRound, 5000);
      // Sent synchronously, so the packets queue up and are read in batches.
      for (let seq = 0; seq < perRound; seq++)
        clients.forEach((c, i) => c.send(`c${i}-r${round}-s${seq}`, server.port, host));
      (await pending).forEach((got, i) => replies[i]!.push(...got));
    }
    const total = clients.length * perRound * rounds;
    clients.forEach((_c, i) => {
      const want: string[] = [];
      for (let round = 0; round < rounds; round++)
        for (let seq = 0; seq < perRound; seq++) want.push(`${expectedAddress[i]}|c${i}-r${round}-s${seq}`);
      assert.deepEqual(replies[i]!.slice().sort(), want.sort(), `client ${i} got exactly its own replies`);
    });
    const st = server.stats();
    assert.equal(st.received, total);
    assert.equal(st.sent, total);
    assert.ok(st.batches < st.received / 4, `batches of several datagrams (${st.batches} for ${total})`);
    assert.equal(st.truncatedDrops + st.sendErrors + st.sendDrops + st.handlerErrors, 0);
  } finally {
    closeAll(clients);
    server.close();
  }
}

/** Runs a TypeScript snippet in a child process; resolves with its exit code and output. */
function runChild(
  code: string,
  timeoutMs: number,
): Promise<{ code: number | null; signal: string | null; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-udp-batch-'));
  const file = join(dir, 'child.mts'); // ESM wherever the temp folder is
  writeFileSync(file, code);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', file],
      { cwd: REPO, timeout: timeoutMs, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        rmSync(dir, { recursive: true, force: true });
        const e = err as (Error & { code?: number | string; signal?: string }) | null;
        resolve({
          code: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
          signal: e?.signal ?? null,
          out: `${stdout}${stderr}`,
        });
      },
    );
  });
}

const WRAPPER = JSON.stringify(join(REPO, 'src/dns/transport/udp-batch.ts'));

void describe('native UDP batching addon', () => {
  void it('loads on this machine (npm ci builds it)', () => {
    const m = loadUdpBatch();
    assert.ok(m !== undefined, `addon did not load: ${udpBatchLoadError()}`);
    assert.equal(m.supported, true);
    assert.equal(m.batchSize, 64);
    assert.equal(m.slotSize, 4096);
  });

  void it('echoes bursts from several IPv4 clients in batches, each reply to its sender', async () => {
    await echoBurst(4);
  });

  void it('echoes bursts from several IPv6 clients in batches, each reply to its sender', async () => {
    await echoBurst(6);
  });

  void it('sends nothing when the handler returns undefined, survives a throwing handler', async () => {
    const errors: unknown[] = [];
    const logger = { error: (obj: unknown) => errors.push(obj) } as unknown as Logger;
    const server = BatchedUdpSocket.bind(
      '127.0.0.1',
      0,
      false,
      (msg) => {
        const text = msg.toString();
        if (text.startsWith('drop')) return undefined;
        if (text.startsWith('boom')) throw new Error('handler failure');
        return Buffer.from(`ok:${text}`);
      },
      { logger },
    );
    const client = await udpClient(4);
    try {
      const pending = collect([client], 30, 1500);
      for (let i = 0; i < 30; i++) {
        client.send(`drop${i}`, server.port, '127.0.0.1');
        client.send(`boom${i}`, server.port, '127.0.0.1');
        client.send(`echo${i}`, server.port, '127.0.0.1');
      }
      const got = (await pending)[0]!;
      assert.deepEqual(got.sort(), Array.from({ length: 30 }, (_, i) => `ok:echo${i}`).sort());
      await sleep(200); // nothing else arrives
      const st = server.stats();
      assert.equal(st.received, 90);
      assert.equal(st.sent, 30);
      assert.equal(st.handlerErrors, 30);
      assert.ok(errors.length >= 1 && errors.length <= 10, `error logs are rate-limited (${errors.length})`);
    } finally {
      client.close();
      server.close();
    }
  });

  void it('drops and counts a datagram larger than a slot and an oversize reply, then keeps serving', async () => {
    const server = BatchedUdpSocket.bind('127.0.0.1', 0, false, (msg) =>
      msg.toString() === 'huge-reply' ? Buffer.alloc(5000) : Buffer.from(`len=${msg.length}`),
    );
    const client = await udpClient(4);
    try {
      let pending = collect([client], 1, 500);
      client.send(Buffer.alloc(5000, 0x41), server.port, '127.0.0.1');
      assert.deepEqual((await pending)[0], []);
      pending = collect([client], 1, 500);
      client.send('huge-reply', server.port, '127.0.0.1');
      assert.deepEqual((await pending)[0], []);
      pending = collect([client], 2, 2000);
      client.send(Buffer.alloc(4096, 0x42), server.port, '127.0.0.1'); // exactly one slot: fine
      client.send('small', server.port, '127.0.0.1');
      assert.deepEqual((await pending)[0]!.sort(), ['len=4096', 'len=5']);
      const st = server.stats();
      assert.equal(st.truncatedDrops, 1);
      assert.equal(st.oversizeReplies, 1);
      assert.equal(st.received, 4);
      assert.equal(st.sent, 2);
    } finally {
      client.close();
      server.close();
    }
  });

  void it('shares a port between reusePort sockets; without reusePort a second bind fails with EADDRINUSE', async () => {
    const a = BatchedUdpSocket.bind('127.0.0.1', 0, true, () => Buffer.from('a'));
    const b = BatchedUdpSocket.bind('127.0.0.1', a.port, true, () => Buffer.from('b'));
    const clients = await Promise.all(Array.from({ length: 24 }, () => udpClient(4)));
    try {
      assert.equal(b.port, a.port);
      const pending = collect(clients, clients.length, 3000);
      for (const c of clients) c.send('q', a.port, '127.0.0.1');
      const got = (await pending).flat();
      assert.equal(got.length, clients.length);
      // The kernel hashes the senders over both sockets (all 24 on one: probability 2^-23).
      assert.ok(got.includes('a') && got.includes('b'), `both sockets answered: ${got.join('')}`);

      const exclusive = BatchedUdpSocket.bind('127.0.0.1', 0, false, () => undefined);
      try {
        for (const reusePort of [false, true]) {
          assert.throws(
            () => BatchedUdpSocket.bind('127.0.0.1', exclusive.port, reusePort, () => undefined),
            (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE' && err.syscall === 'bind',
          );
        }
        // The reuse group is closed to a socket without SO_REUSEPORT too.
        assert.throws(
          () => BatchedUdpSocket.bind('127.0.0.1', a.port, false, () => undefined),
          (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE',
        );
      } finally {
        exclusive.close();
      }
      assert.throws(
        () => BatchedUdpSocket.bind('not-an-ip', 0, false, () => undefined),
        (err: NodeJS.ErrnoException) => err.code === 'EINVAL',
      );
    } finally {
      closeAll(clients);
      a.close();
      b.close();
    }
  });

  void it('opens SO_REUSEPORT TCP listeners that share a port (tcpListen, for worker threads)', async () => {
    const native = loadUdpBatch();
    assert.ok(native !== undefined);
    const listen = (fd: number, reply: string): Promise<Server> =>
      new Promise((resolve, reject) => {
        const server = createServer((socket) => socket.end(reply));
        server.once('error', reject);
        server.listen({ fd }, () => resolve(server));
      });
    const port = await freeTcpPort();
    const servers = [
      await listen(native.tcpListen({ family: 6, host: '::1', port, backlog: 16 }), 'a'),
      await listen(native.tcpListen({ family: 6, host: '::1', port, backlog: 16 }), 'b'),
    ];
    try {
      const got = await Promise.all(
        Array.from(
          { length: 24 },
          () =>
            new Promise<string>((resolve, reject) => {
              const c = connect({ host: '::1', port });
              let data = '';
              c.on('data', (chunk: Buffer) => (data += chunk.toString()));
              c.on('end', () => resolve(data));
              c.on('error', reject);
            }),
        ),
      );
      // The kernel hashes the connections over both listeners (all 24 on one: probability 2^-23).
      assert.ok(got.includes('a') && got.includes('b'), `both listeners accepted: ${got.join('')}`);
      // A listener without SO_REUSEPORT on the port (node:net's own) is refused, and the other way round.
      const plain = createServer();
      await assert.rejects(
        new Promise<void>((resolve, reject) => {
          plain.once('error', reject);
          plain.listen({ host: '::1', port, ipv6Only: true }, resolve);
        }),
        (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE',
      );
    } finally {
      for (const server of servers) server.close();
    }
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen({ host: '127.0.0.1', port: 0 }, resolve));
    try {
      const address = taken.address();
      assert.ok(address !== null && typeof address === 'object');
      assert.throws(
        () => native.tcpListen({ family: 4, host: '127.0.0.1', port: address.port, backlog: 16 }),
        (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE' && err.syscall === 'bind',
      );
    } finally {
      taken.close();
    }
    assert.throws(
      () => native.tcpListen({ family: 4, host: 'not-an-ip', port: 53, backlog: 16 }),
      (err: NodeJS.ErrnoException) => err.code === 'EINVAL',
    );
    assert.throws(() => native.tcpListen({ family: 4, host: '127.0.0.1', port: 0, backlog: 16 }), TypeError);
  });

  for (const host of ['127.0.0.1', '::1']) {
    void it(`spreads one sender's datagrams across the reusePort group at random (spreadAcross, ${host})`, async () => {
      const family = host === '::1' ? 6 : 4;
      // Each group of sockets answers with its own letter; one client socket sends 200 queries.
      const shares = async (spreadAcross: number): Promise<Map<string, number>> => {
        const a = BatchedUdpSocket.bind(host, 0, true, () => Buffer.from('a'), { spreadAcross });
        const b = BatchedUdpSocket.bind(host, a.port, true, () => Buffer.from('b'), { spreadAcross });
        const client = await udpClient(family);
        try {
          assert.equal(a.spreading, spreadAcross > 1, 'the spread program is attached only when asked');
          assert.equal(b.spreading, spreadAcross > 1);
          const pending = collect([client], 200, 5000);
          for (let i = 0; i < 200; i++) client.send('q', a.port, host);
          const count = new Map<string, number>();
          for (const letter of (await pending)[0]!) count.set(letter, (count.get(letter) ?? 0) + 1);
          return count;
        } finally {
          client.close();
          a.close();
          b.close();
        }
      };
      // The flow hash sends every datagram of one sender (one address and port) to the same socket.
      const hashed = await shares(0);
      assert.equal(
        [...hashed.values()].reduce((x, y) => x + y, 0),
        200,
      );
      assert.equal(hashed.size, 1, `one socket answered everything: ${JSON.stringify([...hashed])}`);
      // At random, each socket gets about half (fewer than 50 of 200: probability below 1e-12).
      const spread = await shares(2);
      assert.equal((spread.get('a') ?? 0) + (spread.get('b') ?? 0), 200);
      for (const letter of ['a', 'b'])
        assert.ok(
          (spread.get(letter) ?? 0) >= 50,
          `socket ${letter} answered ${spread.get(letter) ?? 0} of 200`,
        );
    });
  }
  void it('stops delivery on close (also from inside the handler); close twice is fine', async () => {
    let calls = 0;
    const server = BatchedUdpSocket.bind('127.0.0.1', 0, false, () => {
      calls++;
      return Buffer.from('r');
    });
    const client = await udpClient(4);
    try {
      let pending = collect([client], 1, 2000);
      client.send('one', server.port, '127.0.0.1');
      assert.deepEqual((await pending)[0], ['r']);
      const port = server.port;
      server.close();
      server.close();
      assert.equal(server.closed, true);
      pending = collect([client], 1, 300);
      client.send('two', port, '127.0.0.1');
      assert.deepEqual((await pending)[0], []);
      assert.equal(calls, 1);
      assert.equal(server.stats().received, 1, 'counters stay readable after close');
      // The port is free again at once.
      const again = BatchedUdpSocket.bind('127.0.0.1', port, false, () => undefined);
      again.close();

      // Closed by the handler in the middle of a batch: the rest of the batch is not delivered
      // and nothing is sent.
      let inner = 0;
      const selfClosing: BatchedUdpSocket = BatchedUdpSocket.bind('127.0.0.1', 0, false, () => {
        inner++;
        selfClosing.close();
        return Buffer.from('late');
      });
      pending = collect([client], 1, 400);
      for (let i = 0; i < 20; i++) client.send(`x${i}`, selfClosing.port, '127.0.0.1');
      assert.deepEqual((await pending)[0], []);
      assert.equal(inner, 1);
      assert.equal(selfClosing.stats().sent, 0);
    } finally {
      client.close();
      server.close();
    }
  });

  void it('lets the process exit when unref()ed or closed, and keeps it alive otherwise', async () => {
    const exits = await runChild(
      `import { BatchedUdpSocket } from ${WRAPPER};
       const a = BatchedUdpSocket.bind('127.0.0.1', 0, false, () => undefined);
       const b = BatchedUdpSocket.bind('::1', 0, false, () => undefined);
       a.unref();
       b.close();
       console.log('bound', a.port);`,
      20_000,
    );
    assert.equal(exits.code, 0, exits.out);
    assert.match(exits.out, /bound \d+/);
    const stays = await runChild(
      `import { BatchedUdpSocket } from ${WRAPPER};
       const a = BatchedUdpSocket.bind('127.0.0.1', 0, false, () => undefined);
       a.unref();
       a.ref();
       console.log('bound', a.port);`,
      4000,
    );
    assert.equal(stays.signal, 'SIGKILL', `a referenced socket keeps the process alive: ${stays.out}`);
  });

  void it('survives a worker thread exiting with a socket open or just closed', async () => {
    const addon = JSON.stringify(join(REPO, 'src/dns/transport/native/build/Release/udp_batch.node'));
    const r = await runChild(
      `import { Worker } from 'node:worker_threads';
       const body = (close: boolean) => \`
         const m = require(${addon});
         const h = m.bind({ family: 4, host: '127.0.0.1', port: 0, reusePort: false }, () => {});
         \${close ? 'm.close(h);' : ''}
         process.exit(0);\`;
       for (let i = 0; i < 10; i++) {
         const w = new Worker(body(i % 2 === 1), { eval: true });
         const code = await new Promise((r) => w.once('exit', r));
         if (code !== 0) throw new Error('worker exit ' + code);
       }
       console.log('workers done');`,
      30_000,
    );
    assert.equal(r.code, 0, `${r.signal ?? ''} ${r.out}`);
    assert.match(r.out, /workers done/);
  });

  void it('reports an exception escaping the batch callback as uncaught, never swallows it', async () => {
    const r = await runChild(
      `import { createSocket } from 'node:dgram';
       import { loadUdpBatch } from ${WRAPPER};
       const m = loadUdpBatch()!;
       const h = m.bind({ family: 4, host: '127.0.0.1', port: 0, reusePort: false }, () => {
         throw new Error('escaped from onBatch');
       });
       process.on('uncaughtException', (err) => {
         console.log('uncaught:', err.message);
         m.close(h);
         c.close();
       });
       const c = createSocket('udp4');
       c.send('x', h.port, '127.0.0.1');`,
      20_000,
    );
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /uncaught: escaped from onBatch/);
  });
});

void describe('DNS listeners: batched UDP and the node:dgram fallback', () => {
  let dir: string;
  let store: MemoryStateStore;
  let runtime: Runtime;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meridian-udp-batch-dns-'));
    store = new MemoryStateStore({ file: join(dir, 'state.json'), healthFlushMs: 50 });
    await store.start();
    for (const r of REGIONS) await store.createRegion(r);
    runtime = await createRuntime({
      config: testDnsConfig(),
      geoPaths: [GEO_DB],
      snapshot: () => store.current(),
      logger: silentLogger,
      registries: [],
      startedAt: Date.now(),
      serving: true,
    });
  });
  after(async () => {
    await runtime?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = (udpBatching: boolean, port = 0, host = '127.0.0.1'): Promise<DnsListeners> =>
    DnsListeners.start(
      [
        { host, port },
        { host: '::1', port },
      ],
      {
        handler: (m, c, t) => runtime.responder.handle(m, c, t),
        logger: silentLogger,
        tcpIdleTimeoutMs: 5000,
        udpBatching,
      },
    );

  const summary = (r: DigResult): unknown => ({
    status: r.status,
    flags: r.flags,
    answer: r.answer,
    authority: r.authority,
    additional: r.additional,
    ecs: r.ecs,
    edns: r.edns,
  });

  void it('gives the same dig answers with udpBatching true and false', async () => {
    const queries = [
      ['+norec', '+subnet=198.51.100.0/24', 'www.example.test', 'A'],
      ['+norec', '+subnet=203.0.113.0/24', 'www.example.test', 'A'],
      ['+norec', 'example.test', 'SOA'],
      ['+norec', 'nope.example.test', 'A'],
      ['+norec', '+noedns', 'mail.example.test', 'A'],
      ['+norec', 'example.net', 'A'],
    ];
    const results: Record<string, unknown[]> = {};
    for (const udpBatching of [false, true]) {
      const listeners = await start(udpBatching);
      try {
        assert.equal(listeners.udpEngine, udpBatching ? 'batched' : 'dgram');
        const udp = listeners.addresses().filter((a) => a.transport === 'udp');
        assert.equal(udp.length, 2);
        const out: unknown[] = [];
        for (const target of udp) {
          for (const q of queries) {
            const r = await dig(target, q);
            assert.notEqual(r.status, '', `a reply to ${q.join(' ')} over ${target.host}`);
            out.push(summary(r));
          }
        }
        results[String(udpBatching)] = out;
        if (udpBatching) {
          const st = listeners.udpStats();
          assert.equal(st.length, 2);
          assert.equal(
            st.reduce((n, s) => n + s.sent, 0),
            queries.length * 2,
          );
        } else {
          assert.deepEqual(listeners.udpStats(), []);
        }
      } finally {
        await listeners.close();
      }
    }
    assert.deepEqual(results.true, results.false);
  });

  void it('refuses a second single-process server on the same port (EADDRINUSE)', async () => {
    const first = await start(true);
    try {
      const port = first.addresses()[0]!.port;
      await assert.rejects(start(true, port), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
      await assert.rejects(start(false, port), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
    } finally {
      await first.close();
    }
  });
});

void describe('DNS metrics of the batched UDP layer', () => {
  void it('counts a dropped oversize query in meridian_dns_udp_dropped_total and keeps answering', async () => {
    const f = await startFixture();
    try {
      const client = await udpClient(4);
      try {
        client.send(Buffer.alloc(5000, 1), f.v4.port, f.v4.host);
        // Observed, not slept on: the counter moves once the addon has read and dropped it.
        await waitFor(
          'the oversize drop to be counted',
          async () =>
            (await f.registry.metrics()).includes(
              'meridian_dns_udp_dropped_total{reason="oversize_query"} 1',
            ),
          { timeoutMs: 2000, intervalMs: 50 },
        );
      } finally {
        closeAll([client]);
      }
      const text = await f.registry.metrics();
      assert.match(text, /^meridian_dns_udp_dropped_total\{reason="oversize_query"\} 1$/m);
      assert.match(text, /^meridian_dns_udp_dropped_total\{reason="send_buffer_full"\} 0$/m);
      const r = await dig(f.v4, ['www.example.test', 'A', '+subnet=192.0.2.0/24']);
      assert.equal(r.status, 'NOERROR');
    } finally {
      await f.close();
    }
  });
});
