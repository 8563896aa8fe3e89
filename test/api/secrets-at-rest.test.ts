// Encryption at rest, end to end on whole nodes (runServe): users created through the API on a
// node with a key ring leave no password, no password hash material and no token secret in the
// Redis dump (an RDB file, uncompressed, and every key read back with DUMP and its type's read
// command) nor in the memory backend's files; yet they are found again once decrypted by a store
// holding the key, and logins work. Then the rotation procedure (add k2, make it active, rotate,
// retire k1: idempotent), and a node missing a key: it refuses those logins and names the key id,
// without crashing or dropping the records.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/infra/logger.js';
import { closeRedis, openRedis, redisSettings } from '../../src/infra/redis/connection.js';
import { KeyRing } from '../../src/infra/secrets/key-ring.js';
import { MemoryAccessStore } from '../../src/storage/memory/access-store.js';
import { RedisAccessStore } from '../../src/storage/redis/access-store.js';
import type { AccessStore } from '../../src/storage/access-store.js';
import { runServe, type RunningServer } from '../../src/node/serve.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';

const BOOT = 'bootstrap-token-0123456789';
const K1 = Buffer.alloc(32, 0x11);
const K2 = Buffer.alloc(32, 0x22);
const USERS = [
  { name: 'alice', password: 'alice-plaintext-Pa55word!', roles: ['admin'] },
  { name: 'bob', password: 'bob-plaintext-Pa55word!', roles: ['reporter'], regions: ['eu-west'] },
];

interface Call {
  status: number;
  text: string;
  json: Record<string, unknown>;
}

async function call(
  base: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<Call> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: res.status, text, json };
}

function writeKeys(dir: string, keys: Record<string, Buffer>): void {
  const text = Object.entries(keys)
    .map(([kid, key]) => `${kid}:${key.toString('base64')}`)
    .join('\n');
  writeFileSync(join(dir, 'keys'), `${text}\n`, { mode: 0o600 });
}

/** Nodes of one test process would share the default nodeId (host:pid): each gets its own. */
let nodeCount = 0;

async function startNode(
  dir: string,
  state: string,
  secrets: string,
): Promise<{ node: RunningServer; base: string }> {
  const config = join(dir, 'meridian.yaml');
  writeFileSync(
    config,
    [
      `state: ${state}`,
      `nodeId: secrets-node-${++nodeCount}`,
      'dns: { enabled: false }',
      `api: { listen: "127.0.0.1:0", token: "${BOOT}", authFailures: { burst: 1000, perSeconds: 60 } }`,
      'log: { level: silent }',
      `secrets: ${secrets}`,
      '',
    ].join('\n'),
  );
  const node = await runServe({ configPath: config, env: {}, print: () => {} });
  const port = node.api?.address.port;
  assert.ok(port !== undefined);
  return { node, base: `http://127.0.0.1:${port}` };
}

/** Creates the users and a token each; returns every secret string the API was given or gave out. */
async function createUsers(base: string): Promise<string[]> {
  const secrets: string[] = [];
  for (const u of USERS) {
    const created = await call(base, 'POST', '/v1/users', BOOT, u);
    assert.equal(created.status, 201, created.text);
    const token = await call(base, 'POST', '/v1/tokens', BOOT, { user: u.name, name: 'grep' });
    assert.equal(token.status, 201, token.text);
    secrets.push(u.password, String(token.json.token));
  }
  return secrets;
}

/** The password hash material of every user, read through a store that holds the key. */
async function hashMaterial(store: AccessStore): Promise<string[]> {
  await store.start();
  const out: string[] = [];
  for (const u of USERS) {
    const user = store.current().users.get(u.name);
    assert.ok(user !== undefined, `${u.name} opens with the key`);
    out.push(user.password.hash, user.password.salt);
  }
  await store.close();
  return out;
}

/** 201 (a session) or 401. */
async function login(base: string, name: string, password: string): Promise<number> {
  return (await call(base, 'POST', '/v1/login', undefined, { username: name, password })).status;
}

function assertAbsent(haystack: string, secrets: readonly string[], where: string): void {
  for (const s of secrets)
    assert.ok(!haystack.includes(s), `${where} contains the plaintext ${JSON.stringify(s)}`);
}

describe('secrets at rest: Redis', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-sealed-redis-'));
  let redis: RedisHandle;
  let state: string;
  const nodes: RunningServer[] = [];
  let base = '';
  let secrets: string[] = [];

  before(async () => {
    redis = await startRedis();
    state = `{ backend: redis, redis: { url: "${redis.url}" } }`;
    writeKeys(dir, { k1: K1 });
    const started = await startNode(dir, state, '{ keyFile: keys }');
    nodes.push(started.node);
    base = started.base;
    secrets = await createUsers(base);
  });

  after(async () => {
    for (const n of nodes) await n.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('neither the RDB dump nor any key read back holds a password, its hash material or a token', async () => {
    const { state: cfg } = configSchema.parse({ state: { redis: { url: redis.url } } });
    const settings = redisSettings(cfg.redis);
    const conn = openRedis(settings, { name: 'grep', profile: 'queued', logger: silentLogger });
    const sub = openRedis(settings, { name: 'grep-sub', profile: 'subscriber', logger: silentLogger });
    try {
      const material = await hashMaterial(
        new RedisAccessStore({
          redis: conn,
          subscriber: sub,
          keyRing: new KeyRing(new Map([['k1', K1]]), 'k1'),
        }),
      );
      const everything = [...secrets, ...material];

      // The RDB file, uncompressed so a plaintext would show as it is.
      await conn.config('SET', 'rdbcompression', 'no');
      const rdb = join(dir, 'dump.rdb');
      const dumped = spawnSync('redis-cli', ['-p', String(redis.port), '--rdb', rdb], { encoding: 'utf8' });
      assert.equal(dumped.status, 0, dumped.stderr);
      const rdbText = readFileSync(rdb).toString('latin1');
      assert.ok(rdbText.includes('alice') && rdbText.includes('enc:v1:k1:'), 'the grep sees stored text');
      assertAbsent(rdbText, everything, 'the RDB dump');

      // Every key: DUMP (serialized value) and its type's own read command.
      let readBack = '';
      const keys = await conn.keys('*');
      assert.ok(keys.length > 0);
      for (const key of keys) {
        readBack += `${key}\n${(await conn.dumpBuffer(key))?.toString('latin1') ?? ''}\n`;
        const type = await conn.type(key);
        if (type === 'string') readBack += (await conn.get(key)) ?? '';
        else if (type === 'hash') readBack += JSON.stringify(await conn.hgetall(key));
        else if (type === 'stream') readBack += JSON.stringify(await conn.xrange(key, '-', '+'));
        else if (type === 'set') readBack += JSON.stringify(await conn.smembers(key));
        else if (type === 'zset') readBack += JSON.stringify(await conn.zrange(key, '0', '-1'));
        else if (type === 'list') readBack += JSON.stringify(await conn.lrange(key, 0, -1));
      }
      assert.ok(readBack.includes('enc:v1:k1:'));
      assertAbsent(readBack, everything, 'a Redis key');
    } finally {
      await closeRedis(conn);
    }
    for (const u of USERS) assert.equal(await login(base, u.name, u.password), 201, `${u.name} logs in`);
  });

  it('rotation: add k2 and make it active, rotate (twice: idempotent), then k1 is retirable', async () => {
    await nodes.pop()?.close();
    writeKeys(dir, { k1: K1, k2: K2 });
    const started = await startNode(dir, state, '{ keyFile: keys, activeKey: k2 }');
    nodes.push(started.node);
    base = started.base;
    const before = await call(base, 'GET', '/v1/keys', BOOT);
    assert.equal(before.status, 200, before.text);
    assert.deepEqual(before.json.inUse, { k1: 2 });
    assert.deepEqual(before.json.retirable, []);
    assert.equal(before.json.activeKeyId, 'k2');

    const rotated = await call(base, 'POST', '/v1/keys/rotate', BOOT, {});
    assert.equal(rotated.status, 200, rotated.text);
    assert.deepEqual(rotated.json.results, [
      { name: 'users', resealed: 2, current: 0, skipped: 0 },
      // No zone is signed here: the DNSSEC key set has nothing to re-seal.
      { name: 'dnssec keys', resealed: 0, current: 0, skipped: 0 },
    ]);
    const status = rotated.json.status as Record<string, unknown>;
    assert.deepEqual(status.inUse, { k2: 2 });
    assert.deepEqual(status.retirable, ['k1']);

    const again = await call(base, 'POST', '/v1/keys/rotate', BOOT, {});
    assert.deepEqual(again.json.results, [
      { name: 'users', resealed: 0, current: 2, skipped: 0 },
      // No zone is signed here: the DNSSEC key set has nothing to re-seal.
      { name: 'dnssec keys', resealed: 0, current: 0, skipped: 0 },
    ]);
    const audit = await call(base, 'GET', '/v1/audit?target=keys/*', BOOT);
    assert.match(audit.text, /keys\.rotate/);
    // Not for anyone else: bob is a reporter.
    const bobToken = await call(base, 'POST', '/v1/login', undefined, {
      username: 'bob',
      password: USERS[1]?.password,
    });
    assert.equal((await call(base, 'POST', '/v1/keys/rotate', String(bobToken.json.token), {})).status, 403);
    for (const u of USERS)
      assert.equal(await login(base, u.name, u.password), 201, `${u.name} after rotation`);
  });

  it('a node without the active key refuses those logins, names the key id, and keeps serving', async () => {
    const other = mkdtempSync(join(tmpdir(), 'meridian-sealed-k1-'));
    try {
      writeKeys(other, { k1: K1 });
      const { node, base: oldBase } = await startNode(other, state, '{ keyFile: keys }');
      try {
        assert.equal(await login(oldBase, 'alice', USERS[0]?.password ?? ''), 401);
        const status = await call(oldBase, 'GET', '/v1/keys', BOOT);
        assert.equal(status.status, 200, status.text);
        const sets = status.json.sets as {
          unreadable: { record: string; keyId: string; reason: string }[];
        }[];
        const unreadable = sets[0]?.unreadable ?? [];
        assert.deepEqual(unreadable.map((u) => [u.record, u.keyId]).sort(), [
          ['user/alice', 'k2'],
          ['user/bob', 'k2'],
        ]);
        assert.match(unreadable[0]?.reason ?? '', /sealed with key k2, which this node does not have/);
        assert.equal((await call(oldBase, 'GET', '/healthz')).status, 200);
      } finally {
        await node.close();
      }
      // The node with the key still reads them: nothing was dropped or overwritten.
      assert.equal(await login(base, 'alice', USERS[0]?.password ?? ''), 201);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe('secrets at rest: memory backend files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-sealed-memory-'));
  const state = '{ backend: memory, file: state.json }';
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the state files hold none of the secrets; a node without the key keeps the users it cannot open', async () => {
    writeKeys(dir, { k1: K1 });
    let { node, base } = await startNode(dir, state, '{ keyFile: keys }');
    const secrets = await createUsers(base);
    await node.close();
    const material = await hashMaterial(
      new MemoryAccessStore({
        file: join(dir, 'state.json.access.json'),
        keyRing: new KeyRing(new Map([['k1', K1]]), 'k1'),
      }),
    );
    const files = readdirSync(dir).filter((f) => f.startsWith('state.json'));
    assert.ok(files.includes('state.json.access.json'), files.join(', '));
    const text = files.map((f) => readFileSync(join(dir, f), 'latin1')).join('\n');
    assert.ok(text.includes('alice') && text.includes('enc:v1:k1:'));
    assertAbsent(text, [...secrets, ...material], 'a state file');

    // Without the key: no login, the key id named, and a write does not drop the sealed users.
    ({ node, base } = await startNode(dir, state, '{}'));
    assert.equal(await login(base, 'alice', USERS[0]?.password ?? ''), 401);
    const status = await call(base, 'GET', '/v1/keys', BOOT);
    assert.match(status.text, /user\/alice.*sealed with key k1/);
    assert.equal((await call(base, 'POST', '/v1/keys/rotate', BOOT, {})).status, 409);
    const carol = await call(base, 'POST', '/v1/users', BOOT, {
      name: 'carol',
      password: 'carol-Pa55word!',
      roles: ['viewer'],
    });
    assert.equal(carol.status, 201, carol.text);
    assert.equal(
      (
        await call(base, 'POST', '/v1/users', BOOT, {
          name: 'alice',
          password: 'another-Pa55word!',
          roles: ['viewer'],
        })
      ).status,
      409,
    );
    await node.close();

    // With the key again: rotate seals carol (written unsealed meanwhile), and everyone logs in.
    ({ node, base } = await startNode(dir, state, '{ keyFile: keys }'));
    try {
      const before = await call(base, 'GET', '/v1/keys', BOOT);
      assert.equal(before.json.unsealed, 1);
      const rotated = await call(base, 'POST', '/v1/keys/rotate', BOOT, {});
      assert.deepEqual(rotated.json.results, [
        { name: 'users', resealed: 1, current: 2, skipped: 0 },
        // No zone is signed here: the DNSSEC key set has nothing to re-seal.
        { name: 'dnssec keys', resealed: 0, current: 0, skipped: 0 },
      ]);
      assert.equal((rotated.json.status as { unsealed: number }).unsealed, 0);
      for (const u of USERS) assert.equal(await login(base, u.name, u.password), 201, u.name);
      assert.equal(await login(base, 'carol', 'carol-Pa55word!'), 201);
    } finally {
      await node.close();
    }
  });
});
