// startOps wires the components on both backends' stores (from the storage wing) and closes them.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { opsSchema } from '../../src/config/ops-schema.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/infra/logger.js';
import { startOps } from '../../src/ops/service.js';
import { openStores } from '../../src/storage/open.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { startReceiver, type Receiver } from './fixtures.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'meridian-ops-service-'));
let redis: RedisHandle;
let receiver: Receiver;

before(async () => {
  redis = await startRedis();
  receiver = await startReceiver();
});
after(async () => {
  await receiver.close();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

void describe('startOps', () => {
  for (const backend of ['memory', 'redis'] as const) {
    void it(`builds and closes every ops component (${backend})`, async () => {
      const config = configSchema.parse({
        state: { backend, file: 'state.json', redis: { url: redis.url, keyPrefix: `svc-${backend}:` } },
      });
      const ops = opsSchema.parse({ webhooks: [{ url: receiver.url, minLevel: 'info' }] });
      const stores = await openStores(
        { config, path: undefined, resolvePath: (p) => join(dir, p), nodeId: 'n1' },
        silentLogger,
      );
      const registry = new Registry();
      const svc = await startOps({
        ops,
        store: stores.state,
        records: stores.records,
        tasks: stores.tasks,
        nodeId: 'n1',
        registry,
      });
      svc.alerts.geoReloadFailed('/geo.mmdb', new Error('corrupt'));
      await waitFor('the webhook', () => receiver.bodies.length > 0, { timeoutMs: 5000 });
      receiver.bodies.length = 0;
      await svc.audit.record({ actor: 'token:ab12cd34…', action: 'region.create', target: 'region/x' });
      assert.equal((await svc.records.query('audit')).items.length, 1);
      assert.equal((await svc.records.query('alert', { type: 'geo_reload_failed' })).items.length, 1);
      const views = await svc.scheduler.list();
      assert.equal(views[0]?.task.cron, '17 * * * *');
      assert.match(
        await registry.metrics(),
        /meridian_ops_alerts_total\{type="geo_reload_failed",level="warning"\} 1/,
      );
      await svc.close();
      await stores.close();
      if (backend === 'memory') assert.ok(existsSync(join(dir, 'state.ops.jsonl')));
    });
  }
});
