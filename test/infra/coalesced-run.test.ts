// CoalescedRun: one run at a time, calls during a run share it and cause exactly one more.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoalescedRun } from '../../src/infra/coalesced-run.js';

void describe('CoalescedRun', () => {
  void it('shares a run in progress and reruns once for any number of calls made during it', async () => {
    let runs = 0;
    let release: (() => void) | undefined;
    const job = new CoalescedRun(async () => {
      runs++;
      if (runs === 1) await new Promise<void>((r) => (release = r));
    });
    const first = job.run();
    const during = [job.run(), job.run(), job.run()];
    assert.equal(runs, 1);
    assert.ok(job.current !== undefined);
    release?.();
    await Promise.all([first, ...during]);
    assert.equal(runs, 2, 'three calls during the first run cost one more run');
    assert.equal(job.current, undefined);
    await job.run();
    assert.equal(runs, 3);
  });

  void it('stops rerunning when told to, and passes a failure to every caller of that run', async () => {
    let runs = 0;
    let open = true;
    const job = new CoalescedRun(
      async () => {
        runs++;
        await Promise.resolve();
        throw new Error(`run ${runs}`);
      },
      () => open,
    );
    const a = job.run();
    const b = job.run();
    open = false;
    await assert.rejects(a, /run 1/);
    await assert.rejects(b, /run 1/);
    assert.equal(runs, 1);
  });
});
