// Users, tokens and login sessions through the admin API: passwords, expiry, revocation, disabled
// users, the session cookie and its CSRF token, and the audit actor naming user and token. The
// clock is the API's injectable one, so expiry needs no waiting.
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { startAdminApi, type AdminApi } from '../../src/api/server.js';
import { silentLogger } from '../../src/infra/logger.js';
import { AuditLog, auditSink } from '../../src/ops/audit.js';
import { MemoryAccessStore } from '../../src/storage/memory/access-store.js';
import { MemoryOpsRecordStore } from '../../src/storage/memory/ops-record-store.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import { waitFor } from '../helpers/wait.js';

const BOOT = 'bootstrap-token-0123456789';
const PASSWORD = 'a long enough password';

describe('users, tokens and sessions', () => {
  let clock = Date.UTC(2026, 0, 1);
  const state = new MemoryStateStore({ logger: silentLogger });
  const access = new MemoryAccessStore();
  const records = new MemoryOpsRecordStore();
  let api: AdminApi;
  let base: string;

  const call = async (
    method: string,
    path: string,
    options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    const text = await res.text();
    const json = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    return { status: res.status, headers: res.headers, text, json };
  };
  const errorOf = (r: { json: Record<string, unknown> }) => r.json.error as { code: string; message: string };

  before(async () => {
    await state.start();
    state.attachAuditSink(auditSink(records));
    await access.start();
    api = await startAdminApi({
      listen: { host: '127.0.0.1', port: 0 },
      store: state,
      token: BOOT,
      access,
      audit: new AuditLog({ records }),
      metricsAuth: 'viewer',
      sessionMinutes: 60,
      authFailures: { burst: 1000, perSeconds: 60 },
      bodyLimitBytes: 65536,
      logger: silentLogger,
      metrics: () => Promise.resolve('# metrics\n'),
      now: () => clock,
    });
    base = `http://127.0.0.1:${api.address.port}`;
    const created = await call('POST', '/v1/users', {
      token: BOOT,
      body: { name: 'alice', password: PASSWORD, roles: ['operator', 'viewer'] },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(JSON.stringify(created.json).includes('scrypt'), false, 'no password hash in answers');
  });

  after(async () => {
    await api.close();
    await access.close();
    await state.close();
  });

  it('rejects bad user input naming the field', async () => {
    const short = await call('POST', '/v1/users', {
      token: BOOT,
      body: { name: 'bob', password: 'short', roles: ['viewer'] },
    });
    assert.equal(short.status, 400);
    assert.match(errorOf(short).message, /^password: expected a string of 12/);
    const role = await call('POST', '/v1/users', {
      token: BOOT,
      body: { name: 'bob', password: PASSWORD, roles: ['root'] },
    });
    assert.equal(role.status, 400);
    assert.match(errorOf(role).message, /roles\[0\]: unknown role "root"/);
    const dup = await call('POST', '/v1/users', {
      token: BOOT,
      body: { name: 'alice', password: PASSWORD, roles: ['viewer'] },
    });
    assert.equal(dup.status, 409);
  });

  it('logs in with a password: a short-lived token, an HttpOnly SameSite=Strict cookie and a CSRF token', async () => {
    const wrong = await call('POST', '/v1/login', {
      body: { username: 'alice', password: 'not the password' },
    });
    const unknown = await call('POST', '/v1/login', {
      body: { username: 'nobody', password: 'not the password' },
    });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(
      errorOf(wrong).message,
      errorOf(unknown).message,
      'the answer does not tell which users exist',
    );

    const login = await call('POST', '/v1/login', { body: { username: 'alice', password: PASSWORD } });
    assert.equal(login.status, 201, login.text);
    const token = String(login.json.token);
    assert.equal(login.json.expiresAt, new Date(clock + 3_600_000).toISOString());
    const cookie = login.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^meridian_session=mdn_[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=3600$/);
    const who = await call('GET', '/v1/whoami', { token });
    assert.deepEqual(
      { user: who.json.user, token: who.json.token, roles: who.json.roles },
      { user: 'alice', token: 'session', roles: ['operator', 'viewer'] },
    );
    assert.equal(access.current().users.get('alice')?.lastLoginAt, new Date(clock).toISOString());

    // The cookie alone reads; an unsafe method also needs the CSRF token.
    const session = cookie.split(';')[0] ?? '';
    assert.equal((await call('GET', '/v1/regions', { headers: { cookie: session } })).status, 200);
    const region = { id: 'eu-west', name: 'EU', lat: 53, lon: -6, ipv4: ['192.0.2.1'] };
    const noCsrf = await call('POST', '/v1/regions', { headers: { cookie: session }, body: region });
    assert.equal(noCsrf.status, 403);
    assert.match(errorOf(noCsrf).message, /CSRF token/);
    const withCsrf = await call('POST', '/v1/regions', {
      headers: { cookie: session, 'x-csrf-token': String(login.json.csrfToken) },
      body: region,
    });
    assert.equal(withCsrf.status, 201, withCsrf.text);

    clock += 3_600_000;
    const expired = await call('GET', '/v1/whoami', { token });
    assert.equal(expired.status, 401);
    assert.match(errorOf(expired).message, /session expired/);
  });

  it('creates tokens shown once, stored as hashes, listed with last use, revocable at once', async () => {
    const created = await call('POST', '/v1/tokens', {
      token: BOOT,
      body: { user: 'alice', name: 'ci', roles: ['viewer'] },
    });
    assert.equal(created.status, 201, created.text);
    const secret = String(created.json.token);
    const id = String(created.json.id);
    assert.equal(JSON.stringify(access.current()).includes(secret), false);
    assert.equal(
      [...access.current().tokens.values()].some((t) => JSON.stringify(t).includes(secret)),
      false,
    );

    const tooMuch = await call('POST', '/v1/tokens', {
      token: BOOT,
      body: { user: 'alice', name: 'big', roles: ['admin'] },
    });
    assert.equal(tooMuch.status, 400);
    assert.match(errorOf(tooMuch).message, /does not have admin/);

    // A viewer token cannot write, even though its user could.
    const write = await call('POST', '/v1/regions/eu-west/drain', { token: secret });
    assert.equal(write.status, 403);
    assert.equal((await call('GET', '/v1/regions', { token: secret })).status, 200);
    const listed = await call('GET', '/v1/tokens', { token: secret });
    const mine = (listed.json.tokens as { id: string; lastUsedAt?: string; hash?: string }[]).find(
      (t) => t.id === id,
    );
    assert.equal(mine?.lastUsedAt, new Date(clock).toISOString());
    assert.equal(mine?.hash, undefined);

    assert.equal((await call('DELETE', `/v1/tokens/${id}`, { token: BOOT })).status, 204);
    const revoked = await call('GET', '/v1/regions', { token: secret });
    assert.equal(revoked.status, 401);
    assert.equal(errorOf(revoked).message, 'invalid or revoked API token');
  });

  it('expires tokens, and a disabled user loses every token at once', async () => {
    const short = await call('POST', '/v1/tokens', {
      token: BOOT,
      body: { user: 'alice', name: 'short', expiresInSeconds: 60 },
    });
    const secret = String(short.json.token);
    assert.equal((await call('GET', '/v1/whoami', { token: secret })).status, 200);
    clock += 60_000;
    const expired = await call('GET', '/v1/whoami', { token: secret });
    assert.equal(expired.status, 401);
    assert.equal(errorOf(expired).message, 'API token expired');

    const long = await call('POST', '/v1/tokens', { token: BOOT, body: { user: 'alice', name: 'long' } });
    assert.equal(
      (await call('PATCH', '/v1/users/alice', { token: BOOT, body: { disabled: true } })).status,
      200,
    );
    const disabled = await call('GET', '/v1/whoami', { token: String(long.json.token) });
    assert.equal(disabled.status, 401);
    assert.equal(errorOf(disabled).message, "the token's user is disabled");
    const login = await call('POST', '/v1/login', { body: { username: 'alice', password: PASSWORD } });
    assert.equal(login.status, 401);
    assert.equal(
      (await call('PATCH', '/v1/users/alice', { token: BOOT, body: { disabled: false } })).status,
      200,
    );
  });

  it('audits every change with the user and token name; the bootstrap token as token:config', async () => {
    const t = await call('POST', '/v1/tokens', {
      token: BOOT,
      body: { user: 'alice', name: 'deploy', roles: ['operator'] },
    });
    const r = await call('PATCH', '/v1/regions/eu-west', {
      token: String(t.json.token),
      body: { weight: 3 },
    });
    assert.equal(r.status, 200, r.text);
    // Region writes reach the ops records through the memory store's audit outbox.
    await waitFor('the region audit entry', async () =>
      (await records.query('audit', {})).items.some((i) => i.actor === 'user:alice/token:deploy'),
    );
    const { items } = await records.query('audit', {});
    const actors = items.map((i) => `${i.actor} ${i.action}`);
    assert.ok(actors.includes('user:alice/token:deploy region.update'), actors.join('\n'));
    assert.ok(actors.includes('token:config token.create'), actors.join('\n'));
    assert.ok(actors.includes('token:config user.create'), actors.join('\n'));
    assert.ok(actors.includes('user:alice/token:session region.create'), actors.join('\n'));
  });

  it('/metrics needs a read permission with metricsAuth: viewer', async () => {
    assert.equal((await call('GET', '/metrics')).status, 401);
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${BOOT}` } });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '# metrics\n');
  });
});
