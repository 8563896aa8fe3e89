// Scheduled tasks: exactly-once runs across two nodes on one real Redis, drain and un-drain,
// missed runs reported (not replayed), the built-in retention task, validation.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { isMeridianError } from '../../src/core/errors.js';
import type { RegionPatch, WriteContext } from '../../src/core/types.js';
import { AlertManager } from '../../src/ops/alerts.js';
import { auditSink } from '../../src/ops/audit.js';
import { MemoryOpsRecordStore } from '../../src/storage/memory/ops-record-store.js';
import type { OpsRecordStore } from '../../src/storage/ops-record-store.js';
import { RedisOpsRecordStore } from '../../src/storage/redis/ops-record-store.js';
import type { TaskStore } from '../../src/storage/task-store.js';
import { MemoryTaskStore } from '../../src/storage/memory/task-store.js';
import { RedisTaskStore } from '../../src/storage/redis/task-store.js';
import { TaskScheduler, type Task } from '../../src/ops/tasks.js';
import { BUILTIN_RETENTION_ID, buildTask } from '../../src/ops/task-input.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import { RedisStateStore } from '../../src/storage/redis/state-store.js';
import type { StateStore } from '../../src/storage/state-store.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { regionInput, sleep } from './fixtures.js';
import { waitFor } from '../helpers/wait.js';

let redis: RedisHandle;
const closers: (() => Promise<void>)[] = [];
let prefixN = 0;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function redisClient(): Redis {
  const c = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  closers.push(async () => {
    c.disconnect();
    await Promise.resolve();
  });
  return c;
}

async function redisState(prefix: string, nodeId: string): Promise<RedisStateStore> {
  const store = new RedisStateStore({
    nodeId,
    redis: {
      url: redis.url,
      keyPrefix: prefix,
      sentinels: [],
      sentinelName: 'mymaster',
      cluster: [],
      resyncSeconds: 30,
      commandTimeoutMs: 2000,
    },
  });
  await store.start();
  closers.push(() => store.close());
  return store;
}

interface Node {
  scheduler: TaskScheduler;
  tasks: TaskStore;
  records: OpsRecordStore;
}

function node(options: {
  nodeId: string;
  tasks: TaskStore;
  records: OpsRecordStore;
  state: Pick<StateStore, 'current' | 'updateRegion'>;
  clock?: () => number;
  cleanupCron?: string;
}): Node {
  const alerts = new AlertManager({
    store: new MemoryStateStore(),
    records: options.records,
    nodeId: options.nodeId,
  });
  const scheduler = new TaskScheduler({
    tasks: options.tasks,
    state: options.state,
    records: options.records,
    alerts,
    nodeId: options.nodeId,
    retention: {
      maxAgeMs: 86_400_000,
      maxCount: 1000,
      ...(options.cleanupCron === undefined ? {} : { cleanupCron: options.cleanupCron }),
    },
    pollMs: 50,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  closers.push(async () => {
    await scheduler.close();
    await alerts.close();
  });
  return { scheduler, tasks: options.tasks, records: options.records };
}

void describe('TaskScheduler on two nodes sharing one Redis', () => {
  void it('runs each scheduled drain exactly once', async () => {
    const prefix = `twonodes${prefixN++}:`;
    const stateA = await redisState(prefix, 'node-a');
    const stateB = await redisState(prefix, 'node-b');
    await stateA.createRegion(regionInput('eu-west'));
    await waitFor('node b to see the region', () => stateB.current().regions.has('eu-west'), {
      timeoutMs: 5000,
    });

    const drains: { node: string; at: number }[] = [];
    // Each node's view of the state store counts drains; the "operator" puts the region back at
    // once so that every second's run finds it active and drains it again.
    const counting = (
      store: RedisStateStore,
      nodeId: string,
    ): Pick<StateStore, 'current' | 'updateRegion'> => ({
      current: () => store.current(),
      updateRegion: async (id: string, patch: RegionPatch, context?: WriteContext) => {
        const region = await store.updateRegion(id, patch, context);
        if (patch.state === 'draining') {
          drains.push({ node: nodeId, at: Date.now() });
          setTimeout(() => void store.updateRegion(id, { state: 'active' }).catch(() => undefined), 150);
        }
        return region;
      },
    });
    const records = new RedisOpsRecordStore({ client: redisClient(), keyPrefix: prefix });
    const a = node({
      nodeId: 'node-a',
      tasks: new RedisTaskStore({ client: redisClient(), keyPrefix: prefix }),
      records,
      state: counting(stateA, 'node-a'),
    });
    const b = node({
      nodeId: 'node-b',
      tasks: new RedisTaskStore({ client: redisClient(), keyPrefix: prefix }),
      records,
      state: counting(stateB, 'node-b'),
    });
    await a.scheduler.start();
    await b.scheduler.start();
    await a.scheduler.add({
      id: 'every-second',
      cron: '* * * * * *',
      action: 'drain-region',
      region: 'eu-west',
      durationMinutes: 30,
    });

    await waitFor('four drains', () => drains.length >= 4, { timeoutMs: 10_000 });
    await a.scheduler.setEnabled('every-second', false);
    await sleep(1200); // both nodes have seen the disable
    await a.scheduler.close();
    await b.scheduler.close();

    const pending = await a.tasks.undrains();
    const seconds = pending.map((u) => u.scheduledAt);
    assert.equal(new Set(seconds).size, seconds.length, 'no scheduled time ran twice');
    assert.equal(
      drains.length,
      pending.length,
      'one drain per scheduled time, each with its pending un-drain',
    );
    for (const s of seconds) assert.equal(s % 1000, 0, 'runs are keyed by their scheduled second');
    const audit = await records.query('audit', { actor: 'task:every-second' });
    assert.equal(audit.items.length, drains.length, 'each drain audited once');
    assert.ok(audit.items.every((r) => r.action === 'region.drain' && r.target === 'region/eu-west'));
    const runs = await a.tasks.runs();
    assert.equal(runs.get('every-second')?.scheduledAt, Math.max(...seconds));
  });

  void it('reports runs missed while every node was down once, and does not replay them', async () => {
    const prefix = `missed${prefixN++}:`;
    const tasksA = new RedisTaskStore({ client: redisClient(), keyPrefix: prefix });
    const now = Date.now();
    const created = new Date(now - 3 * 3_600_000).toISOString();
    const task: Task = {
      id: 'nightly',
      cron: '*/10 * * * *',
      action: 'cleanup-records',
      enabled: true,
      createdAt: created,
      updatedAt: created,
    };
    await tasksA.create(task);
    // The last run was 50 minutes ago: the runs due since then were missed.
    const lastRun = Math.floor((now - 50 * 60_000) / 600_000) * 600_000;
    await tasksA.setRun('nightly', { scheduledAt: lastRun, result: 'ok', node: 'old-node' });
    const expectedMissed = Math.floor((now - 5000 - lastRun) / 600_000);

    const records = new RedisOpsRecordStore({ client: redisClient(), keyPrefix: prefix });
    const cleanups: number[] = [];
    const spy: OpsRecordStore = {
      kind: records.kind,
      start: () => records.start(),
      close: () => records.close(),
      append: (k, d, o) => records.append(k, d, o),
      query: (k, q) => records.query(k, q),
      cleanup: (l, n) => {
        cleanups.push(Date.now());
        return records.cleanup(l, n);
      },
    };
    const state = new MemoryStateStore();
    await state.start();
    closers.push(() => state.close());
    const a = node({ nodeId: 'node-a', tasks: tasksA, records: spy, state });
    const b = node({
      nodeId: 'node-b',
      tasks: new RedisTaskStore({ client: redisClient(), keyPrefix: prefix }),
      records: spy,
      state,
    });
    await Promise.all([a.scheduler.start(), b.scheduler.start()]);

    const missed = await records.query('alert', { type: 'task_missed' });
    assert.equal(missed.items.length, 1, 'two nodes starting together report it once');
    assert.equal(missed.items[0]?.subject, 'task/nightly');
    assert.match(
      missed.items[0]?.message ?? '',
      new RegExp(`missed ${expectedMissed} run\\(s\\).*not replayed`),
    );
    assert.equal(cleanups.length, 0, 'missed runs are not replayed');
    const info = (await tasksA.runs()).get('nightly');
    assert.equal(info?.result, 'missed');
    assert.ok((info?.scheduledAt ?? 0) > lastRun);

    // A later start finds nothing new to report.
    await a.scheduler.close();
    const c = node({
      nodeId: 'node-c',
      tasks: new RedisTaskStore({ client: redisClient(), keyPrefix: prefix }),
      records: spy,
      state,
    });
    await c.scheduler.start();
    assert.equal((await records.query('alert', { type: 'task_missed' })).items.length, 1);
  });
});

void describe('TaskScheduler on one node', () => {
  void it('drains at the start and puts the region back when the duration is over', async () => {
    let offset = 0;
    const clock = (): number => Date.now() + offset;
    const state = new MemoryStateStore();
    await state.start();
    closers.push(() => state.close());
    await state.createRegion(regionInput('eu-west'));
    const records = new MemoryOpsRecordStore();
    state.attachAuditSink(auditSink(records));
    const tasks = new MemoryTaskStore();
    const n = node({ nodeId: 'solo', tasks, records, state, clock });
    await n.scheduler.start();
    await n.scheduler.add({
      id: 'maint',
      cron: '* * * * * *',
      action: 'drain-region',
      region: 'eu-west',
      durationMinutes: 2,
    });
    await waitFor('the drain', () => state.current().regions.get('eu-west')?.state === 'draining', {
      timeoutMs: 5000,
    });
    await n.scheduler.setEnabled('maint', false);
    assert.equal((await tasks.undrains()).length, 1);

    offset += 2 * 60_000 + 1000; // the drain's two minutes are over
    await waitFor('the un-drain', () => state.current().regions.get('eu-west')?.state === 'active', {
      timeoutMs: 5000,
    });
    await waitFor('the pending un-drain to be removed', async () => (await tasks.undrains()).length === 0, {
      timeoutMs: 5000,
    });
    const audit = (await records.query('audit', { order: 'asc' })).items.map(
      (r) => `${r.actor} ${r.action} ${r.target}`,
    );
    assert.deepEqual(audit, [
      'task:maint region.drain region/eu-west',
      'task:maint region.undrain region/eu-west',
    ]);
    const [view] = (await n.scheduler.list()).filter((v) => v.task.id === 'maint');
    assert.equal(view?.lastRun?.result, 'ok');
    assert.equal(view?.nextRunAt, undefined, 'disabled: no next run');
  });

  void it('leaves a region alone that an operator changed during the drain, and skips a region not active', async () => {
    let offset = 0;
    const clock = (): number => Date.now() + offset;
    const state = new MemoryStateStore();
    await state.start();
    closers.push(() => state.close());
    await state.createRegion(regionInput('eu-west'));
    const tasks = new MemoryTaskStore();
    const n = node({ nodeId: 'solo', tasks, records: new MemoryOpsRecordStore(), state, clock });
    await n.scheduler.start();
    await n.scheduler.add({
      id: 'maint',
      cron: '* * * * * *',
      action: 'drain-region',
      region: 'eu-west',
      durationMinutes: 1,
    });
    await waitFor('the drain', () => state.current().regions.get('eu-west')?.state === 'draining', {
      timeoutMs: 5000,
    });
    await state.updateRegion('eu-west', { state: 'disabled' });
    await waitFor(
      'a run skipped: region not active',
      async () => (await tasks.runs()).get('maint')?.result === 'skipped',
      { timeoutMs: 5000 },
    );
    await n.scheduler.setEnabled('maint', false);
    offset += 61_000;
    await waitFor('the pending un-drain to be dropped', async () => (await tasks.undrains()).length === 0, {
      timeoutMs: 5000,
    });
    assert.equal(state.current().regions.get('eu-west')?.state, 'disabled');
  });

  void it('runs the built-in retention cleanup and refuses to change it through the API', async () => {
    const records = new MemoryOpsRecordStore();
    await records.append(
      'audit',
      { actor: 'a', action: 'x.y', target: 'old' },
      { time: Date.now() - 2 * 86_400_000 },
    );
    await records.append('audit', { actor: 'a', action: 'x.y', target: 'young' });
    const state = new MemoryStateStore();
    const n = node({
      nodeId: 'solo',
      tasks: new MemoryTaskStore(),
      records,
      state,
      cleanupCron: '* * * * * *',
    });
    await n.scheduler.start();
    await waitFor('the cleanup', async () => (await records.query('audit')).items.length === 1, {
      timeoutMs: 5000,
    });
    assert.equal((await records.query('audit')).items[0]?.target, 'young');
    const [builtin] = await n.scheduler.list();
    assert.equal(builtin?.task.id, BUILTIN_RETENTION_ID);
    assert.equal(builtin?.builtin, true);
    await assert.rejects(
      n.scheduler.remove(BUILTIN_RETENTION_ID),
      (e: unknown) => isMeridianError(e) && e.code === 'E_VALIDATION',
    );
    await assert.rejects(
      n.scheduler.setEnabled(BUILTIN_RETENTION_ID, false),
      (e: unknown) => isMeridianError(e) && e.code === 'E_VALIDATION',
    );
  });

  void it('reports a failing task as a task_failed alert', async () => {
    const records = new MemoryOpsRecordStore();
    const state = new MemoryStateStore();
    await state.start();
    closers.push(() => state.close());
    const n = node({ nodeId: 'solo', tasks: new MemoryTaskStore(), records, state });
    await n.scheduler.start();
    await n.scheduler.add({
      id: 'ghost',
      cron: '* * * * * *',
      action: 'drain-region',
      region: 'nowhere',
      durationMinutes: 5,
    });
    const failed = await waitFor(
      'task_failed',
      async () => (await records.query('alert', { type: 'task_failed' })).items[0],
      { timeoutMs: 5000 },
    );
    assert.equal(failed.subject, 'task/ghost');
    assert.match(failed.message, /region nowhere not found/);
    assert.equal((await n.scheduler.list())[0]?.lastRun?.result, 'failed');
  });

  void it('persists tasks, runs and pending un-drains in its file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meridian-tasks-'));
    closers.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
    const file = join(dir, 'state.tasks.json');
    const one = new MemoryTaskStore({ file });
    await one.start();
    const task = buildTask(
      { id: 'x', cron: '0 3 * * *', action: 'geo-recheck', timezone: 'Europe/Berlin' },
      new Date(),
    );
    await one.create(task);
    await one.setRun('x', { scheduledAt: 1000, result: 'ok' });
    await one.setRun('x', { scheduledAt: 500, result: 'failed' }); // older: ignored
    await one.addUndrain({ taskId: 'x', region: 'r', until: 5, previousState: 'active', scheduledAt: 1 });
    await one.close();
    const two = new MemoryTaskStore({ file });
    await two.start();
    assert.deepEqual(await two.list(), [task]);
    assert.deepEqual((await two.runs()).get('x'), { scheduledAt: 1000, result: 'ok' });
    assert.equal((await two.undrains()).length, 1);
  });
});

void describe('buildTask', () => {
  const bad = (body: Record<string, unknown>, field: string): void => {
    assert.throws(
      () => buildTask(body, new Date()),
      (e: unknown) => isMeridianError(e) && e.code === 'E_VALIDATION' && e.field === field,
      `expected an error on ${field}`,
    );
  };
  void it('validates every field', () => {
    const ok = {
      id: 'nightly',
      cron: '0 2 * * *',
      action: 'drain-region',
      region: 'eu-west',
      durationMinutes: 30,
    };
    assert.equal(buildTask(ok, new Date()).enabled, true);
    bad({ ...ok, id: 'Bad Id' }, 'id');
    bad({ ...ok, id: 'builtin-x' }, 'id');
    bad({ ...ok, cron: 'every day' }, 'cron');
    bad({ ...ok, cron: '61 * * * *' }, 'cron');
    bad({ ...ok, action: 'reboot' }, 'action');
    bad({ ...ok, region: undefined }, 'region');
    bad({ ...ok, durationMinutes: 0 }, 'durationMinutes');
    bad({ ...ok, timezone: 'Mars/Olympus' }, 'timezone');
    bad({ ...ok, extra: 1 }, 'extra');
    bad({ id: 'c', cron: '0 * * * *', action: 'cleanup-records', region: 'x' }, 'region');
  });
});
