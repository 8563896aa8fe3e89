// A bounded loopback load test of one region: a real proxy in front of real backends reports its
// load; the autoscaler (memory stores, as on one node) asks a real local webhook receiver for more
// backends within its up cooldown of the load starting, and for fewer once the load stops. The
// receiver plays the orchestrator: it checks the signature, then starts or stops backends and
// registers them in the state store, so the proxy spreads the load over them.
// A second case: an actuator that fails is logged, counted, alerted, and retried at the next
// evaluation, without crashing anything.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { autoscaleSchema } from '../../../src/config/autoscale-schema.js';
import { AlertManager } from '../../../src/ops/alerts.js';
import { AuditLog } from '../../../src/ops/audit.js';
import { Autoscaler } from '../../../src/ops/autoscale/service.js';
import { verifyWebhookSignature } from '../../../src/ops/webhooks.js';
import { MemoryAutoscaleStore } from '../../../src/storage/memory/autoscale-store.js';
import { MemoryOpsRecordStore } from '../../../src/storage/memory/ops-record-store.js';
import { MemoryStateStore } from '../../../src/storage/memory/state-store.js';
import {
  httpRequest,
  regionWithBackends,
  startBackend,
  startTestProxy,
  type TestBackend,
} from '../../helpers/backends.js';
import { waitFor } from '../../helpers/wait.js';

const SECRET = 'load-test-secret-0123456789';

interface Ask {
  readonly at: number;
  readonly action: string;
  readonly current: number;
  readonly desired: number;
  readonly reasons: string[];
}

/** An HTTP receiver that records each verified request and answers with `status()`. */
async function startReceiver(
  onAsk: (ask: Ask) => void,
  status: () => number = () => 200,
): Promise<{ url: string; asks: Ask[]; invalid: number; server: Server }> {
  const asks: Ask[] = [];
  const state = { invalid: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = req.headers['meridian-signature'];
      if (
        !verifyWebhookSignature(SECRET, body, header as string | undefined, Math.floor(Date.now() / 1000))
      ) {
        state.invalid++;
        res.writeHead(401).end();
        return;
      }
      const code = status();
      if (code === 200) {
        const ask = { at: Date.now(), ...(JSON.parse(body) as Omit<Ask, 'at'>) };
        asks.push(ask);
        onAsk(ask);
      }
      res.writeHead(code).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/scale`,
    asks,
    get invalid() {
      return state.invalid;
    },
    server,
  };
}

describe('autoscaling under a loopback load', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  void it('asks the webhook for more backends within its cooldown, and for fewer after the load stops', async () => {
    const { store, backends } = await regionWithBackends(2, 'base');
    const extra: TestBackend[] = [];
    cleanups.push(async () => {
      for (const b of [...backends, ...extra]) await b.close();
    });
    const proxy = await startTestProxy({ store, region: 'r1' });
    cleanups.push(() => proxy.close(500));

    // The orchestrator: brings the region to the desired count, one change at a time.
    let reconciling = Promise.resolve();
    const receiver = await startReceiver((ask) => {
      reconciling = reconciling.then(async () => {
        const ids = [...(store.current().backends.get('r1')?.keys() ?? [])];
        for (let n = ids.length; n < ask.desired; n++) {
          const b = await startBackend(`scaled${extra.length + 1}`);
          extra.push(b);
          await store.createBackend('r1', { id: b.id, url: b.url, weight: 100 });
        }
        for (const id of ids.slice(ask.desired).reverse()) await store.removeBackend('r1', id);
      });
    });
    cleanups.push(() => {
      receiver.server.closeAllConnections();
      return new Promise((resolve) => receiver.server.close(resolve));
    });

    const records = new MemoryOpsRecordStore();
    await records.start();
    const registry = new Registry();
    const config = autoscaleSchema.parse({
      leaseSeconds: 2,
      regions: [
        {
          region: 'r1',
          metric: 'inFlightPerBackend',
          target: 2,
          min: 2,
          max: 8,
          maxStepUp: 4,
          maxStepDown: 2,
          cooldownUpSeconds: 3,
          cooldownDownSeconds: 2,
          tolerance: 0.2,
          windowSeconds: 1.5,
          intervalSeconds: 0.25,
          actuator: { type: 'webhook', url: receiver.url, secret: SECRET, retries: 1, backoffMs: 50 },
        },
      ],
    });
    const autoscaler = new Autoscaler({
      config,
      store: new MemoryAutoscaleStore(),
      state: store,
      audit: new AuditLog({ records }),
      alerts: new AlertManager({ store, records, nodeId: 'node-a' }),
      nodeId: 'node-a',
      resolvePath: (p) => p,
      registry,
      tickMs: 100,
    });
    autoscaler.start();
    cleanups.push(() => autoscaler.close());

    // Quiet region first: two backends at the minimum, nothing asked.
    await waitFor(
      'a first evaluation',
      async () => (await autoscaler.status()).regions[0]?.last !== undefined,
    );
    assert.equal(receiver.asks.length, 0);

    // 40 clients, each keeping a 300 ms request in flight: on this shared 2-core machine about 10-20
    // reach the backends at once, 5-10 per backend against a target of 2.
    let loading = true;
    const loadStart = Date.now();
    const clients = Array.from({ length: 40 }, async () => {
      while (loading) await httpRequest(`${proxy.url}/slow?ms=300`).catch(() => undefined);
    });
    try {
      const up = await waitFor(
        'a scale-up request',
        () => receiver.asks.find((a) => a.action === 'scale-up'),
        {
          timeoutMs: 8000,
        },
      );
      assert.ok(up.at - loadStart <= 3000, `asked ${up.at - loadStart} ms after the load started`);
      assert.equal(up.current, 2);
      assert.ok(up.desired > 2 && up.desired <= 6, `desired ${up.desired}: +4 per step at most`);
      assert.ok(
        up.reasons.some((r) => /inFlightPerBackend mean \d+/.test(r)),
        up.reasons.join('; '),
      );
      await reconciling;
      assert.equal(store.current().backends.get('r1')?.size, up.desired);
      // The new backends take part of the load.
      await waitFor('a request served by a new backend', () => extra.some((b) => b.requests > 0), {
        timeoutMs: 5000,
      });
    } finally {
      loading = false;
      await Promise.all(clients);
    }
    const stoppedAt = Date.now();

    const peak = Math.max(...receiver.asks.map((a) => a.desired));
    const down = await waitFor(
      'a scale-down request after the load stopped',
      () => receiver.asks.find((a) => a.action === 'scale-down' && a.at > stoppedAt),
      { timeoutMs: 10_000 },
    );
    assert.ok(down.desired < peak && down.desired >= 2, `asked for ${down.desired} after a peak of ${peak}`);
    assert.ok(
      down.reasons.some((r) => /inFlightPerBackend peak [\d.]+ over/.test(r)),
      down.reasons.join('; '),
    );
    assert.equal(receiver.invalid, 0);
    // Once the load is gone it only ever goes down.
    assert.ok(
      receiver.asks.filter((a) => a.at > stoppedAt).every((a) => a.action === 'scale-down'),
      JSON.stringify(receiver.asks),
    );

    // Audited, shown in the status, counted.
    const audit = await waitFor('the scale-down audited', async () => {
      const page = await records.query('audit', { target: 'region/r1' });
      return page.items.some((r) => r.action === 'autoscale.scale-down') && page;
    });
    assert.ok(audit.items.some((r) => r.action === 'autoscale.scale-up'));
    assert.ok(audit.items.every((r) => r.actor === 'autoscaler:node-a'));
    const status = await autoscaler.status();
    assert.equal(status.deciding, true);
    assert.equal(status.regions[0]?.actuator, 'webhook');
    // `running` if the next scale-down is under way right now.
    assert.ok(['ok', 'running'].includes(status.regions[0]?.last?.actuator?.result ?? ''));
    const text = await registry.metrics();
    assert.match(
      text,
      /meridian_autoscale_actuations_total\{region="r1",actuator="webhook",result="ok"\} [1-9]/,
    );
    assert.match(text, /meridian_autoscale_leader 1/);
  });

  void it('logs, counts, alerts and retries a failing actuator; dry run never calls it', async () => {
    const store = new MemoryStateStore();
    await store.start();
    await store.createRegion({ id: 'r2', lat: 0, lon: 0, ipv4: ['127.0.0.1'] });
    await store.createRegion({ id: 'r3', lat: 0, lon: 0, ipv4: ['127.0.0.1'] });
    for (const r of ['r2', 'r3']) {
      for (const id of ['a', 'b']) await store.createBackend(r, { id, url: `http://127.0.0.1:9/${id}` });
    }
    // Reports posted as the proxies would: 60 in flight over 2 backends (target 10).
    let reporting = true;
    const report = async (): Promise<void> => {
      while (reporting) {
        const now = Date.now();
        for (const regionId of ['r2', 'r3']) {
          await store.reportHealth({
            regionId,
            reporterId: 'proxy-1',
            healthyBackends: 2,
            totalBackends: 2,
            inFlight: 60,
            requestRate: 300,
            p95LatencyMs: 180,
            reportedAt: now,
            expiresAt: now + 1000,
          });
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const reporter = report();
    let failing = true;
    const receiver = await startReceiver(
      () => undefined,
      () => (failing ? 500 : 200),
    );
    const records = new MemoryOpsRecordStore();
    await records.start();
    const registry = new Registry();
    const policy = {
      metric: 'inFlightPerBackend',
      target: 10,
      min: 2,
      max: 6,
      cooldownUpSeconds: 30,
      windowSeconds: 1,
      intervalSeconds: 0.2,
      actuator: { type: 'webhook', url: receiver.url, secret: SECRET, retries: 0 },
    };
    const alerts = new AlertManager({ store, records, nodeId: 'node-a' });
    const autoscaler = new Autoscaler({
      config: autoscaleSchema.parse({
        regions: [
          { ...policy, region: 'r2' },
          { ...policy, region: 'r3', dryRun: true },
        ],
      }),
      store: new MemoryAutoscaleStore(),
      state: store,
      audit: new AuditLog({ records }),
      alerts,
      nodeId: 'node-a',
      resolvePath: (p) => p,
      registry,
      tickMs: 50,
    });
    autoscaler.start();
    try {
      await waitFor('two failed attempts at two evaluations', async () =>
        (await registry.metrics()).includes(
          'meridian_autoscale_actuations_total{region="r2",actuator="webhook",result="failed"} 2',
        ),
      );
      await alerts.idle();
      const raised = await records.query('alert', { type: 'autoscale_failed' });
      assert.equal(raised.items.length, 1, 'one alert, not one per attempt');
      assert.match(
        raised.items[0]?.message ?? '',
        /autoscaling region r2 failed \(webhook actuator\): .*HTTP 500/,
      );
      const failed = (await autoscaler.status()).regions.find((r) => r.region === 'r2');
      assert.equal(failed?.last?.actuator?.result, 'failed');
      assert.equal(failed?.last?.lastScale, undefined, 'a failed action starts no cooldown');

      failing = false;
      const r2 = await waitFor('the retry to succeed', async () => {
        const r = (await autoscaler.status()).regions.find((x) => x.region === 'r2');
        return r?.last?.actuator?.result === 'ok' && r;
      });
      assert.equal(r2?.last?.lastScale?.to, 6);
      assert.ok((r2?.cooldownLeftMs.up ?? 0) > 25_000);

      // The dry-run region decided the same, showed it and audited it, but never called its webhook.
      const r3 = (await autoscaler.status()).regions.find((r) => r.region === 'r3');
      assert.equal(r3?.last?.actuator?.result, 'dry-run');
      assert.equal(r3?.last?.lastScale?.to, 6);
      const audit = await records.query('audit', { target: 'region/r3' });
      assert.equal(audit.items.length, 1);
      assert.deepEqual((audit.items[0]?.after as { dryRun?: boolean }).dryRun, true);
      assert.equal(receiver.asks.length, 1, 'only r2 reached the webhook, once it answered 200');
    } finally {
      reporting = false;
      await reporter;
      await autoscaler.close();
      await alerts.close();
      receiver.server.closeAllConnections();
      receiver.server.close();
    }
  });
});
