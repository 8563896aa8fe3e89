// One decider at a time. The AutoscaleStore's lease and fencing on both backends (memory, and a
// real redis-server), then two autoscalers sharing Redis as two nodes would: only the lease holder
// calls the actuator, and when it stops the other one takes over.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { autoscaleSchema } from '../../../src/config/autoscale-schema.js';
import { AlertManager } from '../../../src/ops/alerts.js';
import { AuditLog } from '../../../src/ops/audit.js';
import { Autoscaler } from '../../../src/ops/autoscale/service.js';
import type { AutoscaleRecord, AutoscaleStore } from '../../../src/storage/autoscale-store.js';
import { MemoryAutoscaleStore } from '../../../src/storage/memory/autoscale-store.js';
import { MemoryOpsRecordStore } from '../../../src/storage/memory/ops-record-store.js';
import { MemoryStateStore } from '../../../src/storage/memory/state-store.js';
import { RedisAutoscaleStore } from '../../../src/storage/redis/autoscale-store.js';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.js';
import { waitFor } from '../../helpers/wait.js';

let redis: RedisHandle;
const clients: Redis[] = [];
before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const c of clients) c.disconnect();
  await redis.stop();
});

function redisStore(prefix: string): RedisAutoscaleStore {
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  clients.push(client);
  return new RedisAutoscaleStore({ client, keyPrefix: prefix });
}

const record = (fence: number, node: string): AutoscaleRecord => ({
  region: 'r1',
  node,
  fence,
  evaluatedAt: Date.now(),
  action: 'hold',
  current: 2,
  desired: 2,
  recommended: 2,
  reasons: ['test'],
  cooldownLeftMs: 0,
  dryRun: false,
});

for (const backend of ['memory', 'redis'] as const) {
  describe(`AutoscaleStore lease and fencing (${backend})`, () => {
    let a: AutoscaleStore;
    let b: AutoscaleStore;
    before(async () => {
      if (backend === 'memory') {
        a = new MemoryAutoscaleStore();
        b = a;
      } else {
        const prefix = `fence-${Date.now()}:`;
        a = redisStore(prefix);
        b = redisStore(prefix);
      }
      await a.start();
      await b.start();
    });

    void it('gives the lease to one owner, keeps its fence on renewal, and refuses stale writes', async () => {
      const first = await a.lease('node-a', 300);
      assert.ok(first !== undefined && first > 0);
      assert.equal(await b.lease('node-b', 300), undefined);
      assert.equal(await a.lease('node-a', 300), first, 'a renewal keeps the fence');
      assert.equal(await a.save(record(first, 'node-a')), true);

      // node-a stops renewing (paused, partitioned): node-b takes over once the lease expires.
      const second = await waitFor('node-b to take the expired lease', () => b.lease('node-b', 5000), {
        timeoutMs: 3000,
      });
      assert.ok(second > first, `fence ${second} after ${first}`);
      assert.equal(await a.save(record(first, 'node-a')), false, 'the old holder can no longer write');
      assert.equal(await a.lease('node-a', 300), undefined);
      assert.equal(await b.save(record(second, 'node-b')), true);
      assert.equal((await a.records()).get('r1')?.node, 'node-b');

      // Releasing hands over at once; only the holder can release.
      await a.release('node-a');
      assert.equal(await a.lease('node-a', 300), undefined);
      await b.release('node-b');
      const third = await a.lease('node-a', 300);
      assert.ok(third !== undefined && third > second);
      await a.release('node-a');
    });
  });
}

describe('two autoscalers sharing Redis', () => {
  let server: Server;
  let url = '';
  const asks: { node: string; desired: number }[] = [];

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        asks.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as { node: string; desired: number });
        res.writeHead(204).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  void it('only the lease holder acts; the other takes over when it stops', async () => {
    // The region as both nodes see it: 2 backends, 40 in flight (20 each, target 10).
    const state = new MemoryStateStore();
    await state.start();
    await state.createRegion({ id: 'r1', lat: 0, lon: 0, ipv4: ['127.0.0.1'] });
    for (const id of ['a', 'b']) await state.createBackend('r1', { id, url: `http://127.0.0.1:9/${id}` });
    let reporting = true;
    const reporter = (async () => {
      while (reporting) {
        const now = Date.now();
        await state.reportHealth({
          regionId: 'r1',
          reporterId: 'proxy-1',
          healthyBackends: 2,
          totalBackends: 2,
          inFlight: 40,
          requestRate: 200,
          p95LatencyMs: 120,
          reportedAt: now,
          expiresAt: now + 1000,
        });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    const prefix = `two-${Date.now()}:`;
    const config = autoscaleSchema.parse({
      leaseSeconds: 1,
      regions: [
        {
          region: 'r1',
          metric: 'inFlightPerBackend',
          target: 10,
          min: 1,
          max: 10,
          // No cooldown, so the decider asks again at every evaluation: plenty of chances to race.
          cooldownUpSeconds: 0,
          windowSeconds: 1,
          intervalSeconds: 0.1,
          actuator: { type: 'webhook', url, retries: 0 },
        },
      ],
    });
    const node = (id: string): Autoscaler => {
      const records = new MemoryOpsRecordStore();
      return new Autoscaler({
        config,
        store: redisStore(prefix),
        state,
        audit: new AuditLog({ records }),
        alerts: new AlertManager({ store: state, records, nodeId: id }),
        nodeId: id,
        resolvePath: (p) => p,
        tickMs: 50,
      });
    };
    const a = node('node-a');
    const b = node('node-b');
    a.start();
    b.start();
    try {
      await waitFor('ten scale-up requests', () => asks.length >= 10);
      const deciders = new Set(asks.map((x) => x.node));
      assert.equal(deciders.size, 1, `requests came from ${[...deciders].join(', ')}`);
      assert.ok(asks.every((x) => x.desired === 4));
      assert.equal([a.deciding, b.deciding].filter(Boolean).length, 1);
      const [leader, other] = a.deciding ? [a, b] : [b, a];
      const leaderId = a.deciding ? 'node-a' : 'node-b';

      await leader.close();
      const before = asks.length;
      await waitFor('the other node to act', () => asks.slice(before).some((x) => x.node !== leaderId), {
        timeoutMs: 5000,
      });
      assert.ok(
        asks.slice(before).every((x) => x.node !== leaderId),
        'a closed node acted',
      );
      assert.equal(other.deciding, true);
      const status = await other.status();
      assert.equal(status.regions[0]?.last?.node, other === a ? 'node-a' : 'node-b');
    } finally {
      reporting = false;
      await reporter;
      await a.close();
      await b.close();
    }
  });
});
