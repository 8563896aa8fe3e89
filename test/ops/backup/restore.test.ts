// Restore is all or nothing: a backup that validates but fails part-way when written (two API
// tokens of one user with the same name: the access store refuses the second) leaves every store
// as it was, the writes already made undone. Plus the backup file codec on its own: round trips,
// and an encrypted file whose KDF parameters were edited does not decrypt.
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runServe, type RunningServer } from '../../../src/node/serve.js';
import { decodeBackupFile, encodeBackupFile } from '../../../src/ops/backup/file.js';
import { tempDir, writeTestConfig } from '../../helpers/meridian-process.js';

const TOKEN = 'restore-test-bootstrap-token';

describe('restore: all or nothing', () => {
  const dir = tempDir('meridian-restore-');
  let server: RunningServer;
  let api = '';
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    const config = writeTestConfig(dir, (doc) => {
      doc.state = { backend: 'memory', file: join(dir, 'state.json') };
      doc.api = { ...doc.api, token: TOKEN };
      doc.dns = { ...doc.dns, enabled: false };
      doc.log = { level: 'silent' };
    });
    server = await runServe({ configPath: config, env: {}, print: () => {} });
    assert.ok(server.api !== undefined);
    api = server.api.url;
    await call('POST', '/v1/regions', { id: 'keep-me', lat: 1, lon: 2, ipv4: ['192.0.2.1'] });
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('undoes the writes already made when a later one fails, and says so', async () => {
    const backup = (await call('GET', '/v1/backup')).json;
    const sections = backup.sections as Record<string, unknown[]>;
    const region = { ...(sections.regions?.[0] as Record<string, unknown>), id: 'new-region' };
    const user = {
      name: 'bob',
      password: {
        algorithm: 'scrypt',
        N: 16384,
        r: 8,
        p: 1,
        keyLength: 64,
        salt: 'c2FsdA==',
        hash: 'aGFzaA==',
      },
      roles: ['viewer'],
      regions: [],
      disabled: false,
      createdAt: '2026-01-01T00:00:00.000Z',
    };
    const token = (id: string, hash: string) => ({
      id,
      user: 'bob',
      name: 'same-name',
      kind: 'api',
      hash,
      roles: ['viewer'],
      createdAt: '2026-01-01T00:00:00.000Z',
    });
    const broken = {
      ...backup,
      sections: {
        ...sections,
        regions: [region],
        users: [user],
        tokens: [token('t1', 'a'.repeat(64)), token('t2', 'b'.repeat(64))],
      },
    };
    const dry = await call('POST', '/v1/backup/restore', { backup: broken, dryRun: true });
    assert.equal(dry.status, 200, JSON.stringify(dry.json));
    const r = await call('POST', '/v1/backup/restore', { backup: broken });
    assert.equal(r.status, 409, JSON.stringify(r.json));
    const message = String((r.json.error as { message: string }).message);
    assert.match(message, /could not create token\/bob\/same-name/);
    assert.match(message, /the 3 change\(s\) already made were undone/);
    const regions = (await call('GET', '/v1/regions')).json.regions as { id: string }[];
    assert.deepEqual(
      regions.map((x) => x.id),
      ['keep-me'],
    );
    assert.deepEqual((await call('GET', '/v1/users')).json.users, []);
  });

  it('restores DNS zones: records as they were, the serial moved forward, a later zone removed', async () => {
    const backup = (await call('GET', '/v1/backup')).json;
    const zones = (backup.sections as Record<string, { name: string; soa: { serial: number } }[]>).zones;
    assert.ok(zones !== undefined && zones.length > 0, 'the backup holds the seeded zones');
    const name = zones[0]!.name;
    const before = (await call('GET', `/v1/zones/${name}`)).json as { soa: { serial: number } };
    const added = await call('POST', `/v1/zones/${name}/records`, {
      name: 'restored-away',
      type: 'A',
      values: ['192.0.2.99'],
    });
    assert.equal(added.status, 201, JSON.stringify(added.json));
    const extra = await call('POST', '/v1/zones', {
      name: 'later.example',
      ns: ['ns1.later.example.'],
      soa: { mname: 'ns1.later.example.', rname: 'hostmaster.later.example.' },
    });
    assert.equal(extra.status, 201, JSON.stringify(extra.json));

    const r = await call('POST', '/v1/backup/restore', { backup });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const after = (await call('GET', `/v1/zones/${name}`)).json as {
      soa: { serial: number };
      records: { name: string }[];
    };
    assert.ok(
      !after.records.some((x) => x.name === 'restored-away'),
      'the record added after the backup is gone',
    );
    assert.ok(
      after.soa.serial > before.soa.serial,
      'the serial moved forward, so secondaries transfer again',
    );
    const list = (await call('GET', '/v1/zones')).json.zones as { name: string }[];
    assert.deepEqual(
      list.map((z) => z.name),
      zones.map((z) => z.name),
    );
  });

  it('refuses a body without a backup and a backup of an unknown version, naming them', async () => {
    const none = await call('POST', '/v1/backup/restore', { dryRun: true });
    assert.equal(none.status, 400);
    assert.match(JSON.stringify(none.json), /backup: is required/);
    const future = await call('POST', '/v1/backup/restore', {
      backup: { format: 'meridian-backup', version: 2 },
    });
    assert.equal(future.status, 400);
    assert.match(JSON.stringify(future.json), /unknown backup version 2; this Meridian reads version 1/);
    const unknownSection = await call('POST', '/v1/backup/restore', {
      backup: { format: 'meridian-backup', version: 1, sections: { dnssec: [] } },
    });
    assert.match(JSON.stringify(unknownSection.json), /backup.sections.dnssec: unknown section/);
  });
});

describe('backup file codec', () => {
  it('round-trips plain and encrypted documents', async () => {
    const document = { format: 'meridian-backup', version: 1, sections: { regions: [{ id: 'x' }] } };
    assert.deepEqual(await decodeBackupFile(await encodeBackupFile(document)), document);
    assert.deepEqual(
      await decodeBackupFile(await encodeBackupFile(document, 'pass phrase'), 'pass phrase'),
      document,
    );
  });

  it('authenticates the KDF parameters: an edited envelope does not decrypt', async () => {
    const bytes = await encodeBackupFile({ a: 1 }, 'pass phrase');
    const envelope = JSON.parse(bytes.toString('utf8')) as { encryption: { p: number } };
    envelope.encryption.p = 2;
    await assert.rejects(
      decodeBackupFile(Buffer.from(JSON.stringify(envelope)), 'pass phrase'),
      /wrong passphrase, or the file was modified/,
    );
  });
});
