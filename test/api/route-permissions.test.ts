// Every admin API route × every role, against a verdict table written out here: a whole node
// (runServe, memory backend, DNS off) so the table sees every route the node mounts. A route missing
// from the table (or declaring another permission than the table says) fails the test, so a new
// route cannot slip in without a decision about who may call it.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Role } from '../../src/core/access.js';
import { runServe, type RunningServer } from '../../src/node/serve.js';

const BOOT = 'bootstrap-token-0123456789';
const PASSWORD = 'correct horse battery staple';

/** Who may call a route, by what the route declares. */
const VERDICT: Readonly<Record<string, readonly Role[]>> = {
  public: ['admin', 'operator', 'viewer', 'reporter'],
  self: ['admin', 'operator', 'viewer', 'reporter'],
  read: ['admin', 'operator', 'viewer'],
  write: ['admin', 'operator'],
  // For a region the reporter is bound to (eu-west); any other region is tested below.
  'report-health': ['admin', 'operator', 'reporter'],
  'manage-access': ['admin'],
  'manage-zones': ['admin', 'operator'],
};

/** Every route the node serves and the permission it must declare. */
const TABLE: Readonly<Record<string, keyof typeof VERDICT>> = {
  'GET /healthz': 'public',
  'POST /v1/login': 'public',
  'POST /v1/logout': 'self',
  'GET /v1/whoami': 'self',
  'GET /v1/tokens': 'self',
  'POST /v1/tokens': 'self',
  'DELETE /v1/tokens/:id': 'self',
  'GET /v1/users': 'manage-access',
  'POST /v1/users': 'manage-access',
  'GET /v1/users/:name': 'manage-access',
  'PATCH /v1/users/:name': 'manage-access',
  'DELETE /v1/users/:name': 'manage-access',
  'GET /v1/regions': 'read',
  'POST /v1/regions': 'write',
  'GET /v1/regions/:id': 'read',
  'PATCH /v1/regions/:id': 'write',
  'DELETE /v1/regions/:id': 'write',
  'POST /v1/regions/:id/drain': 'write',
  'POST /v1/regions/:id/undrain': 'write',
  'GET /v1/regions/:id/backends': 'read',
  'POST /v1/regions/:id/backends': 'write',
  'GET /v1/regions/:id/backends/:backendId': 'read',
  'PATCH /v1/regions/:id/backends/:backendId': 'write',
  'DELETE /v1/regions/:id/backends/:backendId': 'write',
  'POST /v1/regions/:id/backends/:backendId/drain': 'write',
  'POST /v1/regions/:id/backends/:backendId/undrain': 'write',
  'GET /v1/regions/:id/health': 'read',
  'POST /v1/regions/:id/health': 'report-health',
  'GET /v1/status': 'read',
  'GET /v1/explain': 'read',
  'GET /v1/audit': 'read',
  'GET /v1/alerts': 'read',
  'GET /v1/tasks': 'read',
  'POST /v1/tasks': 'write',
  'DELETE /v1/tasks/:id': 'write',
  'POST /v1/tasks/:id/enable': 'write',
  'POST /v1/tasks/:id/disable': 'write',
  'GET /v1/policies': 'read',
  'POST /v1/policies': 'write',
  'GET /v1/policies/export': 'read',
  'POST /v1/policies/import': 'write',
  'GET /v1/policies/:id': 'read',
  'PATCH /v1/policies/:id': 'write',
  'DELETE /v1/policies/:id': 'write',
  'POST /v1/policies/:id/enable': 'write',
  'POST /v1/policies/:id/disable': 'write',
  'GET /v1/quotas/:policyId/usage': 'read',
  // Writes the node's snapshot of regions and backends back to the store: an operator's write.
  'POST /v1/state/reseed': 'write',
  // Encryption at rest: which keys protect what, and re-sealing everything: admins only.
  'GET /v1/keys': 'manage-access',
  'POST /v1/keys/rotate': 'manage-access',
  'GET /v1/zones': 'read',
  'POST /v1/zones': 'manage-zones',
  'GET /v1/zones/:zone': 'read',
  'PATCH /v1/zones/:zone': 'manage-zones',
  'DELETE /v1/zones/:zone': 'manage-zones',
  'GET /v1/zones/:zone/records': 'read',
  'POST /v1/zones/:zone/records': 'manage-zones',
  'PUT /v1/zones/:zone/records/:name/:type': 'manage-zones',
  'DELETE /v1/zones/:zone/records/:name/:type': 'manage-zones',
  'POST /v1/zones/:zone/names': 'manage-zones',
  'PATCH /v1/zones/:zone/names/:name': 'manage-zones',
  'DELETE /v1/zones/:zone/names/:name': 'manage-zones',
  'GET /v1/zones/:zone/dnssec': 'read',
  'POST /v1/zones/:zone/dnssec': 'manage-zones',
  'DELETE /v1/zones/:zone/dnssec': 'manage-zones',
  'GET /v1/zones/:zone/dnssec/ds': 'read',
  'POST /v1/zones/:zone/dnssec/rollover': 'manage-zones',
  'GET /v1/history/traffic': 'read',
  'GET /v1/history/health': 'read',
  'GET /v1/report': 'read',
  'GET /v1/nodes': 'read',
  // A backup holds password and token hashes; a restore replaces users and tokens: admins only.
  'GET /v1/backup': 'manage-access',
  'POST /v1/backup/restore': 'manage-access',
  'GET /v1/history': 'read',
  'POST /v1/rollback': 'write',
  // The autoscaler's policies, decisions and actuator results: a read like the others.
  'GET /v1/autoscale': 'read',
  // The console's page and assets hold no data (every figure comes from the API with a login).
  'GET /console': 'public',
  'GET /console/:file': 'public',
  'GET /console/yaml/*': 'public',
  'GET /v1/console/overview': 'read',
  'GET /v1/console/policy-hits': 'read',
  'POST /v1/alerts/:id/acknowledge': 'write',
};

const ROLES: readonly Role[] = ['admin', 'operator', 'viewer', 'reporter'];

describe('route × role permissions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-perm-'));
  let node: RunningServer;
  let base: string;
  const tokens = new Map<Role, string>();

  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    const isJson = res.headers.get('content-type')?.includes('json') === true;
    return {
      status: res.status,
      text,
      json: isJson ? (JSON.parse(text) as Record<string, unknown>) : undefined,
    };
  };

  before(async () => {
    const config = join(dir, 'meridian.yaml');
    writeFileSync(
      config,
      [
        'state: { backend: memory, file: state.json }',
        'dns: { enabled: false }',
        `api: { listen: "127.0.0.1:0", token: "${BOOT}", authFailures: { burst: 1000, perSeconds: 60 } }`,
        'log: { level: silent }',
        '',
      ].join('\n'),
    );
    node = await runServe({ configPath: config, env: {}, print: () => {} });
    const address = node.api?.address;
    assert.ok(address !== undefined);
    base = `http://127.0.0.1:${address.port}`;
    for (const role of ROLES) {
      const created = await call('POST', '/v1/users', BOOT, {
        name: `${role}-user`,
        password: PASSWORD,
        roles: [role],
        ...(role === 'reporter' ? { regions: ['eu-west'] } : {}),
      });
      assert.equal(created.status, 201, created.text);
      const token = await call('POST', '/v1/tokens', BOOT, { user: `${role}-user`, name: 'table' });
      assert.equal(token.status, 201, token.text);
      tokens.set(role, String(token.json?.token));
    }
  });

  after(async () => {
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every route is in the table and declares the permission the table gives it', () => {
    const served = new Map(node.api?.routes.map((r) => [`${r.method} ${r.path}`, r.access]));
    assert.deepEqual([...served.keys()].sort(), Object.keys(TABLE).sort());
    for (const [route, access] of served) assert.equal(access, TABLE[route], route);
  });

  it('each role gets through exactly the routes the verdict table allows it, 403 JSON elsewhere', async () => {
    const checked: string[] = [];
    for (const [route, access] of Object.entries(TABLE)) {
      const [method = 'GET', pattern = ''] = route.split(' ');
      // Logging out would revoke the token under test; it is covered below.
      if (route === 'POST /v1/logout') continue;
      const path = pattern.replace(':id', 'eu-west').replace(/:[a-zA-Z]+/g, 'nothing-here');
      for (const role of ROLES) {
        const r = await call(method, path, tokens.get(role), method === 'GET' ? undefined : {});
        const allowed = VERDICT[access]?.includes(role) ?? false;
        if (allowed) {
          assert.ok(
            r.status !== 401 && r.status !== 403,
            `${role} ${route}: expected through, got ${r.status} ${r.text}`,
          );
        } else {
          assert.equal(r.status, 403, `${role} ${route}: expected 403, got ${r.status} ${r.text}`);
          const error = r.json?.error as { code?: string; message?: string } | undefined;
          assert.equal(error?.code, 'E_FORBIDDEN');
          assert.match(error?.message ?? '', new RegExp(`needs the "${access}" permission`));
        }
        checked.push(`${role} ${route}`);
      }
      if (access !== 'public') {
        const anonymous = await call(method, path, undefined, method === 'GET' ? undefined : {});
        assert.equal(anonymous.status, 401, `anonymous ${route}`);
      }
    }
    assert.equal(checked.length, (Object.keys(TABLE).length - 1) * ROLES.length);
  });

  it('a reporter may report health only for its own regions', async () => {
    const report = { reporterId: 'proxy-1', healthyBackends: 1, totalBackends: 1 };
    const elsewhere = await call('POST', '/v1/regions/us-east/health', tokens.get('reporter'), report);
    assert.equal(elsewhere.status, 403, elsewhere.text);
    assert.match(elsewhere.text, /reports only for eu-west/);
  });

  it('/metrics is open by default', async () => {
    assert.equal((await call('GET', '/metrics')).status, 200);
  });

  it('every role may log out, which revokes the token it used', async () => {
    for (const role of ROLES) {
      const token = tokens.get(role);
      assert.equal((await call('POST', '/v1/logout', token)).status, 200, role);
      assert.equal((await call('GET', '/v1/whoami', token)).status, 401, role);
    }
  });
});
