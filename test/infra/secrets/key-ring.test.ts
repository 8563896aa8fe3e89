// The key ring (src/infra/secrets/): AES-256-GCM sealing bound to a context, rotation between key
// ids, and every way a sealed value can fail to open (tampered, moved, unknown key, wrong key);
// then where keys come from: the key file (0600 checked) and MERIDIAN_KEYS.
import { strict as assert } from 'node:assert';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  KeyRing,
  SealError,
  isSealed,
  newKeyText,
  sealedKeyId,
} from '../../../src/infra/secrets/key-ring.js';
import { loadKeyRing, parseKeyEntries } from '../../../src/infra/secrets/key-source.js';

const K1 = Buffer.alloc(32, 1);
const K2 = Buffer.alloc(32, 2);

function failure(fn: () => unknown): SealError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SealError, `expected a SealError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the value not to open');
}

describe('KeyRing', () => {
  const ring1 = new KeyRing(new Map([['k1', K1]]), 'k1');

  it('seals to enc:v1:<kid>:… and opens back to the plaintext, a fresh IV every time', () => {
    const a = ring1.seal('hunter2 ünïcode', 'user/alice/password');
    const b = ring1.seal('hunter2 ünïcode', 'user/alice/password');
    assert.match(a, /^enc:v1:k1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+:[A-Za-z0-9_-]{22}$/);
    assert.notEqual(a, b);
    assert.ok(!a.includes('hunter2'));
    assert.ok(isSealed(a));
    assert.ok(!isSealed('hunter2'));
    assert.equal(sealedKeyId(a), 'k1');
    assert.equal(ring1.open(a, 'user/alice/password'), 'hunter2 ünïcode');
    assert.equal(ring1.open(ring1.seal('', 'x'), 'x'), '');
  });

  it('a value moved to another field (other context) does not open', () => {
    const sealed = ring1.seal('secret', 'user/alice/password');
    const err = failure(() => ring1.open(sealed, 'user/mallory/password'));
    assert.equal(err.failure, 'tampered');
    assert.equal(err.keyId, 'k1');
  });

  it('a flipped byte in the ciphertext, IV or tag does not open', () => {
    const sealed = ring1.seal('secret value', 'ctx');
    const parts = sealed.split(':');
    for (const index of [3, 4, 5]) {
      const bytes = Buffer.from(parts[index] ?? '', 'base64url');
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      const altered = [...parts];
      altered[index] = bytes.toString('base64url');
      assert.equal(failure(() => ring1.open(altered.join(':'), 'ctx')).failure, 'tampered', `part ${index}`);
    }
    assert.equal(failure(() => ring1.open('enc:v1:k1:short', 'ctx')).failure, 'malformed');
    assert.equal(failure(() => ring1.open('plain', 'ctx')).failure, 'malformed');
  });

  it('an unknown key id fails as E_UNAVAILABLE naming the key id', () => {
    const ring2 = new KeyRing(new Map([['k2', K2]]), 'k2');
    const err = failure(() => ring2.open(ring1.seal('s', 'ctx'), 'ctx'));
    assert.equal(err.failure, 'unknown-key');
    assert.equal(err.code, 'E_UNAVAILABLE');
    assert.equal(err.keyId, 'k1');
    assert.match(err.message, /sealed with key k1, which this node does not have/);
  });

  it('a different key under the same id does not open (never garbage)', () => {
    const impostor = new KeyRing(new Map([['k1', K2]]), 'k1');
    assert.equal(failure(() => impostor.open(ring1.seal('s', 'ctx'), 'ctx')).failure, 'tampered');
  });

  it('rotation: a ring with both keys opens old values and seals under the active one', () => {
    const old = ring1.seal('s', 'ctx');
    const both = new KeyRing(
      new Map([
        ['k1', K1],
        ['k2', K2],
      ]),
      'k2',
    );
    assert.equal(both.open(old, 'ctx'), 's');
    const resealed = both.seal(both.open(old, 'ctx'), 'ctx');
    assert.equal(sealedKeyId(resealed), 'k2');
    assert.deepEqual(both.keyIds(), ['k1', 'k2']);
    // After retiring k1, only the re-sealed value opens.
    const retired = new KeyRing(new Map([['k2', K2]]), 'k2');
    assert.equal(retired.open(resealed, 'ctx'), 's');
    assert.equal(failure(() => retired.open(old, 'ctx')).failure, 'unknown-key');
  });

  it('refuses a short key, a bad key id and an active key outside the ring', () => {
    assert.throws(() => new KeyRing(new Map([['k1', Buffer.alloc(16)]]), 'k1'), /expected 32 bytes, got 16/);
    assert.throws(() => new KeyRing(new Map([['a:b', K1]]), 'a:b'), /key id "a:b"/);
    assert.throws(() => new KeyRing(new Map([['k1', K1]]), 'k9'), /active key "k9" is not in the key ring/);
  });
});

describe('loadKeyRing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-keys-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const resolve = (p: string): string => join(dir, p);
  const line = (kid: string, key: Buffer): string => `${kid}:${key.toString('base64')}`;

  it('reads a 0600 key file and refuses one others can read, naming its mode', () => {
    writeFileSync(join(dir, 'keys'), `# meridian keys\n${line('k1', K1)}\n`, { mode: 0o600 });
    const ring = loadKeyRing({ keyFile: 'keys' }, resolve, {});
    assert.equal(ring?.activeKeyId, 'k1');
    chmodSync(join(dir, 'keys'), 0o644);
    assert.throws(
      () => loadKeyRing({ keyFile: 'keys' }, resolve, {}),
      /is mode 0644; .*must be 0600 or stricter/,
    );
    assert.throws(() => loadKeyRing({ keyFile: 'absent' }, resolve, {}), /secrets.keyFile .*absent/);
  });

  it('takes MERIDIAN_KEYS and MERIDIAN_ACTIVE_KEY; several keys need a named active key', () => {
    const env = { MERIDIAN_KEYS: `${line('k1', K1)},${line('k2', K2)}` };
    assert.throws(() => loadKeyRing({}, resolve, env), /2 keys \(k1, k2\): name the active one/);
    assert.equal(loadKeyRing({ activeKey: 'k1' }, resolve, env)?.activeKeyId, 'k1');
    assert.equal(
      loadKeyRing({ activeKey: 'k1' }, resolve, { ...env, MERIDIAN_ACTIVE_KEY: 'k2' })?.activeKeyId,
      'k2',
    );
    assert.equal(loadKeyRing({}, resolve, {}), undefined);
    assert.throws(() => loadKeyRing({ activeKey: 'k1' }, resolve, {}), /no key is configured/);
  });

  it('names a malformed entry without printing key material', () => {
    assert.throws(
      () => parseKeyEntries('k1 nocolon', 'MERIDIAN_KEYS'),
      /MERIDIAN_KEYS, entry 1: expected <key id>:<base64/,
    );
    assert.throws(() => parseKeyEntries('k1:AAAA', 'MERIDIAN_KEYS'), /key k1 is 3 bytes, expected 32/);
    assert.throws(() => parseKeyEntries(`${line('k1', K1)}\n${line('k1', K2)}`, 'f'), /k1 is listed twice/);
    assert.equal(Buffer.from(newKeyText(), 'base64').length, 32);
  });
});
