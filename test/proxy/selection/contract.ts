// The contract every registered balancing algorithm passes (hono-style: one suite, run against each
// implementation; an implementation that skips a case says why in its traits).
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type {
  Balancer,
  BalancerFactory,
  Candidate,
  PickContext,
} from '../../../src/proxy/selection/types.js';

/** A case that does not apply to an algorithm, with the reason. */
export interface Skip {
  readonly skip: string;
}

export interface BalancerTraits {
  /** On an idle pool, picks follow the weights within ±2 % over 100k picks; or why not. */
  readonly weighted: true | Skip;
  /** What is deterministic beyond "same inputs, same picks": a fixed sequence, or same key → same id. */
  readonly deterministic: 'sequence' | 'key' | Skip;
  /** Never more than ceil(w/total · n) + 1 picks in any window of n picks; or why not. */
  readonly smooth: true | Skip;
  /**
   * Session affinity with the pool in `ctx.members`: a key keeps its backend while other backends
   * leave and return, moves to the next one only while its own is out, and comes home after; or why not.
   */
  readonly affinity: true | Skip;
}

/** mulberry32: a small seeded PRNG so every run sees the same "random" numbers. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function ctxOf(
  random: () => number,
  inFlight: (id: string) => number = () => 0,
  key?: string,
): PickContext {
  return key === undefined ? { random, inFlight } : { random, inFlight, key };
}

const WEIGHTED: readonly Candidate[] = [
  { id: 'a', weight: 100 },
  { id: 'b', weight: 200 },
  { id: 'c', weight: 300 },
  { id: 'd', weight: 400 },
];

function count(
  b: Balancer,
  candidates: readonly Candidate[],
  picks: number,
  seed: number,
  keyed: boolean,
): Map<string, number> {
  const random = seeded(seed);
  const out = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const id = b.pick(
      candidates,
      ctxOf(random, () => 0, keyed ? `session-${i}` : undefined),
    );
    assert.ok(id !== undefined);
    out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

/** Asserts each candidate's share is within ±2 % (relative) of `expected(c) / Σ`. */
function assertShares(
  counts: Map<string, number>,
  candidates: readonly Candidate[],
  picks: number,
  expected: (c: Candidate) => number,
): void {
  const total = candidates.reduce((s, c) => s + expected(c), 0);
  for (const c of candidates) {
    const want = expected(c) / total;
    const got = (counts.get(c.id) ?? 0) / picks;
    assert.ok(
      Math.abs(got - want) <= want * 0.02,
      `${c.id}: share ${got.toFixed(4)}, expected ${want.toFixed(4)} ± 2 %`,
    );
  }
}

export function runBalancerContract(name: string, factory: BalancerFactory, traits: BalancerTraits): void {
  const skipOf = (t: true | string | Skip): { skip?: string } =>
    typeof t === 'object' ? { skip: t.skip } : {};

  describe(`balancer contract: ${name}`, () => {
    it('returns undefined for no candidates and the only one for one', () => {
      const b = factory();
      const random = seeded(1);
      assert.equal(b.pick([], ctxOf(random)), undefined);
      assert.equal(
        b.pick(
          [],
          ctxOf(random, () => 0, 'k'),
        ),
        undefined,
      );
      for (let i = 0; i < 20; i++) {
        assert.equal(
          b.pick(
            [{ id: 'only', weight: 100 }],
            ctxOf(random, () => i),
          ),
          'only',
        );
        assert.equal(
          b.pick(
            [{ id: 'only', weight: 0 }],
            ctxOf(random, () => 0, `k${i}`),
          ),
          'only',
        );
      }
    });

    it('only ever picks a listed candidate, while the set and in-flight counts change between and during picks', () => {
      const b = factory();
      const random = seeded(7);
      const universe = Array.from({ length: 12 }, (_, i) => ({ id: `u${i}`, weight: (i % 4) * 50 }));
      // Random subsets (the unhealthy and drained are simply absent), as health flaps among a few.
      const variants = Array.from({ length: 6 }, () => universe.filter(() => random() < 0.6));
      variants.push([]);
      for (let i = 0; i < 20_000; i++) {
        const base = variants[Math.floor(random() * variants.length)] ?? [];
        // Sometimes a fresh array (reordered, or one extra backend that just appeared).
        const r = random();
        const set = r < 0.1 ? [...base].reverse() : r < 0.15 ? [...base, { id: 'new', weight: 100 }] : base;
        // In-flight counts that change on every call, as if other requests finished concurrently.
        const inFlight = (): number => Math.floor(random() * 5);
        const id = b.pick(set, ctxOf(random, inFlight, random() < 0.5 ? `key-${i % 97}` : undefined));
        if (set.length === 0) assert.equal(id, undefined);
        else
          assert.ok(
            set.some((c) => c.id === id),
            `picked ${id} outside ${set.map((c) => c.id).join(',')}`,
          );
        if (id !== undefined) b.observe?.(id, 1 + random() * 50, random() < 0.9);
      }
    });

    it('treats an all-zero-weight set as evenly weighted (it still serves)', () => {
      const b = factory();
      const set = ['x', 'y', 'z'].map((id) => ({ id, weight: 0 }));
      const counts = count(b, set, 3000, 3, true);
      for (const c of set)
        assert.ok((counts.get(c.id) ?? 0) > 600, `${c.id} got ${counts.get(c.id) ?? 0} of 3000`);
    });

    it('picks the same sequence from the same inputs (replayable with a seeded random)', () => {
      const run = (): string[] => {
        const b = factory();
        const random = seeded(11);
        const out: string[] = [];
        for (let i = 0; i < 500; i++)
          out.push(
            b.pick(
              WEIGHTED,
              ctxOf(random, (id) => id.charCodeAt(0) % 3, `k${i % 50}`),
            ) ?? '',
          );
        return out;
      };
      assert.deepEqual(run(), run());
    });

    it('honours weights within ±2 % over 100k picks', skipOf(traits.weighted), () => {
      const picks = 100_000;
      assertShares(count(factory(), WEIGHTED, picks, 42, false), WEIGHTED, picks, (c) => c.weight);
    });

    if (typeof traits.weighted === 'object') {
      it('spreads evenly (it ignores weights) within ±2 % over 100k picks', () => {
        const picks = 100_000;
        assertShares(count(factory(), WEIGHTED, picks, 42, false), WEIGHTED, picks, () => 1);
      });
    }

    it('is deterministic where it claims to be', skipOf(traits.deterministic), () => {
      if (traits.deterministic === 'sequence') {
        const b = factory();
        const random = seeded(5);
        const set = ['a', 'b', 'c'].map((id) => ({ id, weight: 100 }));
        const seq = Array.from({ length: 9 }, () => b.pick(set, ctxOf(random)));
        assert.deepEqual(seq, ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
      } else if (traits.deterministic === 'key') {
        const one = factory();
        const two = factory();
        const random = seeded(9);
        const reordered = [...WEIGHTED].reverse();
        for (let i = 0; i < 2000; i++) {
          const key = `user-${i}`;
          const first = one.pick(
            WEIGHTED,
            ctxOf(random, () => 0, key),
          );
          assert.equal(
            one.pick(
              WEIGHTED,
              ctxOf(random, () => i % 7, key),
            ),
            first,
            'same key, same id',
          );
          assert.equal(
            two.pick(
              reordered,
              ctxOf(random, () => 0, key),
            ),
            first,
            'another instance, list order ignored',
          );
        }
      }
    });

    it(
      'keeps each session on its backend while others come and go, and brings it home',
      skipOf(traits.affinity),
      () => {
        const b = factory();
        assert.equal(b.affinity, true, 'an algorithm with session affinity says so (draining stays usable)');
        const random = seeded(4);
        const members: Candidate[] = Array.from({ length: 8 }, (_, i) => ({ id: `m${i}`, weight: 100 }));
        const keyed = (candidates: readonly Candidate[], key: string): string | undefined =>
          b.pick(candidates, { random, inFlight: () => 0, key, members });
        const keys = Array.from({ length: 3000 }, (_, i) => `session-${i}`);
        const home = new Map(keys.map((k) => [k, keyed(members, k)]));
        const seen = new Set(home.values());
        assert.equal(seen.size, members.length, 'every member is home to some keys');
        for (const out of ['m2', 'm5']) {
          const without = members.filter((m) => m.id !== out);
          // A fresh array with the same members, in another order: the same picks.
          const shuffled = [...without].reverse();
          for (const key of keys) {
            const was = home.get(key);
            const now = keyed(without, key);
            assert.equal(keyed(shuffled, key), now, 'order of candidates does not matter');
            if (was !== out) assert.equal(now, was, `${key} stays on ${was} while ${out} is out`);
            else assert.notEqual(now, out);
            // The key of the missing backend lands where a pool without it would have put it.
            assert.equal(
              b.pick(without, { random, inFlight: () => 0, key, members: without }),
              now,
              'the walk past a missing member equals a ring without it',
            );
          }
          for (const key of keys)
            assert.equal(keyed(members, key), home.get(key), 'back home when it recovers');
        }
      },
    );

    it(
      'never bursts: at most ceil(w/total · n) + 1 picks of a candidate in any window of n picks',
      skipOf(traits.smooth),
      () => {
        const b = factory();
        const set: Candidate[] = [
          { id: 'a', weight: 5 },
          { id: 'b', weight: 1 },
          { id: 'c', weight: 1 },
          { id: 'd', weight: 13 },
        ];
        const total = 20;
        const random = seeded(2);
        const seq = Array.from({ length: 2000 }, () => b.pick(set, ctxOf(random)) ?? '');
        for (const c of set) {
          for (let n = 1; n <= 3 * total; n++) {
            const bound = Math.ceil((c.weight / total) * n) + 1;
            let inWindow = 0;
            for (let i = 0; i < seq.length; i++) {
              if (seq[i] === c.id) inWindow++;
              if (i >= n && seq[i - n] === c.id) inWindow--;
              if (i >= n - 1)
                assert.ok(
                  inWindow <= bound,
                  `${c.id}: ${inWindow} picks in a window of ${n} (bound ${bound})`,
                );
            }
          }
        }
      },
    );
  });
}
