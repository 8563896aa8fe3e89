// Alert webhooks against real local HTTP servers: delivery, level filter, retry, and dead
// webhooks (connection refused, hanging) that delay nothing else.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { MeridianError } from '../../src/core/errors.js';
import { AlertManager } from '../../src/ops/alerts.js';
import { MemoryOpsRecordStore } from '../../src/storage/memory/ops-record-store.js';
import type { AlertInput, AlertRecord, OpsRecordStore } from '../../src/storage/ops-record-store.js';
import { WebhookDispatcher, redactUrl, type WebhookConfig } from '../../src/ops/webhooks.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import { startReceiver, type Receiver } from './fixtures.js';
import { waitFor } from '../helpers/wait.js';

let good: Receiver;
let hanging: Receiver;
let refusedUrl: string;
const closers: (() => Promise<void>)[] = [];

before(async () => {
  good = await startReceiver();
  hanging = await startReceiver();
  hanging.respond = () => 'hang';
  // A port that was just free and is closed again: connection refused.
  const port = await new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
  refusedUrl = `http://127.0.0.1:${port}/hook`;
});

after(async () => {
  await good.close();
  await hanging.close();
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  good.bodies.length = 0;
  good.hits = 0;
  good.respond = () => 204;
});

const hook = (url: string, over: Partial<WebhookConfig> = {}): WebhookConfig => ({
  url,
  minLevel: 'info',
  timeoutMs: 200,
  retries: 2,
  ...over,
});

function dispatcher(webhooks: WebhookConfig[], registry?: Registry, queueSize?: number): WebhookDispatcher {
  const d = new WebhookDispatcher({
    webhooks,
    backoffMs: 20,
    maxBackoffMs: 100,
    ...(registry === undefined ? {} : { registry }),
    ...(queueSize === undefined ? {} : { queueSize }),
  });
  closers.push(() => d.close());
  return d;
}

async function manager(
  sink: WebhookDispatcher,
  records: OpsRecordStore = new MemoryOpsRecordStore(),
): Promise<AlertManager> {
  const store = new MemoryStateStore();
  await store.start();
  const m = new AlertManager({ store, records, nodeId: 'node-a', webhooks: sink, tickMs: 20 });
  m.start();
  closers.push(async () => {
    await m.close();
    await store.close();
  });
  return m;
}

const alert = (level: AlertInput['level'], n: number): AlertInput => ({
  type: 'task_failed',
  level,
  subject: `task/t${n}`,
  message: `failure ${n}`,
});

void describe('WebhookDispatcher', () => {
  void it('POSTs each alert as JSON to every webhook whose minLevel it reaches', async () => {
    const d = dispatcher([hook(good.url, { minLevel: 'warning' })]);
    const m = await manager(d);
    const info = await m.raise(alert('info', 1));
    const warn = await m.raise(alert('warning', 2));
    const crit = await m.raise(alert('critical', 3));
    assert.ok(info && warn && crit);
    await waitFor('two deliveries', () => good.bodies.length === 2, { timeoutMs: 5000 });
    assert.deepEqual(good.bodies, [
      { source: 'meridian', alert: warn },
      { source: 'meridian', alert: crit },
    ]);
    assert.equal(good.hits, 2, 'the info alert was not sent');
  });

  void it('retries a 5xx answer with back-off and gives up on a 4xx', async () => {
    const registry = new Registry();
    good.respond = (hit) => (hit === 1 ? 503 : hit === 3 ? 400 : 204);
    const d = dispatcher([hook(good.url)], registry);
    const m = await manager(d);
    await m.raise(alert('warning', 1));
    await waitFor('delivery after a retry', () => good.bodies.length === 1, { timeoutMs: 5000 });
    assert.equal(good.hits, 2);
    await m.raise(alert('warning', 2));
    await waitFor('the 400 answer', () => d.pending() === 0 && good.hits === 3, { timeoutMs: 5000 });
    assert.equal(good.bodies.length, 1, 'a 400 is not retried');
    const text = await registry.metrics();
    // Labelled by the webhook's id (here the default by position), never by its URL.
    assert.match(text, /meridian_ops_webhook_deliveries_total\{webhook="webhook-1",result="delivered"\} 1/);
    assert.match(text, /result="failed"\} 1/);
    assert.doesNotMatch(text, /\/hook/);
  });

  void it('a refused or hanging webhook delays nothing: alerts are recorded and the good webhook gets them', async () => {
    const records = new MemoryOpsRecordStore();
    const d = dispatcher([
      hook(refusedUrl),
      hook(hanging.url, { timeoutMs: 10_000, retries: 5 }),
      hook(good.url),
    ]);
    const m = await manager(d, records);
    const raised: AlertRecord[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await m.raise(alert('critical', i));
      assert.ok(r !== undefined, 'raise resolves with the record although two webhooks are dead');
      raised.push(r);
    }
    await waitFor('the good webhook got every alert', () => good.bodies.length === 5, { timeoutMs: 5000 });
    assert.deepEqual(
      good.bodies.map((b) => (b as { alert: AlertRecord }).alert.id),
      raised.map((r) => r.id),
    );
    assert.equal((await records.query('alert')).items.length, 5);
    assert.ok(hanging.hits >= 1, 'the hanging webhook was tried');
    assert.ok(d.pending() > 0, 'deliveries to the dead webhooks are still pending');
    // close() aborts the hanging request at once instead of waiting for its 10 s timeout.
    await d.close();
    assert.equal(d.pending(), 0);
    d.send(raised[0] as AlertRecord); // after close: ignored, no throw
  });

  void it('bounds each queue, dropping the oldest', async () => {
    const registry = new Registry();
    const d = dispatcher([hook(hanging.url, { timeoutMs: 10_000, retries: 0 })], registry, 2);
    const record = (n: number): AlertRecord => ({
      id: `${n}-0`,
      time: new Date(n).toISOString(),
      ...alert('warning', n),
    });
    for (let i = 1; i <= 6; i++) d.send(record(i));
    assert.ok(d.pending() <= 3, `at most one in flight and two queued, got ${d.pending()}`);
    assert.match(await registry.metrics(), /result="dropped"\} 3/);
  });

  void it('labels metrics by the configured id: the secret in a chat webhook path stays out', async () => {
    const registry = new Registry();
    const secretPath = '/services/T000/B000/s3cretChatToken';
    const d = dispatcher([hook(`${good.url}${secretPath}`, { id: 'ops-chat' })], registry);
    const m = await manager(d);
    await m.raise(alert('warning', 1));
    await waitFor('the delivery', () => d.pending() === 0 && good.hits === 1, { timeoutMs: 5000 });
    const text = await registry.metrics();
    assert.match(text, /meridian_ops_webhook_deliveries_total\{webhook="ops-chat",result="delivered"\} 1/);
    assert.ok(!text.includes('s3cretChatToken'));
  });

  void it('redacts credentials, path and query string from the URL logs show', () => {
    assert.equal(
      redactUrl('https://user:secret@hooks.example.com/services/x/y?token=abc'),
      'https://hooks.example.com',
    );
  });
});

void describe('AlertManager with an unreachable record store', () => {
  void it('still sends the alert to the webhooks at once and writes the record once the store is back', async () => {
    const inner = new MemoryOpsRecordStore();
    let down = true;
    const flaky: OpsRecordStore = {
      kind: 'redis',
      start: () => inner.start(),
      close: () => inner.close(),
      append: (kind, data, options) =>
        down
          ? Promise.reject(new MeridianError('E_UNAVAILABLE', 'connection refused'))
          : inner.append(kind, data, options),
      query: (kind, q) => inner.query(kind, q),
      cleanup: (limits, now) => inner.cleanup(limits, now),
    };
    const d = dispatcher([hook(good.url)]);
    const m = await manager(d, flaky);
    const result = await m.raise({
      type: 'redis_unreachable',
      level: 'critical',
      subject: 'node-a',
      message: 'gone',
    });
    assert.equal(result, undefined, 'not recorded yet');
    await waitFor('the webhook delivery', () => good.bodies.length === 1, { timeoutMs: 5000 });
    assert.equal((good.bodies[0] as { alert: AlertRecord }).alert.type, 'redis_unreachable');
    assert.equal((await inner.query('alert')).items.length, 0);
    down = false;
    const written = await waitFor('the deferred write', async () => (await inner.query('alert')).items[0], {
      timeoutMs: 5000,
    });
    assert.equal(written.message, 'gone');
    assert.equal(written.node, 'node-a');
    assert.equal(good.bodies.length, 1, 'the deferred write does not send the webhook again');
  });
});
