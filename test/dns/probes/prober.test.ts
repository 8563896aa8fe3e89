// DNS-side probes against real local servers, several probing nodes voting into one real (memory)
// state store, judged with the default rule: a live HTTP server and a closed port, 2 of 3 vantage
// points failing, one partitioned vantage point, a flapping endpoint, and failover of a region that
// only DNS-side checks watch.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { dnsSchema } from '../../../src/config/dns-schema.js';
import { healthPolicies, type RegionHealthConfig } from '../../../src/config/region-health-schema.js';
import { evaluateRegionHealth, type RegionHealthView } from '../../../src/core/health.js';
import { silentLogger } from '../../../src/infra/logger.js';
import { RegionProber } from '../../../src/dns/probes/prober.js';
import { SteeringEngine } from '../../../src/dns/steering/engine.js';
import { MemoryStateStore } from '../../../src/storage/memory/state-store.js';
import { waitFor } from '../../helpers/wait.js';

interface Endpoint {
  readonly port: number;
  failing: boolean;
  close(): Promise<void>;
}

async function startEndpoint(): Promise<Endpoint> {
  const state = { failing: false };
  const server: Server = createServer((_req, res) => {
    res.statusCode = state.failing ? 503 : 200;
    res.end(state.failing ? 'down' : 'meridian-ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    port,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  });
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** The health section with one region's checks, through the real schema (defaults included). */
function healthConfig(checks: Record<string, unknown[]>): RegionHealthConfig {
  return dnsSchema.parse({ steering: { health: { probes: { checks } } } }).steering.health;
}

const DEFAULTS = healthConfig({ eu: [{ type: 'http' }] });
const policyOf = healthPolicies(DEFAULTS);

void describe('DNS-side probes', () => {
  const store = new MemoryStateStore({});
  const probers: RegionProber[] = [];
  const endpoints: Endpoint[] = [];

  const startProber = (nodeId: string, checks: Record<string, unknown[]>): RegionProber => {
    const prober = new RegionProber({
      nodeId,
      health: healthConfig(checks),
      snapshot: () => store.current(),
      onChange: (listener) => store.onChange(listener),
      reportHealth: (report) => store.reportHealth(report),
      logger: silentLogger,
    });
    prober.start();
    probers.push(prober);
    return prober;
  };
  const stopProbers = (): void => {
    for (const p of probers.splice(0)) p.close();
  };
  const endpoint = async (): Promise<Endpoint> => {
    const e = await startEndpoint();
    endpoints.push(e);
    return e;
  };
  const view = (regionId: string): RegionHealthView =>
    evaluateRegionHealth(store.current().health.get(regionId), Date.now(), 0, policyOf(regionId));
  /** Polls for `ms` and fails as soon as `check` is false: the state must hold the whole window. */
  const holdsFor = async (what: string, ms: number, check: () => boolean): Promise<void> => {
    const until = Date.now() + ms;
    await waitFor(
      `${what} to hold for ${ms} ms`,
      () => {
        assert.ok(check(), `${what} stopped holding`);
        return Date.now() >= until;
      },
      { timeoutMs: ms + 5000, intervalMs: 25 },
    );
  };

  before(async () => {
    await store.start();
    await store.createRegion({ id: 'eu', lat: 50.11, lon: 8.68, ipv4: ['127.0.0.1'] });
    await store.createRegion({ id: 'us', lat: 39.04, lon: -77.49, ipv4: ['127.0.0.2'] });
  });
  after(async () => {
    stopProbers();
    await Promise.all(endpoints.map((e) => e.close()));
    await store.close();
  });

  void it('votes up for a live HTTP server, down for a closed port and for a body that does not match', async () => {
    const live = await endpoint();
    const closed = await closedPort();
    startProber('n1', {
      eu: [{ type: 'http', port: live.port, bodyContains: 'meridian-ok' }],
      us: [{ type: 'tcp', host: '127.0.0.1', port: closed }],
    });
    await waitFor('both votes', () => view('eu').votes.length === 1 && view('us').votes.length === 1);
    const eu = store.current().health.get('eu')?.get('probe:n1');
    assert.equal(eu?.kind, 'probe');
    assert.equal(eu?.healthyBackends, 1);
    assert.equal(eu?.backends?.[0]?.backendId, 'c0-127-0-0-1');
    const us = store.current().health.get('us')?.get('probe:n1');
    assert.equal(us?.healthyBackends, 0);
    assert.match(us?.backends?.[0]?.reason ?? '', /ECONNREFUSED/);
    stopProbers();

    startProber('n2', { eu: [{ type: 'http', port: live.port, bodyContains: 'something else' }] });
    await waitFor('the body-mismatch vote', () => store.current().health.get('eu')?.get('probe:n2'));
    assert.equal(store.current().health.get('eu')?.get('probe:n2')?.healthyBackends, 0);
    assert.match(
      store.current().health.get('eu')?.get('probe:n2')?.backends?.[0]?.reason ?? '',
      /body does not contain/,
    );
    stopProbers();
  });

  void it('writes a vote once per change, not once per probe', async () => {
    const live = await endpoint();
    let writes = 0;
    const prober = new RegionProber({
      nodeId: 'w1',
      health: healthConfig({ eu: [{ type: 'http', port: live.port }] }),
      snapshot: () => store.current(),
      onChange: (listener) => store.onChange(listener),
      reportHealth: (report) => {
        writes++;
        return store.reportHealth(report);
      },
      logger: silentLogger,
    });
    prober.start();
    probers.push(prober);
    await waitFor('the first vote', () => writes > 0);
    // Twelve probe intervals with nothing changing: no further write.
    await holdsFor('a single write', 3000, () => writes === 1);
    // The refresh (at half the 10 s vote lifetime) keeps it alive.
    await waitFor('the refresh write', () => writes === 2, { timeoutMs: 5000 });
    stopProbers();
  });
});

void describe('votes from several vantage points, judged with the default rule', () => {
  const store = new MemoryStateStore({});
  const probers: RegionProber[] = [];
  const endpoints: Endpoint[] = [];
  const { downAfterMs } = DEFAULTS;
  const interval = DEFAULTS.probes.checks.eu?.[0]?.intervalMs ?? 0;

  const startProber = (nodeId: string, port: number): void => {
    const prober = new RegionProber({
      nodeId,
      health: healthConfig({ eu: [{ type: 'http', host: '127.0.0.1', port }] }),
      snapshot: () => store.current(),
      onChange: (listener) => store.onChange(listener),
      reportHealth: (report) => store.reportHealth(report),
      logger: silentLogger,
    });
    prober.start();
    probers.push(prober);
  };
  const view = (): RegionHealthView =>
    evaluateRegionHealth(store.current().health.get('eu'), Date.now(), 0, policyOf('eu'));
  const holdsFor = async (what: string, ms: number, check: () => boolean): Promise<void> => {
    const until = Date.now() + ms;
    await waitFor(
      `${what} to hold for ${ms} ms`,
      () => {
        assert.ok(check(), `${what} stopped holding`);
        return Date.now() >= until;
      },
      { timeoutMs: ms + 5000, intervalMs: 25 },
    );
  };

  let shared: Endpoint;
  let lonely: Endpoint;
  before(async () => {
    await store.start();
    await store.createRegion({ id: 'eu', lat: 50.11, lon: 8.68, ipv4: ['127.0.0.1'] });
    await store.createRegion({ id: 'us', lat: 39.04, lon: -77.49, ipv4: ['127.0.0.2'] });
    shared = await startEndpoint();
    lonely = await startEndpoint();
    endpoints.push(shared, lonely);
    // Vantage points a and b reach the region through `shared`, c through `lonely`.
    startProber('a', shared.port);
    startProber('b', shared.port);
    startProber('c', lonely.port);
    await waitFor('three up votes', () => view().votes.length === 3 && view().votes.every((v) => v.up));
  });
  after(async () => {
    for (const p of probers.splice(0)) p.close();
    await Promise.all(endpoints.map((e) => e.close()));
    await store.close();
  });

  void it('one partitioned vantage point (its probes fail, the others pass) does not take the region down', async () => {
    lonely.failing = true;
    await waitFor('c to vote down', () => view().votes.some((v) => v.vantage === 'probe:c' && !v.up));
    await holdsFor('eu up', downAfterMs * 2, () => view().up && view().rawUp);
    lonely.failing = false;
    await waitFor('c to vote up again', () => view().votes.every((v) => v.up));
  });

  void it('2 of 3 vantage points failing take the region down within downAfter + one interval', async (t) => {
    shared.failing = true;
    const started = Date.now();
    await waitFor('eu down', () => !view().up, { timeoutMs: 10_000, intervalMs: 10 });
    const took = Date.now() - started;
    // One interval (with jitter) for the first failed probe, whose start the timer counts from.
    const bound = downAfterMs + interval * 1.1 + 150;
    assert.ok(took <= bound, `took ${took} ms, bound ${bound} ms`);
    assert.ok(took >= downAfterMs - 50, `took ${took} ms: the region went down before downAfter`);
    t.diagnostic(`2 of 3 down after ${took} ms (bound ${bound} ms)`);
    shared.failing = false;
  });
});

void describe('a region watched only by DNS-side checks, answered through the steering engine', () => {
  const store = new MemoryStateStore({});
  let prober: RegionProber | undefined;
  let endpoint: Endpoint;
  const dns = dnsSchema.parse({
    steering: {
      defaultOrder: ['eu', 'us'],
      health: { probes: { checks: { eu: [{ type: 'http' }] } } },
    },
    zones: [
      {
        name: 'example.test',
        soa: { mname: 'ns1', rname: 'hostmaster' },
        ns: ['ns1.example.test'],
        balanced: [{ name: 'www' }],
      },
    ],
  });
  const name = dns.zones[0]?.balanced[0];
  const engine = new SteeringEngine({
    snapshot: () => store.current(),
    locator: undefined,
    steering: dns.steering,
    startedAt: 0,
  });
  const answer = (): string => {
    assert.ok(name !== undefined);
    return engine.answer({ name, family: 4, source: new Uint8Array([127, 0, 0, 1]), now: Date.now() }).steered
      .addresses[0] as string;
  };

  before(async () => {
    endpoint = await startEndpoint();
    await store.start();
    // eu's address is where the endpoint listens: the default check probes each region address.
    await store.createRegion({ id: 'eu', lat: 50.11, lon: 8.68, ipv4: ['127.0.0.1'] });
    await store.createRegion({ id: 'us', lat: 39.04, lon: -77.49, ipv4: ['127.0.0.2'] });
    prober = new RegionProber({
      nodeId: 'solo',
      // The engine's config checks eu too; this one only adds where the endpoint listens.
      health: healthConfig({ eu: [{ type: 'http', port: endpoint.port }] }),
      snapshot: () => store.current(),
      onChange: (listener) => store.onChange(listener),
      reportHealth: (report) => store.reportHealth(report),
      logger: silentLogger,
    });
    prober.start();
    await waitFor(
      'the eu vote',
      () => store.current().health.get('eu')?.get('probe:solo')?.healthyBackends === 1,
    );
    assert.equal(answer(), '127.0.0.1');
  });
  after(async () => {
    prober?.close();
    await endpoint.close().catch(() => undefined);
    await store.close();
  });

  void it('an endpoint flapping up 1 s / down 1 s does not flap the answer over a minute', async () => {
    const flap = setInterval(() => {
      endpoint.failing = !endpoint.failing;
    }, 1000);
    const answers = new Set<string>();
    let flips = 0;
    let last = answer();
    try {
      const until = Date.now() + 60_000;
      await waitFor(
        'the flapping window to end',
        () => {
          const now = answer();
          answers.add(now);
          if (now !== last) flips++;
          last = now;
          return Date.now() >= until;
        },
        { timeoutMs: 65_000, intervalMs: 20 },
      );
    } finally {
      clearInterval(flap);
      endpoint.failing = false;
    }
    assert.equal(flips, 0, `answers seen: ${[...answers].join(', ')}`);
    assert.deepEqual([...answers], ['127.0.0.1']);
  });

  void it('fails over within 3 s of its endpoint dying, with the default settings', async (t) => {
    // After the flapping: wait until the vote says up again and nothing is pending.
    await waitFor(
      'eu steady up',
      () => {
        const view = evaluateRegionHealth(store.current().health.get('eu'), Date.now(), 0, policyOf('eu'));
        return answer() === '127.0.0.1' && view.rawUp && view.pending === undefined;
      },
      { timeoutMs: 10_000 },
    );
    const died = Date.now();
    await endpoint.close();
    await waitFor('the answer to move to us', () => answer() === '127.0.0.2', {
      timeoutMs: 5000,
      intervalMs: 10,
    });
    const took = Date.now() - died;
    assert.ok(took <= 3000, `took ${took} ms`);
    assert.ok(took >= DEFAULTS.downAfterMs - 50, `took ${took} ms: sooner than downAfter`);
    t.diagnostic(`failover after ${took} ms`);
  });
});
