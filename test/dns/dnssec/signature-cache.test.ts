// The signature cache: hits by identity and by content (never across different content or another
// key), refresh before expiry with a per-entry jitter (injected clock and randomness), bounds in
// entries and bytes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { zoneDnssecSchema } from '../../../src/config/dnssec-schema.js';
import { SignatureCache } from '../../../src/dns/dnssec/signature-cache.js';
import type { Rr } from '../../../src/dns/wire/encoder.js';

const DAY = 86_400_000;
const settings = zoneDnssecSchema.parse({
  keys: [
    {
      tag: 1,
      role: 'ksk',
      algorithm: 13,
      publicKey: 'AA==',
      privateKey: 'x',
      publishAt: '2020-01-01T00:00:00Z',
      activeAt: '2020-01-01T00:00:00Z',
    },
    {
      tag: 2,
      role: 'zsk',
      algorithm: 13,
      publicKey: 'AA==',
      privateKey: 'x',
      publishAt: '2020-01-01T00:00:00Z',
      activeAt: '2020-01-01T00:00:00Z',
    },
  ],
});
const rrsig = (n: number): Rr => ({ owner: 'x.test', type: 46, ttl: 30, rdata: [Buffer.alloc(100, n)] });
const addr = (owner: string, ip: number[], ttl = 30): Rr => ({
  owner,
  type: 1,
  ttl,
  rdata: [Buffer.from(ip)],
});

void describe('signature cache', () => {
  void it('gives the validity window: inception in the past, expiration after the validity, refresh before the refresh period', () => {
    const cache = new SignatureCache({ random: () => 0 });
    const now = Date.UTC(2026, 11, 4);
    const w = cache.window(now, settings);
    assert.equal(w.inception, now / 1000 - 3600);
    assert.equal(w.expiration, w.inception + 14 * 86_400);
    assert.equal(w.refreshAt, (w.expiration - 7 * 86_400) * 1000);
    // The jitter moves the refresh earlier by up to 10 % of the validity.
    const late = new SignatureCache({ random: () => 0.999999 }).window(now, settings);
    assert.ok(
      w.refreshAt - late.refreshAt > 0.0999 * 14 * DAY && w.refreshAt - late.refreshAt <= 0.1 * 14 * DAY,
    );
  });

  void it('spreads the refresh of entries made at once', () => {
    const cache = new SignatureCache();
    const now = Date.UTC(2026, 11, 4);
    const refreshes = new Set(
      Array.from({ length: 200 }, () => Math.floor(cache.window(now, settings).refreshAt / 3_600_000)),
    );
    assert.ok(refreshes.size > 20, `refreshes spread over ${refreshes.size} hours`);
  });

  void it('serves an entry until its refresh instant and only for the key that made it', () => {
    const cache = new SignatureCache({ random: () => 0.5 });
    const key1 = {};
    const key2 = {};
    const identity = {};
    let now = Date.UTC(2026, 11, 4);
    const w = cache.window(now, settings);
    cache.setByIdentity(identity, key1, rrsig(1), w.refreshAt);
    assert.deepEqual(cache.getByIdentity(identity, key1, now), rrsig(1));
    assert.equal(cache.getByIdentity(identity, key2, now), undefined, 'another key signs now');
    now = w.refreshAt - 1;
    assert.ok(cache.getByIdentity(identity, key1, now) !== undefined);
    now = w.refreshAt;
    assert.equal(cache.getByIdentity(identity, key1, now), undefined, 'due for refresh');
    assert.ok(w.refreshAt < w.expiration * 1000 - 6 * DAY, 'refreshed days before it expires');
    assert.equal(cache.hits, 2);
    assert.equal(cache.misses, 2);
  });

  void it('finds per-query RRsets by content: same owner, type, TTL and RDATA only', () => {
    const cache = new SignatureCache();
    const key = {};
    const now = 1_000;
    const set = [addr('app.example.test', [192, 0, 2, 10]), addr('app.example.test', [192, 0, 2, 11])];
    cache.setByContent('app.example.test', 1, 30, set, key, rrsig(7), now + 1000);
    // A new query builds new objects with the same content: a hit.
    const again = [addr('app.example.test', [192, 0, 2, 10]), addr('app.example.test', [192, 0, 2, 11])];
    assert.deepEqual(cache.getByContent('app.example.test', 1, 30, again, key, now), rrsig(7));
    const misses: [string, number, Rr[]][] = [
      ['app.example.test', 60, again],
      ['other.example.test', 30, again],
      ['app.example.test', 30, again.slice(0, 1)],
      [
        'app.example.test',
        30,
        [addr('app.example.test', [192, 0, 2, 10]), addr('app.example.test', [192, 0, 2, 12])],
      ],
    ];
    for (const [owner, ttl, rrs] of misses)
      assert.equal(
        cache.getByContent(owner, 1, ttl, rrs, key, now),
        undefined,
        `${owner} ${ttl} ${rrs.length}`,
      );
  });

  void it('holds at most maxEntries entries and maxBytes bytes, dropping the oldest', () => {
    const byCount = new SignatureCache({ maxEntries: 10 });
    const key = {};
    const ids = Array.from({ length: 25 }, () => ({}));
    ids.forEach((id, i) => byCount.setByIdentity(id, key, rrsig(i), Number.MAX_SAFE_INTEGER));
    assert.equal(byCount.size, 10);
    assert.equal(byCount.getByIdentity(ids[0]!, key, 0), undefined);
    assert.ok(byCount.getByIdentity(ids[24]!, key, 0) !== undefined);

    const byBytes = new SignatureCache({ maxBytes: 3000 });
    ids.forEach((id, i) => byBytes.setByIdentity(id, key, rrsig(i), Number.MAX_SAFE_INTEGER));
    assert.ok(byBytes.heldBytes <= 3000, `${byBytes.heldBytes} bytes`);
    assert.ok(byBytes.size > 0 && byBytes.size < 25);
    // Replacing an entry does not count its bytes twice.
    const before = byBytes.heldBytes;
    byBytes.setByIdentity(ids[24]!, key, rrsig(99), Number.MAX_SAFE_INTEGER);
    assert.equal(byBytes.heldBytes, before);
  });
});
