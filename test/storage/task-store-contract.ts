// The contract every TaskStore passes (memory and Redis: task-stores.test.ts runs it on both).
import { strict as assert } from 'node:assert';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  undrainKey,
  type PendingUndrain,
  type Task,
  type TaskRunInfo,
  type TaskStore,
} from '../../src/storage/task-store.js';

export interface TaskStoreFixture {
  readonly store: TaskStore;
  /** A second store on the same source of truth, started now (another node, or this node restarted). */
  reopen(): Promise<TaskStore>;
  cleanup(): Promise<void>;
}

function task(id: string, overrides: Partial<Task> = {}): Task {
  return {
    id,
    action: 'drain-region',
    region: 'eu-west',
    durationMinutes: 30,
    cron: '0 3 * * *',
    enabled: true,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

function run(scheduledAt: number, result: TaskRunInfo['result'] = 'ok'): TaskRunInfo {
  return { scheduledAt, result, node: 'n1' };
}

function undrain(taskId: string, scheduledAt: number): PendingUndrain {
  return { taskId, region: 'eu-west', until: scheduledAt + 60_000, previousState: 'active', scheduledAt };
}

export function runTaskStoreContract(name: string, make: () => Promise<TaskStoreFixture>): void {
  describe(`task store contract: ${name}`, () => {
    let fx: TaskStoreFixture;
    let store: TaskStore;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('creates, reads and lists tasks sorted by id; a duplicate id is a conflict', async () => {
      assert.deepEqual(await store.list(), []);
      assert.equal(await store.get('nightly'), undefined);
      await store.create(task('nightly'));
      await store.create(task('cleanup', { action: 'cleanup-records' }));
      assert.deepEqual(
        (await store.list()).map((t) => t.id),
        ['cleanup', 'nightly'],
      );
      assert.deepEqual(await store.get('nightly'), task('nightly'));
      await assert.rejects(store.create(task('nightly', { cron: '* * * * *' })), { code: 'E_CONFLICT' });
      assert.equal((await store.get('nightly'))?.cron, '0 3 * * *');
    });

    it('updates an existing task only; removing forgets its run info', async () => {
      await assert.rejects(store.update(task('ghost')), { code: 'E_NOT_FOUND' });
      assert.equal(await store.get('ghost'), undefined);
      await store.create(task('nightly'));
      await store.update(task('nightly', { enabled: false }));
      assert.equal((await store.get('nightly'))?.enabled, false);
      await store.setRun('nightly', run(1000));
      assert.equal(await store.remove('nightly'), true);
      assert.equal(await store.remove('nightly'), false);
      assert.equal(await store.get('nightly'), undefined);
      assert.equal((await store.runs()).has('nightly'), false);
    });

    it('moves run info forward only', async () => {
      await store.setRun('nightly', run(2000, 'running'));
      await store.setRun('nightly', run(1000, 'failed'));
      assert.deepEqual((await store.runs()).get('nightly'), run(2000, 'running'));
      await store.setRun('nightly', run(2000, 'ok'));
      assert.deepEqual((await store.runs()).get('nightly'), run(2000, 'ok'));
      await store.setRun('nightly', run(3000, 'missed'));
      await store.setRun('other', run(5));
      const runs = await store.runs();
      assert.equal(runs.get('nightly')?.scheduledAt, 3000);
      assert.equal(runs.size, 2);
    });

    it('grants a lock to exactly one claimant until it expires', async () => {
      const claims = await Promise.all([
        store.claim('nightly:1000', 60_000, 'a'),
        store.claim('nightly:1000', 60_000, 'b'),
        store.claim('nightly:1000', 60_000, 'c'),
      ]);
      assert.deepEqual(
        claims.filter((c) => c),
        [true],
      );
      assert.equal(await store.claim('nightly:2000', 60_000, 'a'), true, 'another key is free');
    });

    it('keeps pending un-drains by task and scheduled time', async () => {
      assert.deepEqual(await store.undrains(), []);
      await store.addUndrain(undrain('nightly', 1000));
      await store.addUndrain(undrain('nightly', 2000));
      await store.addUndrain(undrain('nightly', 1000)); // same key: replaced, not added
      const keys = (await store.undrains()).map((u) => undrainKey(u)).sort();
      assert.deepEqual(keys, ['nightly:1000', 'nightly:2000']);
      await store.removeUndrain('nightly:1000');
      await store.removeUndrain('nightly:404'); // absent: no error
      assert.deepEqual(await store.undrains(), [undrain('nightly', 2000)]);
    });

    it('keeps tasks, runs and un-drains for the next store on the same source', async () => {
      await store.create(task('nightly'));
      await store.setRun('nightly', run(4000));
      await store.addUndrain(undrain('nightly', 4000));
      const next = await fx.reopen();
      assert.deepEqual(await next.list(), [task('nightly')]);
      assert.deepEqual((await next.runs()).get('nightly'), run(4000));
      assert.deepEqual(await next.undrains(), [undrain('nightly', 4000)]);
    });
  });
}
