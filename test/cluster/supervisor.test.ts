// The shared cluster supervisor on its own, with a minimal tier (fixtures/worker.ts), for process
// and thread workers alike: the handshake and per-slot inits, snapshots reaching every worker, a
// dead worker replaced in its slot (and reported, as is a replacement that fails to start), the
// workers' metrics aggregated, and a worker's start failure rejecting start() with the worker's
// error code; the operator's node flags winning over the tier's worker flags.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isMessage, protocol } from '../../src/cluster/ipc.js';
import { Registry } from 'prom-client';
import { processWorkerArgv, type WorkerKind } from '../../src/cluster/launch.js';
import { WorkerMetrics } from '../../src/cluster/metrics.js';
import { Supervisor, workerFlags } from '../../src/cluster/supervisor.js';
import type { WorkerTrouble } from '../../src/core/types.js';
import { isMeridianError } from '../../src/core/errors.js';
import { createLogger } from '../../src/infra/logger.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';

import type { TestInit } from './fixtures/worker.js';
import { waitFor } from '../helpers/wait.js';

const PROTOCOL = protocol('meridian-test');
const logger = createLogger('silent');

interface RegionsReply {
  readonly type: 'meridian-test:regions';
  /** pid/threadId */
  readonly worker: string;
  readonly regions: string[];
}

/**
 * `fail`: every worker's start fails with this message; `failRestarts`: only replacements' starts
 * do, and a failed one is tried again after `restartRetryMs`.
 */
function testSupervisor(
  store: MemoryStateStore,
  kind: WorkerKind,
  workers: number,
  fail?: string,
  restarts?: { readonly failRestarts: string; readonly restartRetryMs: number },
) {
  const inits: number[] = [];
  const troubles: WorkerTrouble[] = [];
  const registry = new Registry();
  const replies = new Map<number, RegionsReply>();
  const supervisor = new Supervisor<
    TestInit,
    string,
    { readonly type: 'meridian-test:regions' | 'meridian-test:crash' }
  >(
    {
      tier: 'test',
      protocol: PROTOCOL,
      entry: new URL('./fixtures/worker.js', import.meta.url),
      workers,
      store,
      logger,
      naming: 'slot',
      kind,
      metrics: new WorkerMetrics(registry, 'test', workers),
      onTrouble: (trouble) => troubles.push(trouble),
      ...(restarts === undefined ? {} : { restartRetryMs: restarts.restartRetryMs }),
    },
    {
      init: (slot, snapshot) => {
        inits.push(slot.n);
        if (restarts !== undefined && inits.length > workers) fail = restarts.failRestarts;
        return {
          type: PROTOCOL.init,
          slot: slot.n,
          logLevel: 'silent',
          snapshot,
          ...(fail === undefined ? {} : { fail }),
        };
      },
      message: (slot, _worker, message) => {
        if (isMessage<RegionsReply>(message, 'meridian-test:regions')) replies.set(slot.n, message);
      },
    },
  );
  return { supervisor, inits, replies, registry, troubles };
}

/** The supervisor's worker counts for tier `test`: running, configured, restarts. */
async function workerCounts(registry: Registry): Promise<[number, number, number]> {
  const value = async (name: string): Promise<number> =>
    (await registry.getSingleMetric(name)?.get())?.values.find((v) => v.labels['tier'] === 'test')?.value ??
    -1;
  return [
    await value('meridian_cluster_workers'),
    await value('meridian_cluster_workers_configured'),
    await value('meridian_cluster_worker_restarts_total'),
  ];
}

for (const kind of ['process', 'thread'] as const)
  void describe(`cluster supervisor, ${kind} workers`, () => {
    let store: MemoryStateStore;

    before(async () => {
      store = new MemoryStateStore();
      await store.start();
    });

    after(async () => {
      await store?.close();
    });

    void it('inits each slot, pushes snapshots to every worker, and replaces a dead worker in its slot', async () => {
      const { supervisor, inits, replies, registry, troubles } = testSupervisor(store, kind, 2);
      try {
        assert.deepEqual(await workerCounts(registry), [0, 2, 0]);
        await supervisor.start();
        assert.deepEqual(await workerCounts(registry), [2, 2, 0], 'running, configured, restarts');
        assert.deepEqual([...inits].sort(), [1, 2]);
        assert.match(supervisor.addresses()[0] ?? '', /^slot-[12]$/);
        assert.equal(supervisor.workers().length, 2);

        await store.createRegion({ id: 'r1', lat: 50, lon: 8, ipv4: ['127.0.0.1'] });
        await waitFor(
          'the new region in both workers',
          async () => {
            supervisor.broadcast({ type: 'meridian-test:regions' });
            await new Promise((resolve) => setTimeout(resolve, 50));
            return [1, 2].every((n) => replies.get(n)?.regions.includes('r1') === true);
          },
          { timeoutMs: 5000 },
        );

        const dead = supervisor.slots[0]?.worker;
        assert.ok(dead !== undefined);
        const deadWorker = replies.get(1)?.worker;
        assert.equal(deadWorker, kind === 'process' ? `${dead.pid}/0` : `${process.pid}/${dead.id}`);
        // A process killed from outside; a thread cannot be: it dies of an exception it did not catch.
        if (kind === 'process') process.kill(dead.pid ?? 0, 'SIGKILL');
        else supervisor.send(dead, { type: 'meridian-test:crash' });
        await waitFor(
          'a new worker in slot 1',
          () => {
            const w = supervisor.slots[0]?.worker;
            return w !== undefined && w !== dead && supervisor.workers().includes(w);
          },
          { timeoutMs: 10_000 },
        );
        assert.deepEqual(inits.slice(2), [1]);
        await waitFor('both workers counted again', async () => (await workerCounts(registry))[0] === 2);
        assert.deepEqual(await workerCounts(registry), [2, 2, 1], 'one restart counted');
        // What the node turns into a worker_died alert: the slot, and how it died.
        assert.deepEqual(troubles, [
          {
            tier: 'test',
            worker: 1,
            what: 'died',
            reason: kind === 'process' ? 'signal SIGKILL' : 'exit code 1',
          },
        ]);
        replies.clear();
        await waitFor(
          'the new worker to have the snapshot',
          async () => {
            supervisor.broadcast({ type: 'meridian-test:regions' });
            await new Promise((resolve) => setTimeout(resolve, 50));
            const reply = replies.get(1);
            return reply !== undefined && reply.worker !== deadWorker && reply.regions.includes('r1');
          },
          { timeoutMs: 5000 },
        );
      } finally {
        await supervisor.stop();
      }
      assert.equal(supervisor.workers().length, 0);
      assert.ok(supervisor.slots.every((slot) => slot.worker === undefined));
      // Stopped workers are not running, and stopping them is no restart.
      assert.deepEqual(await workerCounts(registry), [0, 2, 1]);
      assert.equal(troubles.length, 1, 'stopping the workers is no trouble');
    });

    void it('reports a replacement that fails to start, and tries again after restartRetryMs', async () => {
      const { supervisor, troubles, registry } = testSupervisor(store, kind, 1, undefined, {
        failRestarts: 'the disk is gone',
        restartRetryMs: 100,
      });
      try {
        await supervisor.start();
        const first = supervisor.slots[0]?.worker;
        assert.ok(first !== undefined);
        if (kind === 'process') process.kill(first.pid ?? 0, 'SIGKILL');
        else supervisor.send(first, { type: 'meridian-test:crash' });
        await waitFor('two failed restarts', () => troubles.length >= 3, { timeoutMs: 10_000 });
        assert.equal(troubles[0]?.what, 'died');
        for (const t of troubles.slice(1)) {
          assert.equal(t.what, 'restart-failed');
          assert.equal(t.worker, 1);
          assert.equal(t.retryMs, 100);
          assert.match(t.reason, /^test worker 1: .*the disk is gone/);
        }
        // Nothing answers in the slot while its restarts fail (an attempt may be under way).
        assert.deepEqual(await workerCounts(registry), [0, 1, 1], 'running, configured, restarts');
      } finally {
        await supervisor.stop(0);
      }
      const count = troubles.length;
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(troubles.length, count, 'no restart is tried after stop');
    });

    void it("aggregates the workers' metrics", async () => {
      const { supervisor } = testSupervisor(store, kind, 3);
      try {
        await supervisor.start();
        // Each worker counted its slot number: summed over slots 1-3.
        assert.match(await supervisor.metrics(), /^meridian_test_slot_total 6$/m);
      } finally {
        await supervisor.stop();
      }
      assert.equal(await supervisor.metrics(), '');
    });

    void it("rejects start with the worker's own error", async () => {
      const { supervisor } = testSupervisor(store, kind, 1, 'no such thing');
      try {
        await assert.rejects(supervisor.start(), (err: unknown) => {
          assert.ok(isMeridianError(err));
          assert.equal(err.code, 'E_CONFIG');
          assert.match(err.message, /^test worker 1: .*no such thing/);
          return true;
        });
      } finally {
        await supervisor.stop(0);
      }
    });
  });

void describe('worker V8 flags', () => {
  void it('leaves out a flag the operator gave, with any value or negated, whatever its spelling', () => {
    const tier = ['--max-semi-space-size=4', '--single-threaded-gc'];
    assert.deepEqual(workerFlags(tier, []), tier);
    assert.deepEqual(workerFlags(tier, ['--max-semi-space-size=8']), ['--single-threaded-gc']);
    assert.deepEqual(workerFlags(tier, ['--max_semi_space_size=8']), ['--single-threaded-gc']);
    assert.deepEqual(workerFlags(tier, ['--no-single-threaded-gc']), ['--max-semi-space-size=4']);
    assert.deepEqual(workerFlags(tier, ['--single-threaded-gc', '--max-semi-space-size']), []);
    assert.deepEqual(workerFlags(tier, ['--max-old-space-size=512', '', '--import', 'tsx']), tier);
  });
});

void describe('processWorkerArgv', () => {
  const tsx = 'file:///opt/meridian/node_modules/tsx/dist/loader.mjs';
  const tier = ['--single-threaded-gc'];

  void it("passes the primary's own node flags to process workers, then the tier's", () => {
    assert.deepEqual(processWorkerArgv(['--max-old-space-size=2048', '--trace-gc'], tier, undefined), [
      '--max-old-space-size=2048',
      '--trace-gc',
      '--single-threaded-gc',
    ]);
  });

  void it('leaves the inspector flags to the primary (one port per process)', () => {
    const primary = [
      '--inspect',
      '--inspect-brk=9229',
      '--inspect-port=9230',
      '--debug-port=1',
      '--trace-gc',
    ];
    assert.deepEqual(processWorkerArgv(primary, [], undefined), ['--trace-gc']);
  });

  void it("loads tsx by its resolved path once, in place of the primary's own import of it", () => {
    assert.deepEqual(processWorkerArgv(['--import', 'tsx', '--trace-gc'], tier, tsx), [
      '--import',
      tsx,
      '--trace-gc',
      '--single-threaded-gc',
    ]);
    assert.deepEqual(processWorkerArgv(['--import=tsx', '--import', './other.mjs'], [], tsx), [
      '--import',
      tsx,
      '--import=./other.mjs',
    ]);
    // Running the build (no tsx of ours): an operator's loader stays.
    assert.deepEqual(processWorkerArgv(['--import', 'tsx'], [], undefined), ['--import=tsx']);
  });
});
