// The contract both ZoneStore implementations pass: zones stored as validated ZoneConfig, the SOA
// serial moving forward on every change (date or counter), edits all or nothing, the YAML seed
// written only into a store that never held zones, and other nodes seeing changes.
import { strict as assert } from 'node:assert';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  addBalanced,
  addRecord,
  removeRecord,
  replaceRecord,
  type ZoneConfig,
  type ZoneStore,
} from '../../src/storage/zone-store.js';
import { waitFor } from '../helpers/wait.js';
import {
  DNSKEY_FLAGS_KSK,
  DNSKEY_FLAGS_ZSK,
  dnskeyRdata,
  generateKey,
  keyTag,
  privateKeyContext,
} from '../../src/infra/dnssec/keys.js';
import { KeyRing } from '../../src/infra/secrets/key-ring.js';
import { sealedZoneKeys } from '../../src/storage/sealed-zones.js';

export interface ZoneStoreFixture {
  readonly store: ZoneStore;
  /** Another node on the same source of truth, started now. */
  peer(): Promise<ZoneStore>;
  cleanup(): Promise<void>;
}

export interface ZoneStoreTraits {
  /** Other nodes follow changes while running; otherwise they see them on their next start. */
  readonly live: boolean;
}

/** 2026-12-03 10:00 UTC: date serials are 20261203nn. */
export const FIXED_NOW = Date.UTC(2026, 11, 3, 10);

export function zoneInput(
  name = 'example.com',
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name,
    soa: { mname: 'ns1', rname: 'hostmaster' },
    ns: ['ns1', 'ns2.example.net.'],
    records: [{ name: 'ns1', type: 'A', values: ['192.0.2.53'] }],
    ...extra,
  };
}

/** A stored key of `zone`, sealed with `ring`, and its private key (PKCS#8 base64) in the clear. */
function sealedKey(
  zone: string,
  role: 'ksk' | 'zsk',
  ring: KeyRing,
  timeline: { publishAt: string; activeAt: string; retireAt?: string; removeAt?: string },
): { key: Record<string, unknown>; plain: string } {
  const g = generateKey(13);
  const tag = keyTag(dnskeyRdata(role === 'ksk' ? DNSKEY_FLAGS_KSK : DNSKEY_FLAGS_ZSK, 13, g.publicKey));
  const plain = g.privateKeyPkcs8.toString('base64');
  return {
    plain,
    key: {
      tag,
      role,
      algorithm: 13,
      publicKey: g.publicKey.toString('base64'),
      privateKey: ring.seal(plain, privateKeyContext(zone, role, tag)),
      ...timeline,
    },
  };
}

const rec = (name: string, type: 'A' | 'AAAA' | 'CNAME' | 'MX' | 'TXT' | 'CAA', ...values: string[]) => ({
  name,
  type,
  values,
});

export function runZoneStoreContract(
  name: string,
  make: () => Promise<ZoneStoreFixture>,
  traits: ZoneStoreTraits,
): void {
  describe(`zone store contract: ${name}`, () => {
    let fx: ZoneStoreFixture;
    let store: ZoneStore;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('creates, reads and lists; defaults filled; the name canonical; a duplicate is a conflict', async () => {
      const created = await store.create(zoneInput('Example.COM.'));
      assert.equal(created.name, 'example.com');
      assert.equal(created.ttl, 3600);
      assert.equal(created.soa.serialScheme, 'date');
      assert.equal(created.soa.serial, 2026120300, 'a date serial starts at today 00');
      assert.deepEqual(store.get('EXAMPLE.com.'), created);
      assert.deepEqual(
        store.current().map((z) => z.name),
        ['example.com'],
      );
      assert.ok(Object.isFrozen(store.current()) && Object.isFrozen(store.get('example.com').records));
      await assert.rejects(store.create(zoneInput('example.com')), { code: 'E_CONFLICT' });
      await assert.rejects(store.create(zoneInput('sub.example.com')), {
        code: 'E_VALIDATION',
        field: 'name',
      });
      assert.throws(() => store.get('nope.test'), { code: 'E_NOT_FOUND' });
    });

    it('bumps the serial on every change and never moves it backwards', async () => {
      await store.create(zoneInput());
      const a = await store.change('example.com', (z) => addRecord(z, rec('www', 'A', '192.0.2.10')));
      assert.equal(a.soa.serial, 2026120301);
      const b = await store.change('example.com', (z) => ({ ...z, soa: { ...z.soa, serial: 5 } }));
      assert.equal(b.soa.serial, 2026120302, 'a lower serial in the edit is ignored');
      const c = await store.change('example.com', (z) => ({ ...z, soa: { ...z.soa, serial: 2030010100 } }));
      assert.equal(c.soa.serial, 2030010100, 'an operator may move it forward');
      await store.create(
        zoneInput('counter.test', { soa: { mname: 'ns1', rname: 'h', serial: 7, serialScheme: 'counter' } }),
      );
      const d = await store.change('counter.test', (z) => addRecord(z, rec('www', 'A', '192.0.2.1')));
      assert.equal(d.soa.serial, 8);
    });

    it('record edits: add to a set, replace, remove one value or the set; bad edits change nothing', async () => {
      await store.create(zoneInput());
      await store.change('example.com', (z) => addRecord(z, { ...rec('www', 'A', '192.0.2.10'), ttl: 300 }));
      const two = await store.change('example.com', (z) =>
        addRecord(z, rec('www.example.com.', 'A', '192.0.2.11')),
      );
      const www = two.records.filter((r) => r.type === 'A' && r.name.startsWith('www'));
      assert.deepEqual(
        www.flatMap((r) => r.values),
        ['192.0.2.10', '192.0.2.11'],
      );
      assert.equal(www[0]?.ttl, 300);
      const serial = two.soa.serial;
      const refusals: [(z: ZoneConfig) => ZoneConfig, string][] = [
        [(z) => addRecord(z, rec('www', 'A', '192.0.2.10')), 'values[0]'],
        [(z) => addRecord(z, rec('www', 'CNAME', 'elsewhere.example.net.')), 'type'],
        [(z) => addRecord(z, rec('mail.example.org.', 'A', '192.0.2.1')), 'name'],
        [
          (z) => ({ ...z, records: [...z.records, rec('@', 'MX', '10 192.0.2.1')] }),
          `records[${two.records.length}].values[0]`,
        ],
        [
          (z) => ({ ...z, records: [...z.records, rec('@', 'CAA', '0 issue "not a domain!"')] }),
          `records[${two.records.length}].values[0]`,
        ],
        [
          (z) => ({ ...z, records: [...z.records, { ...rec('t', 'TXT', 'x'), ttl: 2 ** 31 }] }),
          `records[${two.records.length}].ttl`,
        ],
        [(z) => replaceRecord(z, { name: 'nothing', type: 'A', values: ['192.0.2.1'] }), ''],
        [(z) => removeRecord(z, 'www', 'A', '192.0.2.99'), ''],
      ];
      for (const [edit, field] of refusals) {
        await assert.rejects(store.change('example.com', edit), (err: { code?: string; field?: string }) => {
          if (field === '') return err.code === 'E_NOT_FOUND';
          assert.equal(err.code, 'E_VALIDATION');
          assert.equal(err.field, field);
          return true;
        });
      }
      assert.equal(store.get('example.com').soa.serial, serial, 'a refused edit changes nothing');
      const replaced = await store.change('example.com', (z) =>
        replaceRecord(z, { name: 'www', type: 'A', values: ['192.0.2.12'], ttl: 60 }),
      );
      const after = replaced.records.filter((r) => r.type === 'A' && r.name.startsWith('www'));
      assert.deepEqual(after, [{ name: 'www.example.com.', type: 'A', values: ['192.0.2.12'], ttl: 60 }]);
      const removed = await store.change('example.com', (z) => removeRecord(z, 'www', 'A', undefined));
      assert.ok(!removed.records.some((r) => r.name.startsWith('www')));
    });

    it('balanced names: added with a policy, refused beside static A records', async () => {
      await store.create(zoneInput());
      const z = await store.change('example.com', (zone) =>
        addBalanced(zone, { name: 'app', policy: 'failover', regions: ['eu-west', 'us-east'] }),
      );
      assert.equal(z.balanced[0]?.policy, 'failover');
      await assert.rejects(
        store.change('example.com', (zone) => addBalanced(zone, { name: 'ns1', policy: 'nearest' })),
        { code: 'E_VALIDATION', field: 'name' },
      );
      await assert.rejects(
        store.change('example.com', (zone) => addBalanced(zone, { name: 'x', policy: 'fixed' })),
        { code: 'E_VALIDATION', field: 'balanced[1].regions' },
      );
    });

    it('removes a zone; an unknown one is not found', async () => {
      await store.create(zoneInput());
      await store.remove('example.com.');
      assert.deepEqual(store.current(), []);
      await assert.rejects(store.remove('example.com'), { code: 'E_NOT_FOUND' });
      await assert.rejects(
        store.change('example.com', (z) => z),
        { code: 'E_NOT_FOUND' },
      );
    });

    it('seeds only a store that never held zones; a bad seed is refused whole', async () => {
      await assert.rejects(store.seed([zoneInput('a.test'), zoneInput('b.test', { ns: [] })]), {
        code: 'E_VALIDATION',
        field: 'dns.zones[1].ns',
      });
      assert.deepEqual(store.current(), []);
      assert.equal(await store.seed([zoneInput('a.test'), zoneInput('b.test')]), 2);
      assert.deepEqual(
        store.current().map((z) => z.name),
        ['a.test', 'b.test'],
      );
      await store.remove('a.test');
      await store.remove('b.test');
      assert.equal(await store.seed([zoneInput('c.test')]), 0, 'the store held zones once: it wins');
      assert.deepEqual(store.current(), []);
    });

    it('DNSSEC keys: kept by edits, pruned after removeAt, re-sealed by `keys rotate` under the active key', async () => {
      const k1 = new KeyRing(new Map([['k1', Buffer.alloc(32, 1)]]), 'k1');
      const ksk = sealedKey('example.com', 'ksk', k1, {
        publishAt: '2026-11-01T00:00:00.000Z',
        activeAt: '2026-11-01T00:00:00.000Z',
      });
      const oldZsk = sealedKey('example.com', 'zsk', k1, {
        publishAt: '2026-11-01T00:00:00.000Z',
        activeAt: '2026-11-01T00:00:00.000Z',
        retireAt: '2026-11-20T00:00:00.000Z',
        removeAt: '2026-11-21T00:00:00.000Z',
      });
      const newZsk = sealedKey('example.com', 'zsk', k1, {
        publishAt: '2026-11-19T00:00:00.000Z',
        activeAt: '2026-11-20T00:00:00.000Z',
      });
      await store.create(zoneInput('example.com', { dnssec: { keys: [ksk.key, oldZsk.key, newZsk.key] } }));
      assert.equal(store.get('example.com').dnssec?.keys.length, 3, 'create stores the block as given');
      const edited = await store.change('example.com', (z) => addRecord(z, rec('www', 'A', '192.0.2.10')));
      assert.deepEqual(
        edited.dnssec?.keys.map((k) => k.tag),
        [ksk.key.tag, newZsk.key.tag],
        'the key past its removeAt (2026-11-21) is pruned by the next change; the others are kept as they were',
      );
      assert.deepEqual(edited.dnssec?.keys[0], { ...ksk.key });

      const k2 = new KeyRing(
        new Map([
          ['k1', Buffer.alloc(32, 1)],
          ['k2', Buffer.alloc(32, 2)],
        ]),
        'k2',
      );
      const set = sealedZoneKeys(store, k2);
      assert.deepEqual(set.sealedStatus(), {
        name: 'dnssec keys',
        keyIds: { k1: 2 },
        unsealed: 0,
        unreadable: [],
      });
      const serial = store.get('example.com').soa.serial;
      assert.deepEqual(await set.reseal(), { name: 'dnssec keys', resealed: 2, current: 0, skipped: 0 });
      assert.deepEqual(set.sealedStatus().keyIds, { k2: 2 });
      const resealed = store.get('example.com');
      assert.ok(resealed.soa.serial > serial, 're-sealing is a zone change');
      for (const [key, plain] of [
        [resealed.dnssec?.keys[0], ksk.plain],
        [resealed.dnssec?.keys[1], newZsk.plain],
      ] as const) {
        assert.ok(key !== undefined);
        assert.match(key.privateKey, /^enc:v1:k2:/);
        assert.equal(k2.open(key.privateKey, privateKeyContext('example.com', key.role, key.tag)), plain);
      }
      assert.deepEqual(await set.reseal(), { name: 'dnssec keys', resealed: 0, current: 2, skipped: 0 });
      assert.equal(store.get('example.com').soa.serial, resealed.soa.serial, 'nothing to do: no write');
      // A node missing k2 reports the keys unreadable, naming the key id, and cannot re-seal them.
      const onlyK3 = sealedZoneKeys(store, new KeyRing(new Map([['k3', Buffer.alloc(32, 3)]]), 'k3'));
      const status = onlyK3.sealedStatus();
      assert.deepEqual(status.keyIds, { k2: 2 });
      assert.equal(status.unreadable.length, 2);
      assert.equal(status.unreadable[0]?.keyId, 'k2');
      assert.match(status.unreadable[0]?.record ?? '', /^zone\/example\.com\/dnssec\/ksk\/\d+$/);
      assert.deepEqual(await onlyK3.reseal(), { name: 'dnssec keys', resealed: 0, current: 0, skipped: 2 });
    });

    it('DNSSEC keys written unsealed (a YAML seed without a key ring) are counted, then sealed by a rotation', async () => {
      const k1 = new KeyRing(new Map([['k1', Buffer.alloc(32, 1)]]), 'k1');
      const timeline = { publishAt: '2026-11-01T00:00:00.000Z', activeAt: '2026-11-01T00:00:00.000Z' };
      const ksk = sealedKey('plain.test', 'ksk', k1, timeline);
      const zsk = sealedKey('plain.test', 'zsk', k1, timeline);
      await store.create(
        zoneInput('plain.test', { dnssec: { keys: [{ ...ksk.key, privateKey: ksk.plain }, zsk.key] } }),
      );
      const set = sealedZoneKeys(store, k1);
      assert.deepEqual(set.sealedStatus(), {
        name: 'dnssec keys',
        keyIds: { k1: 1 },
        unsealed: 1,
        unreadable: [],
      });
      assert.deepEqual(await set.reseal(), { name: 'dnssec keys', resealed: 1, current: 1, skipped: 0 });
      const stored = store.get('plain.test').dnssec?.keys[0];
      assert.ok(stored !== undefined);
      assert.equal(k1.open(stored.privateKey, privateKeyContext('plain.test', 'ksk', stored.tag)), ksk.plain);
      assert.deepEqual(set.sealedStatus(), {
        name: 'dnssec keys',
        keyIds: { k1: 2 },
        unsealed: 0,
        unreadable: [],
      });
      await assert.rejects(sealedZoneKeys(store, undefined).reseal(), { code: 'E_CONFLICT' });
    });

    it('another node sees the changes', async () => {
      await store.create(zoneInput());
      if (traits.live) {
        const peer = await fx.peer();
        const seen: number[] = [];
        peer.onChange((zones) => seen.push(zones[0]?.soa.serial ?? 0));
        const changed = await store.change('example.com', (z) => addRecord(z, rec('www', 'A', '192.0.2.10')));
        const started = Date.now();
        await waitFor('the peer follows', () => peer.get('example.com').soa.serial === changed.soa.serial, {
          timeoutMs: 1000,
        });
        assert.ok(Date.now() - started <= 1000);
        assert.ok(seen.includes(changed.soa.serial));
      } else {
        const changed = await store.change('example.com', (z) => addRecord(z, rec('www', 'A', '192.0.2.10')));
        const peer = await fx.peer();
        assert.deepEqual(peer.get('example.com'), changed);
      }
    });
  });
}
