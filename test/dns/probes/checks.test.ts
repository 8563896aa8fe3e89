// The DNS check against a real UDP responder on loopback: NOERROR passes, NXDOMAIN fails, an empty
// answer fails when `expectAnswer` is set, and silence fails at the timeout.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { probeCheckSchema } from '../../../src/config/region-health-schema.js';
import { runProbe } from '../../../src/dns/probes/checks.js';

/** Replies to every query with its own question, QR set and the given RCODE (no answers). */
async function responder(rcode: number): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, peer) => {
    const reply = Buffer.from(msg);
    reply[2] = (reply[2] ?? 0) | 0x80;
    reply[3] = rcode;
    socket.send(reply, peer.port, peer.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

void describe('DNS probe', () => {
  let ok: Socket;
  let nx: Socket;
  let silent: Socket;
  const portOf = (s: Socket): number => s.address().port;
  const check = (port: number, extra: Record<string, unknown> = {}) =>
    probeCheckSchema.parse({ type: 'dns', name: 'www.example.test', port, timeoutMs: 300, ...extra });

  before(async () => {
    ok = await responder(0);
    nx = await responder(3);
    silent = createSocket('udp4');
    silent.bind(0, '127.0.0.1');
    await once(silent, 'listening');
  });
  after(() => {
    for (const s of [ok, nx, silent]) s.close();
  });

  void it('passes on NOERROR and fails on NXDOMAIN, on an empty answer when one is expected, and on silence', async () => {
    assert.equal((await runProbe(check(portOf(ok)), '127.0.0.1')).ok, true);
    const nxdomain = await runProbe(check(portOf(nx)), '127.0.0.1');
    assert.equal(nxdomain.ok, false);
    assert.match(nxdomain.detail, /rcode 3/);
    const empty = await runProbe(check(portOf(ok), { expectAnswer: true }), '127.0.0.1');
    assert.equal(empty.ok, false);
    assert.match(empty.detail, /no answer/);
    const started = Date.now();
    const timedOut = await runProbe(check(portOf(silent)), '127.0.0.1');
    assert.equal(timedOut.ok, false);
    assert.match(timedOut.detail, /timed out/);
    assert.ok(Date.now() - started < 2000);
  });
});
