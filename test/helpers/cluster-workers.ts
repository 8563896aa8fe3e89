// The live node:cluster workers of this test process and their command lines (from /proc), for
// tests that check which flags a tier starts its workers with.
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';

/** Asserts there are `count` workers and that each one's command line includes `flag`. */
export function assertWorkersRunWith(flag: string, count: number): void {
  const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
  assert.equal(workers.length, count);
  for (const w of workers) {
    const argv = readFileSync(`/proc/${w.process.pid}/cmdline`, 'latin1').split('\0');
    assert.ok(argv.includes(flag), `worker ${w.process.pid} argv: ${argv.join(' ')}`);
  }
}
