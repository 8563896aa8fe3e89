// The pure region verdict: quorum over weighted votes, and the hysteresis derived from the votes'
// since/prevSince alone (so any process with the same votes and clock reaches the same verdict).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateRegionHealth, type RegionHealthPolicy } from '../../src/core/health.js';
import {
  INSTANT_RULE,
  quorumSaysDown,
  regionVerdict,
  type RegionHealthRule,
  type Vote,
} from '../../src/core/region-verdict.js';
import type { HealthReport } from '../../src/core/types.js';

const RULE: RegionHealthRule = {
  quorum: 'majority',
  weights: { proxy: 1, probe: 1 },
  downAfterMs: 2000,
  upAfterMs: 5000,
  minFlipIntervalMs: 10000,
  unmonitored: 'probe-only',
};

const probe = (vantage: string, up: boolean, since?: number, prevSince?: number): Vote => ({
  vantage,
  kind: 'probe',
  up,
  weight: 1,
  ...(since === undefined ? {} : { since }),
  ...(prevSince === undefined ? {} : { prevSince }),
});

void describe('quorumSaysDown', () => {
  void it('majority: more than half the weight; a tie stays up', () => {
    assert.equal(quorumSaysDown(2, 3, 'majority'), true);
    assert.equal(quorumSaysDown(1, 2, 'majority'), false);
    assert.equal(quorumSaysDown(0, 0, 'majority'), false);
  });
  void it('N of M: at least N, and all of them when fewer than N vote', () => {
    assert.equal(quorumSaysDown(2, 5, 2), true);
    assert.equal(quorumSaysDown(1, 5, 2), false);
    assert.equal(quorumSaysDown(1, 1, 2), true);
  });
});

void describe('regionVerdict', () => {
  void it('votes without since count as long-held: the instant rule flips at once', () => {
    const v = regionVerdict([probe('a', false), probe('b', false), probe('c', true)], RULE, 1000, true);
    assert.equal(v.up, false);
    assert.equal(v.pending, undefined);
    assert.equal(regionVerdict([probe('a', false)], INSTANT_RULE, 0, true).up, false);
  });

  void it('goes down only after the quorum has said down for downAfter, counted from the evidence', () => {
    const votes = [probe('a', false, 10_000), probe('b', true, 0), probe('c', false, 10_500)];
    const before = regionVerdict(votes, RULE, 12_499, true);
    assert.equal(before.up, true);
    assert.equal(before.rawUp, false);
    assert.deepEqual(before.pending, { up: false, at: 12_500 });
    assert.equal(regionVerdict(votes, RULE, 12_500, true).up, false);
  });

  void it('one vantage point of three saying down never takes the region down', () => {
    const votes = [probe('a', false, 1000), probe('b', true), probe('c', true)];
    const v = regionVerdict(votes, RULE, 1_000_000, true);
    assert.equal(v.up, true);
    assert.equal(v.rawUp, true);
    assert.equal(v.pending, undefined);
  });

  void it('a down spell shorter than downAfter leaves no trace (a flapping endpoint)', () => {
    // Down from 1000 (first failed probe) until 2000 (first passing probe), up since.
    const votes = [probe('a', true, 2000, 1000)];
    for (const now of [1500, 2900, 3000, 3500, 60_000]) {
      const v = regionVerdict(votes, RULE, now, true);
      assert.equal(v.up, true, `at ${now}`);
      assert.equal(v.lastFlipAt, undefined);
    }
  });

  void it('comes back only after the quorum has said up for upAfter', () => {
    // Down from 0 (flipped at 2000), up again since 20_000.
    const votes = [probe('a', true, 20_000, 0)];
    const waiting = regionVerdict(votes, RULE, 24_999, true);
    assert.equal(waiting.up, false);
    assert.equal(waiting.lastFlipAt, 2000);
    assert.deepEqual(waiting.pending, { up: true, at: 25_000 });
    const back = regionVerdict(votes, RULE, 25_000, true);
    assert.equal(back.up, true);
    assert.equal(back.lastFlipAt, 25_000);
  });

  void it('never flips sooner than minFlipInterval after the previous flip', () => {
    const quick: RegionHealthRule = { ...RULE, upAfterMs: 0 };
    const votes = [probe('a', true, 3000, 0)]; // down at 2000, up since 3000
    assert.equal(regionVerdict(votes, quick, 11_999, true).up, false);
    assert.deepEqual(regionVerdict(votes, quick, 11_999, true).pending, { up: true, at: 12_000 });
    assert.equal(regionVerdict(votes, quick, 12_000, true).up, true);
  });

  void it('2 of 3 down: down at the second vote’s evidence + downAfter', () => {
    const votes = [probe('a', false, 5000, 0), probe('b', false, 5400, 0), probe('c', true, 0)];
    assert.equal(regionVerdict(votes, RULE, 7399, true).up, true);
    assert.equal(regionVerdict(votes, RULE, 7400, true).up, false);
  });

  void it('N of M with weights: a zero-weight kind does not vote', () => {
    const rule: RegionHealthRule = { ...RULE, quorum: 2, weights: { proxy: 2, probe: 0 } };
    const proxy: Vote = { vantage: 'p', kind: 'proxy', up: false, weight: 2 };
    const v = regionVerdict([proxy, { ...probe('a', true), weight: 0 }], rule, 0, true);
    assert.equal(v.up, false);
    assert.equal(v.totalWeight, 2);
  });

  void it('is the same whatever the order of the votes', () => {
    const votes = [probe('a', false, 5000, 100), probe('b', true, 5200, 300), probe('c', false, 4000)];
    const reversed = [...votes].reverse();
    for (const now of [4500, 6100, 7000, 9000, 20_000])
      assert.deepEqual(regionVerdict(votes, RULE, now, true), regionVerdict(reversed, RULE, now, true));
  });
});

const report = (reporterId: string, up: boolean, extra: Partial<HealthReport> = {}): HealthReport => ({
  regionId: 'eu',
  reporterId,
  healthyBackends: up ? 1 : 0,
  totalBackends: 1,
  inFlight: 0,
  requestRate: 0,
  p95LatencyMs: 0,
  reportedAt: 0,
  expiresAt: 100_000,
  ...extra,
});

const policy = (checked: boolean, unmonitored: RegionHealthRule['unmonitored']): RegionHealthPolicy => ({
  rule: { ...RULE, unmonitored },
  checked,
});

void describe('evaluateRegionHealth with a rule', () => {
  void it('a checked region with no votes is unknown (served) during the grace, then as the policy says', () => {
    const during = evaluateRegionHealth(undefined, 1000, 30_000, policy(true, 'probe-only'));
    assert.equal(during.status, 'unknown');
    assert.equal(during.up, true);
    assert.equal(during.changesAt, 30_000);
    const after = evaluateRegionHealth(undefined, 31_000, 30_000, policy(true, 'probe-only'));
    assert.equal(after.status, 'unmonitored');
    assert.equal(after.up, false);
    assert.equal(evaluateRegionHealth(undefined, 31_000, 30_000, policy(false, 'probe-only')).up, true);
    assert.equal(evaluateRegionHealth(undefined, 31_000, 30_000, policy(false, 'down')).up, false);
    assert.equal(evaluateRegionHealth(undefined, 31_000, 30_000, policy(true, 'up')).up, true);
  });

  void it('shows the votes, the rule and the time left before a change', () => {
    const reports = new Map([
      ['probe:a', report('probe:a', false, { kind: 'probe', since: 10_000 })],
      ['probe:b', report('probe:b', false, { kind: 'probe', since: 10_200 })],
      ['node-1/w1', report('node-1/w1', true)],
    ]);
    const view = evaluateRegionHealth(reports, 11_000, 0, policy(true, 'probe-only'));
    assert.equal(view.status, 'healthy');
    assert.equal(view.rawUp, false);
    assert.deepEqual(view.pending, { to: 'down', at: 12_200 });
    assert.equal(view.changesAt, 12_200);
    assert.deepEqual(
      view.votes.map((v) => [v.vantage, v.kind, v.up]),
      [
        ['node-1', 'proxy', true],
        ['probe:a', 'probe', false],
        ['probe:b', 'probe', false],
      ],
    );
    assert.match(view.reasons.join('\n'), /2 of 3 vantage point\(s\) say down/);
    assert.match(view.reasons.join('\n'), /down in 1\.2 s/);
    assert.equal(evaluateRegionHealth(reports, 12_200, 0, policy(true, 'probe-only')).status, 'unhealthy');
  });

  void it('expired votes leave the region silent and down, as before', () => {
    const reports = new Map([
      ['probe:a', report('probe:a', true, { kind: 'probe', since: 0, expiresAt: 5000 })],
    ]);
    const view = evaluateRegionHealth(reports, 6000, 0, policy(true, 'probe-only'));
    assert.equal(view.status, 'expired');
    assert.equal(view.up, false);
  });
});
