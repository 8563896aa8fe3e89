// The DNSSEC key routes on whole nodes (runServe, memory backend, DNS off): a node without a key
// ring refuses to make keys and stores nothing; with one, enable → status → ds (equal to BIND's
// dnssec-dsfromkey from the served DNSKEY) → rollover (a second one refused) → disable (refused
// without the DS-removed confirmation). No response, export or audit entry carries private key
// material; zone edits keep the keys and cannot set them; a viewer reads but cannot enable; and
// `keys rotate` re-seals the DNSSEC keys so that each opens to the same private key under the new key.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { privateKeyContext } from '../../src/infra/dnssec/keys.js';
import { KeyRing } from '../../src/infra/secrets/key-ring.js';
import { runServe, type RunningServer } from '../../src/node/serve.js';

const BOOT = 'bootstrap-token-0123456789';
const K1 = Buffer.alloc(32, 0x11);
const K2 = Buffer.alloc(32, 0x22);
const ZONE = {
  name: 'signed.test',
  soa: { mname: 'ns1', rname: 'hostmaster' },
  ns: ['ns1', 'ns2.example.net.'],
  records: [
    { name: 'ns1', type: 'A', values: ['192.0.2.53'] },
    { name: 'www', type: 'A', ttl: 7200, values: ['192.0.2.80'] },
  ],
};

interface Call {
  status: number;
  text: string;
  json: Record<string, unknown>;
}

async function call(
  base: string,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<Call> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON (204)
  }
  return { status: res.status, text, json };
}

function writeKeys(dir: string, keys: Record<string, Buffer>): void {
  const text = Object.entries(keys)
    .map(([kid, key]) => `${kid}:${key.toString('base64')}`)
    .join('\n');
  writeFileSync(join(dir, 'keys'), `${text}\n`, { mode: 0o600 });
}

let nodeCount = 0;

async function startNode(
  dir: string,
  secrets: string | undefined,
): Promise<{ node: RunningServer; base: string }> {
  const config = join(dir, 'meridian.yaml');
  writeFileSync(
    config,
    [
      'state: { backend: memory, file: state.json }',
      `nodeId: dnssec-node-${++nodeCount}`,
      'dns: { enabled: false }',
      `api: { listen: "127.0.0.1:0", token: "${BOOT}", authFailures: { burst: 1000, perSeconds: 60 } }`,
      'log: { level: silent }',
      ...(secrets === undefined ? [] : [`secrets: ${secrets}`]),
      '',
    ].join('\n'),
  );
  const node = await runServe({ configPath: config, env: {}, print: () => {} });
  const port = node.api?.address.port;
  assert.ok(port !== undefined);
  return { node, base: `http://127.0.0.1:${port}` };
}

/** Private material must never be in an answer: no sealed value, no privateKey field. */
function assertNoPrivate(text: string, where: string): void {
  assert.ok(!text.includes('enc:v1:'), `${where} carries a sealed value: ${text.slice(0, 300)}`);
  assert.ok(!/privateKey/i.test(text), `${where} carries a privateKey field`);
}

interface KeyView {
  tag: number;
  role: string;
  phase: string;
  dnskey: string;
  ds?: string;
  retireAt?: string;
  removeAt?: string;
  activeAt: string;
}

describe('DNSSEC key routes: a node without a key ring', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-dnssec-noring-'));
  let node: RunningServer;
  let base = '';
  before(async () => {
    ({ node, base } = await startNode(dir, undefined));
  });
  after(async () => {
    await node?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to enable signing, naming the fix, and stores nothing', async () => {
    assert.equal((await call(base, 'POST', '/v1/zones', BOOT, ZONE)).status, 201);
    const serial = (await call(base, 'GET', '/v1/zones/signed.test', BOOT)).json.soa as { serial: number };
    const refused = await call(base, 'POST', '/v1/zones/signed.test/dnssec', BOOT, {});
    assert.equal(refused.status, 409, refused.text);
    const error = refused.json.error as { code: string; message: string };
    assert.equal(error.code, 'E_CONFLICT');
    assert.match(error.message, /no encryption key.*stored only sealed.*secrets\.keyFile.*MERIDIAN_KEYS/);
    const zone = await call(base, 'GET', '/v1/zones/signed.test', BOOT);
    assert.equal(zone.json.dnssec, undefined);
    assert.deepEqual(zone.json.soa, serial, 'no change was written');
    const status = await call(base, 'GET', '/v1/zones/signed.test/dnssec', BOOT);
    assert.deepEqual(status.json, { zone: 'signed.test', signed: false });
    const ds = await call(base, 'GET', '/v1/zones/signed.test/dnssec/ds', BOOT);
    assert.equal(ds.status, 409);
    assert.match(ds.text, /not signed: run `meridian dnssec enable signed\.test`/);
    const file = readFileSync(join(dir, 'state.json.zones.json'), 'utf8');
    assert.ok(!file.includes('dnssec'), 'the zone file holds no dnssec block');
  });
});

describe('DNSSEC key routes: a node with a key ring', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-dnssec-'));
  let node: RunningServer;
  let base = '';
  let viewer = '';
  const zoneFile = join(dir, 'state.json.zones.json');

  before(async () => {
    writeKeys(dir, { k1: K1 });
    ({ node, base } = await startNode(dir, '{ keyFile: keys }'));
    assert.equal((await call(base, 'POST', '/v1/zones', BOOT, ZONE)).status, 201);
    const user = await call(base, 'POST', '/v1/users', BOOT, {
      name: 'vera',
      password: 'correct horse battery staple',
      roles: ['viewer'],
    });
    assert.equal(user.status, 201, user.text);
    const token = await call(base, 'POST', '/v1/tokens', BOOT, { user: 'vera', name: 'test' });
    viewer = String(token.json.token);
  });
  after(async () => {
    await node?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a viewer reads the status but cannot enable signing', async () => {
    const refused = await call(base, 'POST', '/v1/zones/signed.test/dnssec', viewer, {});
    assert.equal(refused.status, 403, refused.text);
    assert.match(refused.text, /manage-zones/);
    assert.equal((await call(base, 'GET', '/v1/zones/signed.test/dnssec', viewer)).status, 200);
  });

  it('enables signing: a KSK and a ZSK, sealed in the store, public in the answer', async () => {
    const bad = await call(base, 'POST', '/v1/zones/signed.test/dnssec', BOOT, { algorithm: 8 });
    assert.equal(bad.status, 400);
    assert.equal((bad.json.error as { field: string }).field, 'algorithm');
    const enabled = await call(base, 'POST', '/v1/zones/signed.test/dnssec', BOOT, {});
    assert.equal(enabled.status, 201, enabled.text);
    assertNoPrivate(enabled.text, 'the enable answer');
    const keys = enabled.json.keys as KeyView[];
    assert.deepEqual(
      keys.map((k) => [k.role, k.phase]),
      [
        ['ksk', 'active'],
        ['zsk', 'active'],
      ],
    );
    assert.match(keys[0]!.dnskey, /^signed\.test\. 3600 IN DNSKEY 257 3 13 [A-Za-z0-9+/=]+$/);
    assert.match(keys[1]!.dnskey, /^signed\.test\. 3600 IN DNSKEY 256 3 13 /);
    assert.equal(enabled.json.maxSignedTtl, 7200, 'the www record TTL');
    assert.deepEqual(enabled.json.signing, { ksk: keys[0]!.tag, zsk: keys[1]!.tag });
    const again = await call(base, 'POST', '/v1/zones/signed.test/dnssec', BOOT, {});
    assert.equal(again.status, 409);
    assert.match(again.text, /already signed/);
    // At rest: sealed under k1, bound to the zone and key.
    const stored = JSON.parse(readFileSync(zoneFile, 'utf8')) as {
      zones: { name: string; dnssec?: { keys: { tag: number; role: string; privateKey: string }[] } }[];
    };
    const ring = new KeyRing(new Map([['k1', K1]]), 'k1');
    for (const key of stored.zones[0]?.dnssec?.keys ?? []) {
      assert.match(key.privateKey, /^enc:v1:k1:/);
      const pkcs8 = ring.open(key.privateKey, privateKeyContext('signed.test', key.role, key.tag));
      assert.ok(Buffer.from(pkcs8, 'base64').length > 32);
    }
    assert.equal(stored.zones[0]?.dnssec?.keys.length, 2);
  });

  it('ds: the DS for the parent, equal to dnssec-dsfromkey of the served DNSKEY', async () => {
    const ds = await call(base, 'GET', '/v1/zones/signed.test/dnssec/ds', viewer);
    assert.equal(ds.status, 200, ds.text);
    assertNoPrivate(ds.text, 'the ds answer');
    const dnskeys = ds.json.dnskey as string[];
    assert.equal(dnskeys.length, 1);
    const file = join(dir, 'dnskey.zone');
    writeFileSync(file, `${dnskeys[0]}\n`);
    const bind = execFileSync('dnssec-dsfromkey', ['-2', '-f', file, 'signed.test'], { encoding: 'utf8' });
    const normal = (line: string): string => line.trim().split(/\s+/).join(' ');
    assert.deepEqual((ds.json.ds as string[]).map(normal), [normal(bind)]);
    assert.match(String(ds.json.dsSafeAt), /^\d{4}-\d\d-\d\dT/);
  });

  it('zone views and edits: no private material, keys kept, dnssec not settable through the zone', async () => {
    const zone = await call(base, 'GET', '/v1/zones/signed.test', viewer);
    assertNoPrivate(zone.text, 'GET /v1/zones/:zone');
    assert.equal((zone.json.dnssec as { keys: unknown[] }).keys.length, 2, 'the public key view is shown');
    const added = await call(base, 'POST', '/v1/zones/signed.test/records', BOOT, {
      name: 'api',
      type: 'A',
      value: '192.0.2.90',
    });
    assert.equal(added.status, 201, added.text);
    assertNoPrivate(added.text, 'a record edit answer');
    const patched = await call(base, 'PATCH', '/v1/zones/signed.test', BOOT, { ttl: 600 });
    assert.equal(patched.status, 200, patched.text);
    assertNoPrivate(patched.text, 'a PATCH answer');
    const named = await call(base, 'POST', '/v1/zones/signed.test/names', BOOT, { name: 'app' });
    assert.equal(named.status, 201, named.text);
    assertNoPrivate(named.text, 'a balanced name answer');
    const stored = readFileSync(zoneFile, 'utf8');
    assert.equal(stored.match(/enc:v1:k1:/g)?.length, 2, 'both keys are still stored after the edits');

    const patchDnssec = await call(base, 'PATCH', '/v1/zones/signed.test', BOOT, { dnssec: { keys: [] } });
    assert.equal(patchDnssec.status, 400);
    assert.equal((patchDnssec.json.error as { field: string }).field, 'dnssec');
    assert.match(patchDnssec.text, /meridian dnssec enable\|rollover\|disable/);
    const createDnssec = await call(base, 'POST', '/v1/zones', BOOT, {
      ...ZONE,
      name: 'other.test',
      dnssec: { keys: [] },
    });
    assert.equal(createDnssec.status, 400);
    assert.equal((createDnssec.json.error as { field: string }).field, 'dnssec');
    assert.equal((await call(base, 'GET', '/v1/zones/other.test', BOOT)).status, 404);
  });

  it('rollover: pre-publish timeline; a second one is refused while the first runs; --ksk refused', async () => {
    const before = (await call(base, 'GET', '/v1/zones/signed.test/dnssec', BOOT)).json;
    const oldZsk = (before.keys as KeyView[]).find((k) => k.role === 'zsk')!;
    const ksk = (before.keys as KeyView[]).find((k) => k.role === 'ksk')!;
    const started = Date.now();
    const rolled = await call(base, 'POST', '/v1/zones/signed.test/dnssec/rollover', BOOT, {});
    assert.equal(rolled.status, 200, rolled.text);
    assertNoPrivate(rolled.text, 'the rollover answer');
    const r = rolled.json.rollover as Record<string, string | number>;
    assert.equal(r.oldKey, oldZsk.tag);
    assert.notEqual(r.newKey, oldZsk.tag);
    const signsFrom = Date.parse(String(r.newKeySignsFrom));
    const publishedAt = Date.parse(String(r.newKeyPublishedAt));
    assert.ok(publishedAt >= started - 1000 && publishedAt <= Date.now());
    assert.equal(signsFrom - publishedAt, (3600 + 300) * 1000, 'signs after dnskeyTtl + propagation');
    assert.equal(r.oldKeyRetiresAt, r.newKeySignsFrom);
    assert.equal(r.maxSignedTtl, 7200);
    assert.equal(
      Date.parse(String(r.oldKeyRemovedAt)) - signsFrom,
      (7200 + 300) * 1000,
      'removed after maxTtl + propagation',
    );
    const status = rolled.json.status as {
      keys: KeyView[];
      signing: unknown;
      events: { event: string; tag: number }[];
    };
    assert.deepEqual(
      status.keys.map((k) => [k.role, k.tag, k.phase]),
      [
        ['ksk', ksk.tag, 'active'],
        ['zsk', oldZsk.tag, 'active'],
        ['zsk', r.newKey, 'published'],
      ],
    );
    assert.deepEqual(
      status.signing,
      { ksk: ksk.tag, zsk: oldZsk.tag },
      'the old ZSK signs until the handover',
    );
    assert.deepEqual(
      status.events.map((e) => [e.event, e.tag]),
      [
        ['activate', r.newKey],
        ['retire', oldZsk.tag],
        ['remove', oldZsk.tag],
      ],
    );
    const second = await call(base, 'POST', '/v1/zones/signed.test/dnssec/rollover', BOOT, {});
    assert.equal(second.status, 409, second.text);
    assert.match(second.text, /still under way.*until/);
    const kskRoll = await call(base, 'POST', '/v1/zones/signed.test/dnssec/rollover', BOOT, { ksk: true });
    assert.equal(kskRoll.status, 400);
    assert.match(kskRoll.text, /KSK rollover is not supported yet.*double-DS/);
  });

  it('audit entries name the DNSSEC changes and hold no private material, a backup restore included', async () => {
    const backup = await call(base, 'GET', '/v1/backup', BOOT);
    assert.equal(backup.status, 200, backup.text);
    assert.equal(backup.text.match(/enc:v1:k1:/g)?.length, 3, 'a backup holds the keys, sealed');
    const doc = backup.json as { sections: { zones: { name: string; ttl: number }[] } };
    const zone = doc.sections.zones.find((z) => z.name === 'signed.test');
    assert.ok(zone !== undefined);
    zone.ttl = 900;
    const restored = await call(base, 'POST', '/v1/backup/restore', BOOT, { backup: doc });
    assert.equal(restored.status, 200, restored.text);
    const after = await call(base, 'GET', '/v1/zones/signed.test', BOOT);
    assert.equal(after.json.ttl, 900);
    assert.equal((after.json.dnssec as { keys: unknown[] }).keys.length, 3, 'the restore keeps the keys');
    const audit = await call(base, 'GET', '/v1/audit', BOOT);
    assert.match(audit.text, /zone\.update/);
    assert.equal(audit.status, 200, audit.text);
    assertNoPrivate(audit.text, 'the audit log');
    assert.match(audit.text, /dnssec\.enable/);
    assert.match(audit.text, /dnssec\.rollover/);
  });

  it('keys rotate re-seals the DNSSEC keys: each opens to the same private key under the new key', async () => {
    const ring1 = new KeyRing(new Map([['k1', K1]]), 'k1');
    type Stored = { zones: { dnssec?: { keys: { tag: number; role: string; privateKey: string }[] } }[] };
    const plain = (ring: KeyRing, stored: Stored): Map<number, string> =>
      new Map(
        (stored.zones[0]?.dnssec?.keys ?? []).map((k) => [
          k.tag,
          ring.open(k.privateKey, privateKeyContext('signed.test', k.role, k.tag)),
        ]),
      );
    const beforeRotation = plain(ring1, JSON.parse(readFileSync(zoneFile, 'utf8')) as Stored);
    assert.equal(beforeRotation.size, 3);
    await node.close();
    writeKeys(dir, { k1: K1, k2: K2 });
    ({ node, base } = await startNode(dir, '{ keyFile: keys, activeKey: k2 }'));
    const status = await call(base, 'GET', '/v1/keys', BOOT);
    const sets = status.json.sets as { name: string; keyIds: Record<string, number> }[];
    assert.deepEqual(sets.find((s) => s.name === 'dnssec keys')?.keyIds, { k1: 3 });
    const rotated = await call(base, 'POST', '/v1/keys/rotate', BOOT);
    assert.equal(rotated.status, 200, rotated.text);
    assertNoPrivate(rotated.text, 'the rotate answer');
    assert.deepEqual(
      (rotated.json.results as { name: string }[]).find((r) => r.name === 'dnssec keys'),
      { name: 'dnssec keys', resealed: 3, current: 0, skipped: 0 },
    );
    const text = readFileSync(zoneFile, 'utf8');
    assert.equal(text.match(/enc:v1:k2:/g)?.length, 3);
    assert.ok(!text.includes('enc:v1:k1:'));
    const ring2 = new KeyRing(new Map([['k2', K2]]), 'k2');
    assert.deepEqual(plain(ring2, JSON.parse(text) as Stored), beforeRotation);
    const after = await call(base, 'GET', '/v1/keys', BOOT);
    assert.ok(!(after.json.inUse as Record<string, number>).k1, 'k1 is used by nothing now');
  });

  it('disable: refused with the steps unless the DS removal is confirmed; then the zone is unsigned', async () => {
    const refused = await call(base, 'DELETE', '/v1/zones/signed.test/dnssec', BOOT);
    assert.equal(refused.status, 400, refused.text);
    const error = refused.json.error as { field: string; message: string };
    assert.equal(error.field, 'dsRemoved');
    assert.match(error.message, /1\. remove .*DS.*parent.*2\. wait.*DS TTL.*3\. then stop signing/);
    assert.equal(
      (await call(base, 'DELETE', '/v1/zones/signed.test/dnssec', viewer, { dsRemoved: true })).status,
      403,
    );
    const done = await call(base, 'DELETE', '/v1/zones/signed.test/dnssec', BOOT, { dsRemoved: true });
    assert.equal(done.status, 204, done.text);
    const zone = await call(base, 'GET', '/v1/zones/signed.test', BOOT);
    assert.equal(zone.json.dnssec, undefined);
    assert.equal((zone.json.records as unknown[]).length, 3, 'the records stay');
    assert.deepEqual((await call(base, 'GET', '/v1/zones/signed.test/dnssec', BOOT)).json, {
      zone: 'signed.test',
      signed: false,
    });
    assert.ok(!readFileSync(zoneFile, 'utf8').includes('enc:v1:'), 'the keys are gone from the store');
    const audit = await call(base, 'GET', '/v1/audit', BOOT);
    assert.match(audit.text, /dnssec\.disable/);
    assertNoPrivate(audit.text, 'the audit log');
    const again = await call(base, 'DELETE', '/v1/zones/signed.test/dnssec', BOOT, { dsRemoved: true });
    assert.equal(again.status, 409);
  });
});
