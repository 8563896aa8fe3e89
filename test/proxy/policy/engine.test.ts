// PolicyEngine: token buckets refilling in real time, WAF, quotas (on the injected clock), scope and recompilation.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { MemoryPolicyStore } from '../../../src/storage/memory/policy-store.js';
import { PolicyEngine, type PolicyRequest, type PolicyVerdict } from '../../../src/proxy/policy/engine.js';
import { quota, rateLimit, waf } from './fixtures.js';

function req(extra: Partial<PolicyRequest> = {}): PolicyRequest {
  return { method: 'GET', path: '/', query: '', headers: {}, clientIp: '198.51.100.7', ...extra };
}

/** The verdict, asserting it came back synchronously (no Redis needed). */
function sync(v: PolicyVerdict | Promise<PolicyVerdict>): PolicyVerdict {
  assert.ok(!(v instanceof Promise), 'expected a synchronous verdict');
  return v;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function engineWith(
  policies: Record<string, unknown>[],
  extra: Partial<ConstructorParameters<typeof PolicyEngine>[0]> = {},
) {
  const store = new MemoryPolicyStore();
  await store.start();
  if (policies.length > 0) await store.importBatch(policies);
  const registry = new Registry();
  const engine = new PolicyEngine({ store, regionId: 'eu-west', registry, ...extra });
  return { store, engine, registry };
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values ?? []).find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return Number(v?.value ?? 0);
}

describe('policy engine: rate limits (local token bucket)', () => {
  it('passes the burst, answers 429 at the right request with the right headers, refills in real time', async () => {
    const { engine, registry } = await engineWith([rateLimit('rl', { rate: 4, burst: 3 })]);
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const v = sync(engine.check(req()));
      assert.equal(v.action, 'pass');
      remaining.push(v.headers?.['RateLimit-Remaining'] ?? '');
      assert.equal(v.headers?.['RateLimit-Limit'], '3');
    }
    assert.deepEqual(remaining, ['2', '1', '0']);
    const refused = sync(engine.check(req()));
    assert.equal(refused.action, 'reject');
    if (refused.action !== 'reject') return;
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['Retry-After'], '1');
    assert.equal(refused.headers['RateLimit-Limit'], '3');
    assert.equal(refused.headers['RateLimit-Remaining'], '0');
    assert.equal(refused.headers['RateLimit-Reset'], '1'); // 3 tokens at 4/s: under a second to refill
    assert.equal(refused.body.error.code, 'E_RATE_LIMITED');
    // Another client has its own bucket.
    assert.equal(sync(engine.check(req({ clientIp: '198.51.100.8' }))).action, 'pass');
    // 4 tokens/s: one token after 250 ms.
    await sleep(300);
    assert.equal(sync(engine.check(req())).action, 'pass');
    assert.equal(sync(engine.check(req())).action, 'reject');
    assert.equal(
      await metric(registry, 'meridian_policy_decisions_total', { type: 'rate_limit', action: 'reject' }),
      2,
    );
    assert.equal(
      await metric(registry, 'meridian_policy_decisions_total', { type: 'rate_limit', action: 'pass' }),
      5,
    );
  });

  it('keys by header, falling back to the client address when the header is missing', async () => {
    const { engine } = await engineWith([rateLimit('rl', { rate: 0.01, burst: 1, key: 'header:x-api-key' })]);
    assert.equal(sync(engine.check(req({ headers: { 'x-api-key': 'k1' } }))).action, 'pass');
    assert.equal(
      sync(engine.check(req({ headers: { 'x-api-key': 'k1' }, clientIp: '203.0.113.9' }))).action,
      'reject',
    );
    assert.equal(sync(engine.check(req({ headers: { 'x-api-key': 'k2' } }))).action, 'pass');
    assert.equal(sync(engine.check(req())).action, 'pass');
    assert.equal(sync(engine.check(req())).action, 'reject', 'no header: counted by IP, not exempt');
  });

  it('applies only enabled policies in scope, and recompiles when the store changes', async () => {
    const { engine, store } = await engineWith([
      rateLimit('other-region', { rate: 0.01, burst: 1, scope: 'us-east' }),
      rateLimit('disabled', { rate: 0.01, burst: 1, enabled: false }),
    ]);
    for (let i = 0; i < 5; i++) assert.deepEqual(sync(engine.check(req())), { action: 'pass' });
    assert.deepEqual(
      engine.policies().map((p) => p.id),
      [],
    );
    await store.setEnabled('disabled', true);
    assert.equal(sync(engine.check(req())).action, 'pass');
    assert.equal(sync(engine.check(req())).action, 'reject');
    await store.update('other-region', { scope: 'eu-west' });
    assert.deepEqual(
      engine.policies().map((p) => p.id),
      ['disabled', 'other-region'],
    );
    engine.close();
  });
});

describe('policy engine: WAF', () => {
  const rules = [
    { id: 'allow-health', pattern: '^/healthz$', target: 'path', action: 'allow', priority: 1 },
    { id: 'sqli-log', pattern: '(?i)union\\s+select', target: 'query', action: 'log', priority: 5 },
    { id: 'no-admin', pattern: '^/admin', target: 'path', action: 'block', priority: 10 },
    {
      id: 'bad-net',
      pattern: '192.0.2.0/24, 2001:db8::/32',
      target: 'client_ip',
      action: 'block',
      priority: 20,
    },
    { id: 'no-trace', pattern: '^TRACE$', target: 'method', action: 'block', priority: 30 },
    { id: 'bad-bot', pattern: '(?i)evilbot', target: 'header:user-agent', action: 'block', priority: 40 },
    { id: 'off', pattern: '.*', target: 'path', action: 'block', priority: 0, enabled: false },
  ];

  it('evaluates in priority order: first block/allow decides, log records and continues', async () => {
    const { engine, registry } = await engineWith([waf('edge', rules)]);
    const blocked = sync(engine.check(req({ path: '/admin/users' })));
    assert.deepEqual(blocked, {
      action: 'reject',
      status: 403,
      headers: {},
      body: {
        error: {
          code: 'E_WAF_BLOCKED',
          message: 'request blocked by WAF rule no-admin of policy edge',
          ruleId: 'no-admin',
        },
      },
    });
    // Percent-encoding does not slip past a rule.
    assert.equal(sync(engine.check(req({ path: '/%61dmin' }))).action, 'reject');
    // allow (priority 1) decides before the client_ip block (priority 20).
    assert.equal(sync(engine.check(req({ path: '/healthz', clientIp: '192.0.2.10' }))).action, 'pass');
    assert.equal(sync(engine.check(req({ path: '/x', clientIp: '192.0.2.10' }))).action, 'reject');
    assert.equal(sync(engine.check(req({ clientIp: '::ffff:192.0.2.10' }))).action, 'reject');
    assert.equal(sync(engine.check(req({ clientIp: '2001:db8::5' }))).action, 'reject');
    assert.equal(sync(engine.check(req({ method: 'TRACE' }))).action, 'reject');
    const bot = sync(engine.check(req({ headers: { 'user-agent': 'Mozilla EvilBot/1.0' } })));
    assert.equal(bot.action === 'reject' && bot.body.error.ruleId, 'bad-bot');
    // log: recorded, request passes (and a later block still applies).
    assert.equal(sync(engine.check(req({ query: 'q=1%20UNION%20SELECT%20x' }))).action, 'pass');
    const both = sync(engine.check(req({ path: '/admin', query: 'q=union select' })));
    assert.equal(both.action === 'reject' && both.body.error.ruleId, 'no-admin');
    assert.equal(await metric(registry, 'meridian_policy_waf_matches_total', { rule: 'edge/sqli-log' }), 2);
    assert.equal(await metric(registry, 'meridian_policy_waf_matches_total', { rule: 'edge/no-admin' }), 3);
    assert.equal(
      await metric(registry, 'meridian_policy_decisions_total', { type: 'waf', action: 'log' }),
      2,
    );
    assert.equal(
      await metric(registry, 'meridian_policy_decisions_total', { type: 'waf', action: 'allow' }),
      1,
    );
  });

  it('cannot be hung by a catastrophic pattern: RE2 runs it in linear time; backtracking-only syntax is refused', async () => {
    const { engine, store } = await engineWith([
      waf('redos', [{ id: 'evil', pattern: '^(a+)+$', target: 'path', action: 'block' }]),
    ]);
    // With a backtracking engine this subject takes ~2^40 steps; RE2 answers at once.
    const subject = `/${'a'.repeat(40)}!`;
    assert.equal(sync(engine.check(req({ path: subject }))).action, 'pass');
    assert.equal(sync(engine.check(req({ path: 'a'.repeat(5000) }))).action, 'reject');
    await assert.rejects(
      store.put(waf('look', [{ id: 'la', pattern: '^(?=.*admin)', target: 'path', action: 'block' }])),
      (err: { code: string; field: string; message: string }) =>
        err.code === 'E_VALIDATION' && err.field === 'rules[0].pattern' && /RE2/.test(err.message),
    );
  });
});

describe('policy engine: quotas (local counting)', () => {
  it('refuses past the limit with the reset time and resets at the period boundary', async () => {
    const periodMs = 1000;
    // The engine's injected clock, starting just after a period boundary so the three requests fall in one period.
    const clock = { t: Math.ceil(Date.now() / periodMs) * periodMs + 20 };
    const { engine } = await engineWith([quota('q', { limit: 3, period: 'minute', key: 'label:x-tenant' })], {
      quotaPeriodMs: { minute: periodMs },
      now: () => clock.t,
    });
    const acme = req({ headers: { 'x-tenant': 'acme' } });
    for (let i = 0; i < 3; i++) assert.equal(sync(engine.check(acme)).action, 'pass');
    const refused = sync(engine.check(acme));
    assert.equal(refused.action, 'reject');
    if (refused.action !== 'reject') return;
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error.code, 'E_QUOTA_EXCEEDED');
    assert.match(refused.body.error.message, /resets at \d{4}-\d\d-\d\dT/);
    assert.equal(refused.headers['Retry-After'], '1');
    assert.equal(refused.headers['RateLimit-Limit'], '3');
    assert.equal(refused.headers['RateLimit-Remaining'], '0');
    // Another tenant has its own count.
    assert.equal(sync(engine.check(req({ headers: { 'x-tenant': 'globex' } }))).action, 'pass');
    const usage = await engine.quotaUsage('q', 'acme');
    assert.equal(usage.used, 3);
    assert.equal(usage.remaining, 0);
    assert.equal(usage.counting, 'local');
    assert.equal(usage.limit, 3);
    // Next period: counting starts over.
    clock.t += periodMs;
    assert.equal(sync(engine.check(acme)).action, 'pass');
    assert.equal((await engine.quotaUsage('q', 'acme')).used, 1);
    await assert.rejects(engine.quotaUsage('nope', 'acme'), { code: 'E_NOT_FOUND' });
  });
});
