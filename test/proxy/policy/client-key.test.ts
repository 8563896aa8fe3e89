// The key a limit counts by (src/proxy/policy/client-key.ts), alone and through a rate limit: a
// keyed limit gives every key its own bucket, counts requests without the key by their client
// address (never exempt, never one bucket shared by every keyless request), and a header value
// cannot impersonate an address.
import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { MemoryPolicyStore } from '../../../src/storage/memory/policy-store.js';
import { compileKey } from '../../../src/proxy/policy/client-key.js';
import { PolicyEngine, type PolicyRequest, type PolicyVerdict } from '../../../src/proxy/policy/engine.js';
import { silentLogger } from '../../../src/infra/logger.js';
import { rateLimit } from './fixtures.js';

function req(clientIp: string, headers: Record<string, string> = {}): PolicyRequest {
  return { method: 'GET', path: '/', query: '', headers, clientIp };
}

function action(verdict: PolicyVerdict | Promise<PolicyVerdict>): string {
  assert.ok(!(verdict instanceof Promise), 'a local limit answers synchronously');
  return verdict.action;
}

void describe('policy keys', () => {
  const stores: MemoryPolicyStore[] = [];
  const engines: PolicyEngine[] = [];
  after(async () => {
    for (const e of engines) e.close();
    for (const s of stores) await s.close();
  });

  void it('keeps key values and client addresses apart', () => {
    const byHeader = compileKey('header:X-Api-Key');
    assert.equal(
      byHeader(req('192.0.2.1', { 'x-api-key': 'k1' })),
      'k1',
      'the plain value (quota usage looks it up)',
    );
    assert.equal(byHeader(req('192.0.2.1')), 'ip:192.0.2.1', 'no header: the client address');
    assert.equal(byHeader(req('192.0.2.1', { 'x-api-key': '' })), 'ip:192.0.2.1', 'empty counts as missing');
    assert.notEqual(
      byHeader(req('198.51.100.7', { 'x-api-key': 'ip:192.0.2.1' })),
      byHeader(req('192.0.2.1')),
    );
    assert.match(byHeader(req('192.0.2.1', { 'x-api-key': 'ip:192.0.2.1' })), /^sha1:[0-9a-f]{40}$/);
    const hashed = byHeader(req('192.0.2.1', { 'x-api-key': 'k'.repeat(500) }));
    assert.match(hashed, /^sha1:[0-9a-f]{40}$/);
    assert.notEqual(byHeader(req('192.0.2.1', { 'x-api-key': hashed })), hashed, 'a hash cannot be replayed');
    const byCookie = compileKey('cookie:sid');
    assert.equal(byCookie(req('192.0.2.1', { cookie: 'a=1; sid=s9' })), 's9');
    assert.equal(byCookie(req('192.0.2.1', { cookie: 'a=1' })), 'ip:192.0.2.1');
    assert.equal(compileKey('client_ip')(req('192.0.2.1')), '192.0.2.1');
  });

  void it('a keyed rate limit counts keyless requests per client address, apart from every key', async () => {
    const store = new MemoryPolicyStore();
    stores.push(store);
    await store.start();
    await store.importBatch([rateLimit('rl', { rate: 0.01, burst: 2, key: 'header:x-api-key' })]);
    const engine = new PolicyEngine({
      store,
      regionId: 'r1',
      logger: silentLogger,
      registry: new Registry(),
    });
    engines.push(engine);
    // One keyless client uses up its own bucket...
    assert.equal(action(engine.check(req('192.0.2.1'))), 'pass');
    assert.equal(action(engine.check(req('192.0.2.1'))), 'pass');
    assert.equal(action(engine.check(req('192.0.2.1'))), 'reject');
    // ...which throttles neither another keyless client nor any key, from any address.
    assert.equal(action(engine.check(req('192.0.2.2'))), 'pass');
    assert.equal(action(engine.check(req('192.0.2.1', { 'x-api-key': 'k1' }))), 'pass');
    assert.equal(action(engine.check(req('192.0.2.1', { 'x-api-key': 'k2' }))), 'pass');
    // A header value spelled like an address key has a bucket of its own.
    assert.equal(action(engine.check(req('198.51.100.7', { 'x-api-key': 'ip:192.0.2.2' }))), 'pass');
    assert.equal(action(engine.check(req('198.51.100.7', { 'x-api-key': 'ip:192.0.2.2' }))), 'pass');
    assert.equal(action(engine.check(req('192.0.2.2'))), 'pass', 'its own second token, untouched');
  });
});
