// The policy routes mounted in the real admin API, driven over HTTP and through `meridian policy`.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command, CommanderError, Option } from 'commander';
import { startAdminApi, type AdminApi } from '../../../src/api/server.js';
import { policyRoutes } from '../../../src/api/policy-routes.js';
import { registerPolicyCommands } from '../../../src/cli/policy-command.js';
import { UsageError } from '../../../src/cli/flags.js';
import { silentLogger } from '../../../src/infra/logger.js';
import { MemoryPolicyStore } from '../../../src/storage/memory/policy-store.js';
import { PolicyEngine } from '../../../src/proxy/policy/engine.js';
import { MemoryStateStore } from '../../../src/storage/memory/state-store.js';
import { quota, rateLimit, waf, asRateLimit } from './fixtures.js';

const TOKEN = 'test-token-123';
const dir = mkdtempSync(join(tmpdir(), 'meridian-policy-cli-'));
const state = new MemoryStateStore();
const store = new MemoryPolicyStore({ file: join(dir, 'policies.json') });
let engine: PolicyEngine;
let api: AdminApi;
let base = '';
const audited: { action: string; target: string }[] = [];

before(async () => {
  await state.start();
  await store.start();
  engine = new PolicyEngine({ store, regionId: 'eu-west' });
  api = await startAdminApi({
    listen: { host: '127.0.0.1', port: 0 },
    store: state,
    token: TOKEN,
    bodyLimitBytes: 65536,
    logger: silentLogger,
    metrics: () => Promise.resolve(''),
    extraRoutes: policyRoutes({
      store,
      quotas: engine.quotas,
      audit: {
        record: (e) => {
          audited.push(e);
          return Promise.resolve(undefined);
        },
      },
    }),
  });
  base = `http://127.0.0.1:${api.address.port}`;
});

after(async () => {
  await api.close();
  engine.close();
  await store.close();
  await state.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  auth = true,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(auth ? { authorization: `Bearer ${TOKEN}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
}

const idsOf = (json: unknown): string[] => (json as { policies: { id: string }[] }).policies.map((p) => p.id);

describe('policy admin API routes', () => {
  it('creates, reads, filters, patches, toggles and deletes; writes need the token', async () => {
    assert.equal((await call('POST', '/v1/policies', rateLimit('api-rl'), false)).status, 401);
    const created = await call('POST', '/v1/policies', rateLimit('api-rl', { scope: 'eu-west' }));
    assert.equal(created.status, 201);
    assert.equal((await call('POST', '/v1/policies', rateLimit('api-rl'))).status, 409);
    const bad = await call('POST', '/v1/policies', rateLimit('x', { burst: 0 }));
    assert.equal(bad.status, 400);
    assert.deepEqual((bad.json as { error: { field: string } }).error.field, 'burst');
    await call('POST', '/v1/policies', quota('tenant-q', { scope: 'us-east' }));
    assert.deepEqual(idsOf((await call('GET', '/v1/policies?type=quota')).json), ['tenant-q']);
    assert.deepEqual(idsOf((await call('GET', '/v1/policies?region=eu-west')).json), ['api-rl']);
    assert.deepEqual(idsOf((await call('GET', '/v1/policies?client=label:x-tenant')).json), ['tenant-q']);
    assert.equal((await call('GET', '/v1/policies?enabled=maybe')).status, 400);
    assert.equal((await call('GET', '/v1/policies?colour=red')).status, 400);
    const patched = await call('PATCH', '/v1/policies/api-rl', { rate: 99 });
    assert.equal((patched.json as { rate: number }).rate, 99);
    assert.equal(
      ((await call('POST', '/v1/policies/api-rl/disable')).json as { enabled: boolean }).enabled,
      false,
    );
    assert.deepEqual(idsOf((await call('GET', '/v1/policies?enabled=false')).json), ['api-rl']);
    assert.equal((await call('GET', '/v1/policies/api-rl')).status, 200);
    assert.equal((await call('DELETE', '/v1/policies/api-rl')).status, 204);
    assert.equal((await call('GET', '/v1/policies/api-rl')).status, 404);
    assert.ok(audited.some((a) => a.action === 'policy.remove' && a.target === 'policy/api-rl'));
  });

  it('imports all or nothing, exports, and reports quota usage', async () => {
    const before = (await call('GET', '/v1/policies/export')).json;
    const bad = await call('POST', '/v1/policies/import', [
      rateLimit('ok-1'),
      waf('w', [{ id: 'r', pattern: '(?<=x)y', target: 'path', action: 'block' }]),
    ]);
    assert.equal(bad.status, 400);
    assert.equal((bad.json as { error: { field: string } }).error.field, 'policies[1].rules[0].pattern');
    assert.deepEqual((await call('GET', '/v1/policies/export')).json, before);
    const ok = await call('POST', '/v1/policies/import', { policies: [rateLimit('ok-1')], replace: false });
    assert.deepEqual(ok.json, { created: 1, updated: 0, removed: 0, total: 2 });
    // Usage: count two requests of tenant acme through the engine, read them over the API.
    for (let i = 0; i < 2; i++)
      await engine.check({
        method: 'GET',
        path: '/',
        query: '',
        headers: { 'x-tenant': 'acme' },
        clientIp: '198.51.100.1',
      });
    await call('POST', '/v1/policies/tenant-q/enable');
    const noScope = await call('GET', '/v1/quotas/tenant-q/usage?key=acme');
    assert.equal(
      (noScope.json as { used: number }).used,
      0,
      'tenant-q is scoped to us-east: this eu-west engine does not count it',
    );
    await call('PATCH', '/v1/policies/tenant-q', { scope: 'global' });
    for (let i = 0; i < 2; i++)
      await engine.check({
        method: 'GET',
        path: '/',
        query: '',
        headers: { 'x-tenant': 'acme' },
        clientIp: '198.51.100.1',
      });
    const usage = await call('GET', '/v1/quotas/tenant-q/usage?key=acme');
    assert.equal(usage.status, 200);
    assert.equal((usage.json as { used: number; limit: number }).used, 2);
    assert.equal((await call('GET', '/v1/quotas/ok-1/usage?key=acme')).status, 400);
    assert.equal((await call('GET', '/v1/quotas/tenant-q/usage')).status, 400);
    assert.equal((await call('GET', '/v1/quotas/nope/usage?key=a')).status, 404);
  });
});

describe('meridian policy', () => {
  async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    const program = new Command('meridian')
      .exitOverride()
      .configureOutput({ writeOut: (s) => (out += s), writeErr: () => undefined })
      .addOption(new Option('--api <url>').default(base))
      .addOption(new Option('--token <token>').default(TOKEN));
    registerPolicyCommands(program, { write: (s) => (out += s) });
    try {
      await program.parseAsync(args, { from: 'user' });
      return { code: 0, out, err: '' };
    } catch (err) {
      if (err instanceof UsageError || err instanceof CommanderError)
        return { code: 2, out, err: err.message };
      return { code: 1, out, err: (err as Error).message };
    }
  }

  it('adds from flags (including WAF rules), lists, shows, edits, toggles and removes', async () => {
    assert.equal(
      (
        await run([
          'policy',
          'add',
          'rate_limit',
          'cli-rl',
          '--rate',
          '5',
          '--burst',
          '10',
          '--mode',
          'cluster',
        ])
      ).code,
      0,
    );
    const w = await run([
      'policy',
      'add',
      'waf',
      'cli-waf',
      '--rule',
      'no-admin@5 block path ^/admin',
      '--rule',
      'ua log header:user-agent (?i)curl /7',
    ]);
    assert.equal(w.code, 0, w.err);
    const shown = await run(['policy', 'show', 'cli-waf']);
    assert.match(shown.out, /no-admin\s+5\s+block\s+path\s+\^\/admin/);
    assert.match(shown.out, /ua\s+20\s+log\s+header:user-agent\s+\(\?i\)curl \/7/);
    const list = await run(['policy', 'list', '--type', 'rate_limit']);
    assert.match(list.out, /^ID\s+TYPE\s+SCOPE\s+ENABLED\s+LIMIT/);
    assert.match(list.out, /cli-rl\s+rate_limit\s+global\s+yes\s+5\/s burst 10 by client_ip \(cluster\)/);
    assert.equal((await run(['policy', 'edit', 'cli-rl', '--rate', '7'])).code, 0);
    assert.equal(asRateLimit(store.get('cli-rl')).rate, 7);
    assert.equal((await run(['policy', 'disable', 'cli-rl'])).out, 'policy cli-rl disabled\n');
    const json = JSON.parse((await run(['policy', 'list', '--enabled', 'false', '--json'])).out) as {
      id: string;
    }[];
    assert.deepEqual(
      json.map((p) => p.id),
      ['cli-rl'],
    );
    assert.equal((await run(['policy', 'remove', 'cli-rl'])).code, 0);
    // Exit codes: 2 for bad usage (nothing sent), 1 when the server refuses.
    const usage = await run(['policy', 'add', 'rate_limit', 'x', '--rate', '-3', '--burst', '1']);
    assert.equal(usage.code, 2);
    const badRule = await run(['policy', 'add', 'waf', 'x', '--rule', 'r block path (a)\\1']);
    assert.equal(badRule.code, 2);
    assert.match(badRule.err, /^--rule\[0\]\.pattern: .*RE2/);
    assert.equal((await run(['policy', 'add', 'waf', 'cli-waf', '--rule', 'r block path x'])).code, 1);
    assert.equal((await run(['policy', 'remove', 'nope'])).code, 1);
    assert.equal((await run(['policy', 'list', '--type', 'teleport'])).code, 2);
  });

  it('imports YAML (one bad entry changes nothing) and exports what import reads', async () => {
    const before = JSON.stringify(store.current());
    const badFile = join(dir, 'bad.yaml');
    writeFileSync(
      badFile,
      [
        'policies:',
        '  - {id: imp-a, type: rate_limit, rate: 1, burst: 1}',
        '  - {id: imp-b, type: quota, limit: 10, period: fortnight}',
        '',
      ].join('\n'),
    );
    const bad = await run(['policy', 'import', badFile]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /policies\[1\]\.period/);
    assert.equal(JSON.stringify(store.current()), before);
    // The server enforces the same: the batch posted directly is refused whole.
    const direct = await call('POST', '/v1/policies/import', {
      policies: [
        { id: 'imp-a', type: 'rate_limit', rate: 1, burst: 1 },
        { id: 'imp-b', type: 'quota', limit: 10, period: 'fortnight' },
      ],
    });
    assert.equal(direct.status, 400);
    assert.equal(JSON.stringify(store.current()), before);

    const good = join(dir, 'good.yaml');
    writeFileSync(
      good,
      [
        '- {id: imp-a, type: rate_limit, rate: 1, burst: 1}',
        '- {id: imp-b, type: quota, limit: 10, period: day}',
        '',
      ].join('\n'),
    );
    const imported = await run(['policy', 'import', good]);
    assert.equal(imported.code, 0, imported.err);
    assert.match(imported.out, /2 created/);
    const out = join(dir, 'export.yaml');
    assert.equal((await run(['policy', 'export', '--output', out])).code, 0);
    const exported = readFileSync(out, 'utf8');
    assert.match(exported, /id: imp-b/);
    // Round trip: replace everything with the export → nothing changes.
    const snapshot = JSON.stringify(store.current());
    const again = await run(['policy', 'import', out, '--replace']);
    assert.equal(again.code, 0, again.err);
    assert.equal(JSON.stringify(store.current()), snapshot);
    const jsonExport = JSON.parse((await run(['policy', 'export', '--format', 'json'])).out) as {
      version: number;
    };
    assert.equal(jsonExport.version, 1);
  });
});
