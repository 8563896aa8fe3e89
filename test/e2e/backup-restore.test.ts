// Backups end to end: a Redis-backed node's state (regions, backends, a policy, a task, a user with
// an API token) is backed up with the real CLI, checked (dry run: nothing changes), restored into
// an empty embedded node (state file) — which then answers DNS as the Redis node does and accepts
// the user's token — and back from the embedded node into the Redis node after it changed.
// Corrupt, tampered, wrong-passphrase, unknown-version and invalid-record files are refused with a
// message naming the problem, and nothing changes.
import { strict as assert } from 'node:assert';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runServe, type RunningServer } from '../../src/node/serve.js';
import { encodeBackupFile } from '../../src/ops/backup/file.js';
import { answerData, dig } from '../helpers/dig.js';
import { runCli, tempDir, writeTestConfig } from '../helpers/meridian-process.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';

const TOKEN = 'backup-e2e-bootstrap-token';

interface Node {
  readonly server: RunningServer;
  readonly api: string;
  readonly dns: { host: string; port: number };
}

describe('backup and restore: Redis node → embedded node → Redis node', () => {
  const dir = tempDir('meridian-backup-');
  let redis: RedisHandle;
  let onRedis: Node;
  let embedded: Node;
  let userToken = '';
  const plainFile = join(dir, 'plain.backup');
  const encryptedFile = join(dir, 'encrypted.backup');
  const passphraseFile = join(dir, 'passphrase');
  const wrongPassphraseFile = join(dir, 'wrong-passphrase');

  const start = async (name: string, state: Record<string, unknown>): Promise<Node> => {
    const config = writeTestConfig(
      dir,
      (doc) => {
        doc.nodeId = name;
        doc.state = state;
        doc.api = { ...doc.api, token: TOKEN };
        doc.log = { level: 'silent' };
      },
      `${name}.yaml`,
    );
    const server = await runServe({ configPath: config, env: {}, print: () => {} });
    const address = server.dns?.addresses().find((a) => a.transport === 'udp');
    assert.ok(server.api !== undefined && address !== undefined);
    return { server, api: server.api.url, dns: { host: address.host, port: address.port } };
  };
  const call = async (node: Node, method: string, path: string, body?: unknown, token = TOKEN) => {
    const res = await fetch(`${node.api}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as unknown), text };
  };
  const ok = async (node: Node, method: string, path: string, body?: unknown): Promise<unknown> => {
    const r = await call(node, method, path, body);
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
    return r.json;
  };
  /** A GET whose body is `{<field>: [...]}`. */
  const list = async (node: Node, path: string, field: string): Promise<Record<string, unknown>[]> =>
    ((await ok(node, 'GET', path)) as Record<string, Record<string, unknown>[]>)[field] ?? [];
  const cli = (node: Node, args: string[]) =>
    runCli(args, { MERIDIAN_API_URL: node.api, MERIDIAN_API_TOKEN: TOKEN });
  /** Everything a backup holds, as the API shows it, minus store-stamped times. */
  const stateOf = async (node: Node) => {
    const regions = await list(node, '/v1/regions', 'regions');
    const strip = (x: Record<string, unknown>) => {
      const { createdAt: _c, updatedAt: _u, ...rest } = x;
      return rest;
    };
    const backends: unknown[] = [];
    for (const r of regions)
      backends.push(...(await list(node, `/v1/regions/${String(r.id)}/backends`, 'backends')).map(strip));
    return {
      regions: regions.map(strip),
      backends,
      policies: await list(node, '/v1/policies', 'policies'),
      tasks: (await list(node, '/v1/tasks', 'tasks'))
        .map((view) => view.task as Record<string, unknown>)
        .filter((t) => !String(t.id).startsWith('builtin-'))
        .map(strip),
      users: (await list(node, '/v1/users', 'users')).map((u) => [u.name, u.roles]),
    };
  };
  const wwwAnswer = async (node: Node) => {
    const r = await dig(node.dns, ['www.example.test', 'A', '+subnet=192.0.2.0/24']);
    assert.equal(r.status, 'NOERROR');
    return answerData(r, 'A');
  };

  before(async () => {
    redis = await startRedis();
    writeFileSync(passphraseFile, 'correct horse battery staple\n');
    writeFileSync(wrongPassphraseFile, 'incorrect horse\n');
    onRedis = await start('on-redis', {
      backend: 'redis',
      redis: { url: redis.url, keyPrefix: 'backup-e2e:' },
    });
    embedded = await start('embedded', { backend: 'memory', file: join(dir, 'embedded-state.json') });
    await ok(onRedis, 'POST', '/v1/regions', {
      id: 'eu-west',
      lat: 53.3,
      lon: -6.3,
      ipv4: ['192.0.2.10'],
      country: 'IE',
    });
    await ok(onRedis, 'POST', '/v1/regions', {
      id: 'us-east',
      lat: 39,
      lon: -77.5,
      ipv4: ['198.51.100.10'],
      weight: 50,
    });
    await ok(onRedis, 'POST', '/v1/regions/eu-west/backends', { id: 'web-1', url: 'http://10.0.0.1:8080' });
    await ok(onRedis, 'POST', '/v1/regions/us-east/backends', {
      id: 'web-2',
      url: 'http://10.0.1.1:8080',
      weight: 3,
    });
    await ok(onRedis, 'POST', '/v1/policies', {
      id: 'waf',
      type: 'waf',
      rules: [{ id: 'no-admin', target: 'path', pattern: '^/admin', action: 'block', priority: 10 }],
    });
    await ok(onRedis, 'POST', '/v1/tasks', { id: 'recheck', cron: '0 4 * * *', action: 'geo-recheck' });
    await ok(onRedis, 'POST', '/v1/users', {
      name: 'alice',
      password: 'alice password 123',
      roles: ['viewer'],
    });
    userToken = String(
      ((await ok(onRedis, 'POST', '/v1/tokens', { user: 'alice', name: 'ci' })) as { token: string }).token,
    );
  });
  after(async () => {
    await embedded?.server.close();
    await onRedis?.server.close();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a plain and an encrypted backup file (mode 0600) with every section', async () => {
    const plain = await cli(onRedis, ['backup', 'create', '--out', plainFile]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(
      plain.stdout,
      /2 regions, 2 backends, 1 zones, 1 policies, 1 tasks, 1 users, 1 tokens; revision \d+-\d+/,
    );
    const encrypted = await cli(onRedis, [
      'backup',
      'create',
      '--out',
      encryptedFile,
      '--passphrase-file',
      passphraseFile,
    ]);
    assert.equal(encrypted.code, 0, encrypted.stderr);
    assert.match(encrypted.stdout, /\(encrypted\)/);
    const envelope = JSON.parse(readFileSync(encryptedFile, 'utf8')) as { encryption: { cipher: string } };
    assert.equal(envelope.encryption.cipher, 'aes-256-gcm');
    assert.doesNotMatch(readFileSync(encryptedFile, 'utf8'), /eu-west/);
    const { statSync } = await import('node:fs');
    assert.equal(statSync(encryptedFile).mode & 0o777, 0o600);
  });

  it('refuses corrupt, tampered, wrong-passphrase and unknown-version files, naming the problem; nothing changes', async () => {
    const text = readFileSync(plainFile, 'utf8');
    const envelope = JSON.parse(text) as Record<string, unknown>;
    const payload = Buffer.from(String(envelope.payload), 'base64');
    const tampered = Buffer.from(payload.toString('utf8').replace('192.0.2.10', '192.0.2.66'));
    const cases: [string, string, string[], RegExp][] = [
      ['truncated', text.slice(0, text.length / 2), [], /not JSON/],
      [
        'tampered',
        JSON.stringify({ ...envelope, payload: tampered.toString('base64') }),
        [],
        /checksum mismatch/,
      ],
      ['future', JSON.stringify({ ...envelope, version: 99 }), [], /unknown backup file version 99/],
      ['not-backup', '{"hello": "world"}', [], /expected "format": "meridian-backup-file"/],
      ['plain-with-passphrase', text, ['--passphrase-file', passphraseFile], /not encrypted/],
    ];
    for (const [name, content, extra, message] of cases) {
      const file = join(dir, `${name}.backup`);
      writeFileSync(file, content);
      const r = await cli(embedded, ['backup', 'restore', file, ...extra]);
      assert.equal(r.code, 2, `${name}: ${r.stdout} ${r.stderr}`);
      assert.match(r.stderr, message, name);
    }
    const wrong = await cli(embedded, [
      'backup',
      'restore',
      encryptedFile,
      '--passphrase-file',
      wrongPassphraseFile,
    ]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /wrong passphrase, or the file was modified/);
    const missing = await cli(embedded, ['backup', 'restore', encryptedFile]);
    assert.match(missing.stderr, /encrypted: give its passphrase/);
    // A well-formed file whose records do not validate: refused by the node, naming the record.
    const document = JSON.parse(payload.toString('utf8')) as { sections: { regions: { lat: number }[] } };
    const region = document.sections.regions[1];
    assert.ok(region !== undefined);
    region.lat = 500;
    const invalidFile = join(dir, 'invalid.backup');
    writeFileSync(invalidFile, await encodeBackupFile(document));
    const invalid = await cli(embedded, ['backup', 'restore', invalidFile]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /sections\.regions\[1\]: lat/);
    assert.deepEqual(await list(embedded, '/v1/regions', 'regions'), []);
    assert.deepEqual(await list(embedded, '/v1/policies', 'policies'), []);
  });

  it('a dry run prints the diff and changes nothing', async () => {
    const r = await cli(embedded, [
      'backup',
      'restore',
      encryptedFile,
      '--passphrase-file',
      passphraseFile,
      '--dry-run',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /regions: 2 added, 0 changed, 0 removed\n {2}\+ region\/eu-west\n {2}\+ region\/us-east/,
    );
    assert.match(r.stdout, /tokens: 1 added/);
    assert.match(r.stdout, /dry run: 8 change\(s\) would be made; nothing was changed/);
    assert.deepEqual(await list(embedded, '/v1/regions', 'regions'), []);
    assert.deepEqual(await list(embedded, '/v1/users', 'users'), []);
  });

  it('restores into the empty embedded node: same state, same DNS answers, the same token works', async () => {
    const before = await wwwAnswer(onRedis);
    assert.deepEqual(before, ['192.0.2.10']);
    assert.deepEqual(await wwwAnswer(embedded), []);
    const r = await cli(embedded, ['backup', 'restore', encryptedFile, '--passphrase-file', passphraseFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /8 change\(s\) made/);
    const source = await stateOf(onRedis);
    assert.deepEqual(
      [
        source.regions.length,
        source.backends.length,
        source.policies.length,
        source.tasks.length,
        source.users.length,
      ],
      [2, 2, 1, 1, 1],
    );
    assert.deepEqual(await stateOf(embedded), source);
    assert.deepEqual(await wwwAnswer(embedded), before);
    const asAlice = await call(embedded, 'GET', '/v1/regions', undefined, userToken);
    assert.equal(asAlice.status, 200, asAlice.text);
    const again = await cli(embedded, ['backup', 'restore', plainFile, '--dry-run']);
    assert.match(again.stdout, /nothing to change/);
  });

  it('and back: a backup of the embedded node restores the Redis node after it changed', async () => {
    const wanted = await stateOf(onRedis);
    await ok(onRedis, 'DELETE', '/v1/regions/eu-west');
    await ok(onRedis, 'PATCH', '/v1/regions/us-east', { weight: 7 });
    await ok(onRedis, 'DELETE', '/v1/policies/waf');
    await ok(onRedis, 'POST', '/v1/regions', { id: 'ap-south', lat: 19, lon: 72.8, ipv4: ['203.0.113.9'] });
    assert.notDeepEqual(await wwwAnswer(onRedis), ['192.0.2.10']);
    const back = join(dir, 'back.backup');
    assert.equal((await cli(embedded, ['backup', 'create', '--out', back])).code, 0);
    const dry = await cli(onRedis, ['backup', 'restore', back, '--dry-run', '--json']);
    const diff = (
      JSON.parse(dry.stdout) as {
        diff: Record<string, { added: string[]; changed: string[]; removed: string[] }>;
      }
    ).diff;
    assert.deepEqual(diff.regions, {
      added: ['region/eu-west'],
      changed: ['region/us-east'],
      removed: ['region/ap-south'],
    });
    assert.deepEqual(diff.backends, { added: ['backend/eu-west/web-1'], changed: [], removed: [] });
    assert.deepEqual(diff.policies, { added: ['policy/waf'], changed: [], removed: [] });
    const r = await cli(onRedis, ['backup', 'restore', back]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await stateOf(onRedis), wanted);
    assert.deepEqual(await wwwAnswer(onRedis), ['192.0.2.10']);
    const audit = await list(onRedis, '/v1/audit?target=state&limit=5', 'items');
    assert.equal(audit[0]?.action, 'backup.restore');
    assert.equal((audit[0]?.after as { changes?: number } | undefined)?.changes, 5);
  });
});
