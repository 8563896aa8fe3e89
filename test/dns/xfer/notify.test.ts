// The NOTIFY sender against a UDP peer played by the test: sent for new and changed serials only,
// held until activated, retried with doubling delays while unanswered, stopped by an answer, and
// signed with the zone's key (the signature checked with the TSIG verifier kdig and Knot agree with,
// see transfer.test.ts and secondary.test.ts).
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { dnsSchema, type DnsConfig } from '../../../src/config/dns-schema.js';
import { ZoneSet } from '../../../src/dns/answer/zones.js';
import { readTransferMessage, type TransferMessage } from '../../../src/dns/xfer/message.js';
import { Notifier, type NotifyOutcome } from '../../../src/dns/xfer/notify.js';
import { TsigSigner, tsigKeyring, verifyRequest } from '../../../src/dns/xfer/tsig.js';
import { silentLogger } from '../../../src/infra/logger.js';
import { waitFor } from '../../helpers/wait.js';

const SECRET = Buffer.alloc(32, 3).toString('base64');

interface Received {
  readonly at: number;
  readonly raw: Buffer;
  readonly message: TransferMessage;
}

/** A UDP peer that records every NOTIFY and answers it when `answering` is set (signed when it was). */
class Peer {
  readonly received: Received[] = [];
  answering = false;
  private readonly keys = tsigKeyring([{ name: 'notify-key', algorithm: 'hmac-sha256', secret: SECRET }]);
  private constructor(private readonly socket: Socket) {
    socket.on('message', (raw, rinfo) => {
      const message = readTransferMessage(raw);
      if (message === undefined) return;
      this.received.push({ at: performance.now(), raw, message });
      if (!this.answering) return;
      // The reply: the query's header with QR set, the question only.
      const reply = Buffer.from(raw.subarray(0, 12));
      reply[2] = reply[2]! | 0x80;
      reply.writeUInt16BE(0, 6);
      reply.writeUInt16BE(0, 8);
      reply.writeUInt16BE(0, 10);
      const unsigned = Buffer.concat([reply, message.question.wire, Buffer.from([0, 6, 0, 1])]);
      const tsig = message.tsig;
      const key = tsig === undefined ? undefined : this.keys.get(tsig.keyName);
      const out =
        tsig === undefined || key === undefined
          ? unsigned
          : new TsigSigner(key, tsig.mac, () => Math.floor(Date.now() / 1000)).sign(unsigned);
      socket.send(out, rinfo.port, rinfo.address);
    });
  }
  static async start(): Promise<Peer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new Peer(socket);
  }
  get port(): number {
    return this.socket.address().port;
  }
  close(): void {
    this.socket.close();
  }
}

function dnsConfig(peerPort: number, signed: boolean): DnsConfig {
  return dnsSchema.parse({
    tsigKeys: [{ name: 'notify-key', algorithm: 'hmac-sha256', secret: SECRET }],
    transfer: { notifyAttempts: 3, notifyRetryMs: 40 },
    zones: [zoneConfig(1, peerPort, signed)],
  });
}

function zoneConfig(serial: number, peerPort: number, signed: boolean): DnsConfig['zones'][number] {
  return dnsSchema.parse({
    tsigKeys: [{ name: 'notify-key', algorithm: 'hmac-sha256', secret: SECRET }],
    zones: [
      {
        name: 'example.test',
        soa: { mname: 'ns1', rname: 'hostmaster', serial },
        ns: ['ns1'],
        records: [{ name: 'ns1', type: 'A', values: ['192.0.2.1'] }],
        transfer: {
          allow: [],
          notify: [`127.0.0.1:${peerPort}`],
          ...(signed ? { tsigKey: 'notify-key' } : {}),
        },
      },
    ],
  }).zones[0]!;
}

describe('NOTIFY sender', () => {
  let peer: Peer;
  before(async () => {
    peer = await Peer.start();
  });
  after(() => peer.close());

  it('waits for activate, retries with doubling delays while unanswered, then gives up', async () => {
    peer.received.length = 0;
    peer.answering = false;
    const notifier = new Notifier({ config: dnsConfig(peer.port, false), logger: silentLogger });
    const outcomes: NotifyOutcome[] = [];
    let gaveUpAt = 0;
    notifier.onOutcome((o) => {
      outcomes.push(o);
      gaveUpAt = performance.now();
    });
    try {
      notifier.zonesCompiled(undefined, new ZoneSet([zoneConfig(1, peer.port, false)]));
      assert.equal(peer.received.length, 0);
      const activatedAt = performance.now();
      notifier.activate();
      await waitFor('the NOTIFY to be given up', () => outcomes.length === 1);
      assert.deepEqual(outcomes[0], {
        zone: 'example.test',
        target: `127.0.0.1:${peer.port}`,
        serial: 1,
        result: 'timeout',
        attempts: 3,
      });
      assert.equal(peer.received.length, 3);
      // Timers never fire early: the attempts wait 40, 80 and 160 ms, so giving up takes at least
      // 280 ms from activation (with fixed 40 ms delays it would be 120 ms).
      assert.ok(gaveUpAt - activatedAt >= 278, `gave up after ${gaveUpAt - activatedAt} ms`);
      for (const r of peer.received) {
        assert.equal(r.message.opcode, 4);
        assert.equal(r.message.question.name, 'example.test');
        assert.equal(r.message.question.qtype, 6);
        assert.equal(r.message.tsig, undefined);
      }
    } finally {
      notifier.close();
    }
  });

  it('stops at the answer, notifies only changed serials, signs with the zone key', async () => {
    peer.received.length = 0;
    peer.answering = true;
    const config = dnsConfig(peer.port, true);
    const notifier = new Notifier({ config, logger: silentLogger });
    const outcomes: NotifyOutcome[] = [];
    notifier.onOutcome((o) => outcomes.push(o));
    notifier.activate();
    try {
      const first = new ZoneSet([zoneConfig(1, peer.port, true)]);
      notifier.zonesCompiled(undefined, first);
      await waitFor('the first NOTIFY to be answered', () => outcomes.length === 1);
      assert.equal(outcomes[0]!.result, 'NOERROR');
      assert.equal(outcomes[0]!.attempts, 1);
      const received = peer.received[0]!;
      assert.ok(received.message.tsig !== undefined, 'NOTIFY is signed');
      const verdict = verifyRequest(
        received.raw,
        received.message.tsig,
        tsigKeyring(config.tsigKeys),
        Math.floor(Date.now() / 1000),
      );
      assert.equal(verdict.ok, true);

      // Same serial recompiled: nothing; a new serial: one more NOTIFY.
      notifier.zonesCompiled(first, new ZoneSet([zoneConfig(1, peer.port, true)]));
      const second = new ZoneSet([zoneConfig(2, peer.port, true)]);
      notifier.zonesCompiled(first, second);
      await waitFor('the second NOTIFY to be answered', () => outcomes.length === 2);
      assert.equal(outcomes[1]!.serial, 2);
      assert.equal(peer.received.length, 2);
    } finally {
      notifier.close();
    }
  });
});
