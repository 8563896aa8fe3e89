// The coarse deadline sweep behind the proxy's upstream headers and body timeouts: exact tick
// counts (never early), refreshes, pauses, removal from any place in the list, and one failing
// expiry not stopping the others.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BODY, Deadlines, HEADERS, type Timed } from '../../../src/proxy/engine/deadlines.js';

class Probe implements Timed {
  deadline = 0;
  timedKind: Timed['timedKind'] = 0;
  prevTimed: Timed | null = null;
  nextTimed: Timed | null = null;
  readonly expired: string[] = [];
  constructor(private readonly onExpire: (p: Probe) => void = () => {}) {}
  expire(kind: typeof HEADERS | typeof BODY): void {
    this.expired.push(kind === HEADERS ? 'headers' : 'body');
    this.onExpire(this);
  }
}

/** Sweeps until `probe` expires; returns how many sweeps that took (or `limit` + 1). */
function sweepsUntilExpired(d: Deadlines, probe: Probe, limit = 1000): number {
  for (let n = 1; n <= limit; n++) {
    d.sweep();
    if (probe.expired.length > 0) return n;
  }
  return limit + 1;
}

void describe('upstream deadlines', () => {
  void it('sizes its tick from the shorter timeout, clamped to 10 ms – 1 s', () => {
    assert.equal(new Deadlines({ headersMs: 30_000, bodyMs: 60_000, autoSweep: false }).tickMs, 1000);
    assert.equal(new Deadlines({ headersMs: 300, bodyMs: 60_000, autoSweep: false }).tickMs, 75);
    assert.equal(new Deadlines({ headersMs: 60_000, bodyMs: 200, autoSweep: false }).tickMs, 50);
    assert.equal(new Deadlines({ headersMs: 1, bodyMs: 1, autoSweep: false }).tickMs, 10);
  });

  void it('expires a headers or body deadline after 1 + ceil(ms / tick) sweeps, never sooner', () => {
    const d = new Deadlines({ headersMs: 100, bodyMs: 230, autoSweep: false }); // tick 25 ms
    assert.equal(d.headersTicks, 5);
    assert.equal(d.bodyTicks, 11); // 1 + ceil(230 / 25)
    const h = new Probe();
    d.arm(h, HEADERS);
    assert.equal(sweepsUntilExpired(d, h), 5);
    assert.deepEqual(h.expired, ['headers']);
    const b = new Probe();
    d.arm(b, BODY);
    assert.equal(sweepsUntilExpired(d, b), 11);
    assert.deepEqual(b.expired, ['body']);
    assert.equal(d.size, 0, 'an expired attempt leaves the list');
    for (let i = 0; i < 20; i++) d.sweep();
    assert.equal(h.expired.length + b.expired.length, 2, 'each expires once');
  });

  void it('restarts the count when re-armed (a body chunk) and switches headers to body', () => {
    const d = new Deadlines({ headersMs: 100, bodyMs: 100, autoSweep: false });
    const p = new Probe();
    d.arm(p, HEADERS);
    for (let i = 0; i < 4; i++) d.sweep();
    d.arm(p, BODY); // headers arrived one tick before the headers deadline
    assert.equal(d.size, 1, 're-arming does not list it twice');
    for (let i = 0; i < 4; i++) {
      d.sweep();
      d.arm(p, BODY); // a chunk every tick keeps it alive
    }
    assert.deepEqual(p.expired, []);
    assert.equal(sweepsUntilExpired(d, p), 5);
    assert.deepEqual(p.expired, ['body']);
  });

  void it('does not count a paused attempt down, and counts afresh once it is armed again', () => {
    const d = new Deadlines({ headersMs: 100, bodyMs: 100, autoSweep: false });
    const p = new Probe();
    d.arm(p, BODY);
    d.pause(p);
    for (let i = 0; i < 50; i++) d.sweep();
    assert.deepEqual(p.expired, [], 'a slow client is not a slow backend');
    assert.equal(d.size, 1);
    d.arm(p, BODY);
    assert.equal(sweepsUntilExpired(d, p), 5);
    d.pause(p); // pausing an unlisted attempt does not list it
    assert.equal(p.timedKind, 0);
    assert.equal(d.size, 0);
  });

  void it('removes an attempt from the head, the middle or the tail, and only that one', () => {
    const d = new Deadlines({ headersMs: 100, bodyMs: 100, autoSweep: false });
    const probes = Array.from({ length: 6 }, () => new Probe());
    for (const p of probes) d.arm(p, HEADERS);
    // Listed newest first: probes[5] is the head and probes[0] the tail.
    const removed = [probes[5], probes[2], probes[0]] as Probe[];
    for (const p of removed) d.remove(p);
    d.remove(probes[2] as Probe); // twice: nothing happens
    assert.equal(d.size, 3);
    for (let i = 0; i < 5; i++) d.sweep();
    assert.deepEqual(
      probes.map((p) => p.expired.length),
      [0, 1, 0, 1, 1, 0],
    );
    assert.equal(d.size, 0);
  });

  void it('keeps sweeping when an expiry throws or removes another attempt', () => {
    const d = new Deadlines({ headersMs: 100, bodyMs: 1000, autoSweep: false });
    const last = new Probe();
    d.arm(last, HEADERS);
    const victim = new Probe();
    d.arm(victim, BODY); // due much later
    const thrower = new Probe(() => {
      throw new Error('boom');
    });
    d.arm(thrower, HEADERS);
    const rearmed = new Probe();
    // Listed: killer, thrower, victim, last. The killer's expiry removes the victim (as settling
    // another attempt would) and arms a new one; the thrower's expiry throws.
    const killer = new Probe(() => {
      d.remove(victim);
      d.arm(rearmed, HEADERS);
    });
    d.arm(killer, HEADERS);
    for (let i = 0; i < 5; i++) d.sweep();
    assert.deepEqual(
      [killer, thrower, victim, last, rearmed].map((p) => p.expired.length),
      [1, 1, 0, 1, 0],
    );
    assert.equal(d.size, 1, 'only the attempt armed during the sweep is listed');
    for (let i = 0; i < 200; i++) d.sweep();
    assert.deepEqual(victim.expired, [], 'a removed attempt never expires');
    assert.deepEqual(rearmed.expired, ['headers']);
  });

  void it('with its own timer, fires no earlier than the timeout', async () => {
    const d = new Deadlines({ headersMs: 60, bodyMs: 60 });
    const keepAlive = setTimeout(() => {}, 5000); // the sweep's own timer is unref'd
    try {
      const started = performance.now();
      const elapsed = await new Promise<number>((resolve) => {
        d.arm(new Probe(() => resolve(performance.now() - started)), HEADERS);
      });
      assert.ok(elapsed >= 60, `fired after ${elapsed.toFixed(1)} ms`);
      assert.ok(elapsed < 2000, `fired after ${elapsed.toFixed(1)} ms`);
    } finally {
      clearTimeout(keepAlive);
      d.close();
    }
  });
});
