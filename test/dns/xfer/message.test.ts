// The transfer layer's message reader and TSIG on hand-built messages: a signed AXFR request reads
// back with its TSIG and verifies; a byte changed anywhere makes it unreadable or fail verification,
// never throws; the hot-path filter sends plain queries past the transfer layer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dnsSchema } from '../../../src/config/dns-schema.js';
import { needsTransferLayer, readTransferMessage, TYPE_TSIG } from '../../../src/dns/xfer/message.js';
import { TSIG_ERROR, TsigSigner, tsigKeyring, verifyRequest } from '../../../src/dns/xfer/tsig.js';

const keys = tsigKeyring(
  dnsSchema.parse({
    tsigKeys: [
      { name: 'Xfer-Key.', algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 4).toString('base64') },
    ],
  }).tsigKeys,
);
const key = keys.get('xfer-key')!;
const NOW = 1_800_000_000;

function query(name: string, qtype: number, additional: Buffer[] = []): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(0x4242, 0);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(additional.length, 10);
  const qtail = Buffer.alloc(4);
  qtail.writeUInt16BE(qtype, 0);
  qtail.writeUInt16BE(1, 2);
  const labels = name
    .split('.')
    .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  return Buffer.concat([header, ...labels, Buffer.from([0]), qtail, ...additional]);
}

const OPT = Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);

describe('transfer messages and TSIG', () => {
  const signed = new TsigSigner(key, undefined, () => NOW).sign(query('Example.Test', 252));

  it('reads a signed AXFR request and verifies it; the clock and the key are checked', () => {
    const m = readTransferMessage(signed);
    assert.ok(m !== undefined);
    assert.equal(m.question.name, 'example.test');
    assert.equal(m.question.wire.toString('latin1', 1, 8), 'Example', 'question case kept');
    assert.equal(m.question.qtype, 252);
    assert.ok(m.tsig !== undefined);
    assert.equal(m.tsig.keyName, 'xfer-key');
    assert.equal(m.tsig.algorithm, 'hmac-sha256');
    assert.equal(m.tsig.timeSigned, NOW);
    assert.deepEqual(verifyRequest(signed, m.tsig, keys, NOW + 299), { ok: true, key, mac: m.tsig.mac });
    const late = verifyRequest(signed, m.tsig, keys, NOW + 301);
    assert.equal(late.ok, false);
    assert.equal(late.ok ? 0 : late.error, TSIG_ERROR.BADTIME);
    const unknown = verifyRequest(signed, m.tsig, new Map(), NOW);
    assert.equal(unknown.ok ? 0 : unknown.error, TSIG_ERROR.BADKEY);
  });

  it('never throws on a changed byte, and never verifies one changed in the signed part', () => {
    let verified = 0;
    for (let i = 0; i < signed.length; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bad = Buffer.from(signed);
        bad[i] = bad[i]! ^ flip;
        needsTransferLayer(bad);
        const m = readTransferMessage(bad);
        if (m?.tsig === undefined) continue;
        const v = verifyRequest(bad, m.tsig, keys, NOW);
        if (v.ok) verified++;
        // A flip after the header ID must never pass: the ID is replaced by the original-ID field
        // for the MAC (which the MAC covers), and a TSIG record of another class or TTL is malformed.
        if (i >= 2) assert.equal(v.ok, false, `byte ${i} ^ ${flip} still verified`);
      }
    }
    // Only flips of the header ID (bytes 0-1, replaced by the original ID) keep a valid signature.
    assert.equal(verified, 6);
    for (let len = 0; len < signed.length; len++)
      assert.equal(readTransferMessage(signed.subarray(0, len)), undefined);
  });

  it('lets plain queries (with or without an OPT) pass, and takes transfers, NOTIFY and signed queries', () => {
    assert.equal(needsTransferLayer(query('www.example.test', 1)), false);
    assert.equal(needsTransferLayer(query('www.example.test', 1, [OPT])), false);
    assert.equal(needsTransferLayer(query('example.test', 252)), true);
    assert.equal(needsTransferLayer(query('example.test', 251, [OPT])), true);
    const notify = query('example.test', 6);
    notify[2] = 4 << 3;
    assert.equal(needsTransferLayer(notify), true);
    const signedSoa = new TsigSigner(key, undefined, () => NOW).sign(query('example.test', 6, [OPT]));
    assert.equal(needsTransferLayer(signedSoa), true);
    assert.equal(readTransferMessage(signedSoa)?.tsig?.keyName, 'xfer-key');
    // A TSIG that is not the last record is malformed.
    const tsigFirst = Buffer.from(signedSoa);
    assert.equal(TYPE_TSIG, 250);
    tsigFirst.writeUInt16BE(3, 10);
    assert.equal(readTransferMessage(Buffer.concat([tsigFirst, OPT])), undefined);
  });
});
