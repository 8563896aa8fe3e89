// Runs the shared contract against every registered algorithm, then algorithm-specific behaviour.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  BALANCER_NAMES,
  createBalancer,
  isBalancerName,
  type BalancerName,
} from '../../../src/proxy/selection/registry.js';
import { createLeastResponseTime } from '../../../src/proxy/selection/least-response-time.js';
import type { Candidate } from '../../../src/proxy/selection/types.js';
import { ctxOf, runBalancerContract, seeded, type BalancerTraits } from './contract.js';

const RANDOM_BURSTS = { skip: 'independent random picks: short runs of one candidate are expected' };
const NO_AFFINITY = { skip: 'places requests without regard to the session key' };
const RANDOM_ORDER = { skip: 'random by design; replayable only with the same injected random()' };

const TRAITS: Record<BalancerName, BalancerTraits> = {
  round_robin: {
    weighted: { skip: 'ignores weights by design (plain rotation)' },
    deterministic: 'sequence',
    smooth: { skip: 'ignores weights, so the weighted window bound does not apply' },
    affinity: NO_AFFINITY,
  },
  weighted_round_robin: {
    weighted: true,
    deterministic: { skip: 'covered by the replay case and the window bound' },
    smooth: true,
    affinity: NO_AFFINITY,
  },
  random: {
    weighted: { skip: 'ignores weights by design (uniform)' },
    deterministic: RANDOM_ORDER,
    smooth: RANDOM_BURSTS,
    affinity: NO_AFFINITY,
  },
  weighted_random: {
    weighted: true,
    deterministic: RANDOM_ORDER,
    smooth: RANDOM_BURSTS,
    affinity: NO_AFFINITY,
  },
  least_connections: {
    weighted: true,
    deterministic: RANDOM_ORDER,
    smooth: RANDOM_BURSTS,
    affinity: NO_AFFINITY,
  },
  least_response_time: {
    weighted: true,
    deterministic: RANDOM_ORDER,
    smooth: RANDOM_BURSTS,
    affinity: NO_AFFINITY,
  },
  power_of_two_choices: {
    weighted: true,
    deterministic: RANDOM_ORDER,
    smooth: RANDOM_BURSTS,
    affinity: NO_AFFINITY,
  },
  consistent_hash: {
    weighted: true,
    deterministic: 'key',
    smooth: { skip: 'placement follows the key, not a rotation' },
    affinity: true,
  },
};

describe('balancer registry', () => {
  it('has traits for every registered algorithm and builds each', () => {
    assert.deepEqual([...BALANCER_NAMES].sort(), Object.keys(TRAITS).sort());
    for (const name of BALANCER_NAMES) assert.equal(typeof createBalancer(name).pick, 'function');
    assert.equal(isBalancerName('nope'), false);
    assert.throws(() => createBalancer('nope'), { code: 'E_VALIDATION' });
  });
});

for (const name of BALANCER_NAMES) runBalancerContract(name, () => createBalancer(name), TRAITS[name]);

const four: Candidate[] = ['a', 'b', 'c', 'd'].map((id) => ({ id, weight: 100 }));

describe('least_connections', () => {
  it('picks the least loaded (per weight), ties at random', () => {
    const b = createBalancer('least_connections');
    const random = seeded(3);
    const load: Record<string, number> = { a: 3, b: 1, c: 1, d: 2 };
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++)
      seen.add(
        b.pick(
          four,
          ctxOf(random, (id) => load[id] ?? 0),
        ) ?? '',
      );
    assert.deepEqual([...seen].sort(), ['b', 'c']);
    // Twice the weight carries twice the load for the same score.
    const weighted = [
      { id: 'big', weight: 200 },
      { id: 'small', weight: 100 },
    ];
    assert.equal(
      b.pick(
        weighted,
        ctxOf(random, (id) => (id === 'big' ? 3 : 1)),
      ),
      'small',
    ); // 1.5 vs 1
    assert.equal(
      b.pick(
        weighted,
        ctxOf(random, (id) => (id === 'big' ? 3 : 2)),
      ),
      'big',
    ); // 1.5 vs 2
    assert.equal(
      b.pick(
        weighted,
        ctxOf(random, (id) => (id === 'big' ? 1 : 1)),
      ),
      'big',
    ); // 0.5 vs 1
  });
});

describe('power_of_two_choices', () => {
  it('never sends to the single most loaded candidate, and favours the least loaded', () => {
    const b = createBalancer('power_of_two_choices');
    const random = seeded(4);
    const load: Record<string, number> = { a: 0, b: 5, c: 5, d: 9 };
    const counts = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const id =
        b.pick(
          four,
          ctxOf(random, (x) => load[x] ?? 0),
        ) ?? '';
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    assert.equal(counts.get('d'), undefined);
    // a wins every pair it is in: P = 1 - P(not drawn) = 1 - (3/4 · 2/3) = 1/2.
    assert.ok(Math.abs((counts.get('a') ?? 0) / 10_000 - 0.5) < 0.02, `a got ${counts.get('a')}`);
  });
});

describe('least_response_time', () => {
  it('moves share away from a slow backend smoothly and gives it back when it recovers', () => {
    let now = 0;
    const b = createLeastResponseTime({ now: () => now, recomputeMs: 100, windowMs: 5000 });
    const random = seeded(8);
    const latency: Record<string, number> = { a: 10, b: 10, c: 10, d: 10 };
    const shareOfD = (): number => {
      let d = 0;
      for (let i = 0; i < 4000; i++) {
        now += 1;
        const id = b.pick(four, ctxOf(random)) ?? '';
        if (id === 'd') d++;
        b.observe(id, latency[id] ?? 0, true);
      }
      return d / 4000;
    };
    const before = shareOfD();
    assert.ok(Math.abs(before - 0.25) < 0.03, `equal latency: d share ${before}`);
    latency.d = 100; // ten times slower
    const shares: number[] = [];
    for (let round = 0; round < 4; round++) shares.push(shareOfD());
    const slow = shares[shares.length - 1] ?? 1;
    // 10× slower → about 1/10 of the others' weight: 0.1 / 3.1 ≈ 3.2 % of traffic.
    assert.ok(slow < 0.06, `slow d share ${slow} (${shares.join(', ')})`);
    assert.ok(slow > 0.01, `slow d still probed: ${slow}`);
    latency.d = 10;
    const recovered: number[] = [];
    for (let round = 0; round < 4; round++) recovered.push(shareOfD());
    const last = recovered[recovered.length - 1] ?? 0;
    assert.ok(Math.abs(last - 0.25) < 0.03, `recovered d share ${last} (${recovered.join(', ')})`);
  });

  it('returns a backend to a full share once its observations leave the window', () => {
    let now = 0;
    const b = createLeastResponseTime({ now: () => now, windowMs: 1000, recomputeMs: 10 });
    b.observe('a', 10, true);
    b.observe('d', 500, false);
    now = 500;
    const random = seeded(6);
    let d = 0;
    for (let i = 0; i < 4000; i++) if (b.pick(four, ctxOf(random)) === 'd') d++;
    assert.ok(d / 4000 < 0.05, `inside window: ${d / 4000}`);
    now = 2000;
    d = 0;
    for (let i = 0; i < 4000; i++) if (b.pick(four, ctxOf(random)) === 'd') d++;
    assert.ok(Math.abs(d / 4000 - 0.25) < 0.03, `after window: ${d / 4000}`);
  });
});

describe('consistent_hash', () => {
  it('moves only the removed backend’s keys when one of ten leaves', () => {
    const b = createBalancer('consistent_hash');
    const random = seeded(1);
    const ten = Array.from({ length: 10 }, (_, i) => ({ id: `backend-${i}`, weight: 100 }));
    const nine = ten.filter((c) => c.id !== 'backend-3');
    let moved = 0;
    const keys = 20_000;
    for (let i = 0; i < keys; i++) {
      const key = `session-${i}`;
      const before = b.pick(
        ten,
        ctxOf(random, () => 0, key),
      );
      const after = b.pick(
        nine,
        ctxOf(random, () => 0, key),
      );
      if (before !== after) {
        moved++;
        assert.equal(before, 'backend-3', 'only keys of the removed backend move');
      }
    }
    assert.ok(Math.abs(moved / keys - 0.1) < 0.02, `moved ${moved / keys}`);
  });
});
