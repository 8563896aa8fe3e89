// The pure scaling decision, case by case: bounds, tolerance band, mean for up / peak for down, step
// limits, cooldowns, no samples; and a replayed load curve that must not flap.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decide,
  metricValue,
  type LoadSample,
  type ScalingPolicy,
} from '../../../src/ops/autoscale/decide.js';

const POLICY: ScalingPolicy = {
  metric: 'inFlightPerBackend',
  target: 10,
  min: 2,
  max: 10,
  maxStepUp: 3,
  maxStepDown: 1,
  cooldownUpSeconds: 30,
  cooldownDownSeconds: 120,
  tolerance: 0.1,
  windowSeconds: 60,
};
const NOW = 1_000_000;

/** Samples 10 s apart ending at NOW, with these region-wide in-flight totals. */
function load(...inFlight: number[]): LoadSample[] {
  return inFlight.map((n, i) => ({
    at: NOW - (inFlight.length - 1 - i) * 10_000,
    inFlight: n,
    requestRate: n * 5,
    p95LatencyMs: 100 + n,
  }));
}

describe('autoscale decide', () => {
  const cases: {
    name: string;
    current: number;
    samples: LoadSample[];
    policy?: Partial<ScalingPolicy>;
    lastScaleAt?: number;
    action: 'scale-up' | 'scale-down' | 'hold';
    desired: number;
    recommended?: number;
    reason: RegExp;
  }[] = [
    {
      name: 'below min, no samples',
      current: 1,
      samples: [],
      action: 'scale-up',
      desired: 2,
      reason: /below the minimum of 2/,
    },
    {
      name: 'above max, heavy load',
      current: 12,
      samples: load(500),
      action: 'scale-down',
      desired: 10,
      reason: /above the maximum of 10/,
    },
    {
      name: 'below min ignores cooldown',
      current: 1,
      samples: load(0),
      lastScaleAt: NOW - 1000,
      action: 'scale-up',
      desired: 2,
      reason: /below the minimum/,
    },
    {
      name: 'no samples in window',
      current: 4,
      samples: [{ at: NOW - 61_000, inFlight: 400, requestRate: 0, p95LatencyMs: 0 }],
      action: 'hold',
      desired: 4,
      reason: /no load samples in the last 60s/,
    },
    {
      name: 'at target',
      current: 4,
      samples: load(40, 40),
      action: 'hold',
      desired: 4,
      reason: /within the ±10% tolerance band/,
    },
    {
      name: 'just inside the upper band (11/backend)',
      current: 4,
      samples: load(44),
      action: 'hold',
      desired: 4,
      reason: /tolerance band/,
    },
    {
      name: 'just inside the lower band (9/backend)',
      current: 4,
      samples: load(36),
      action: 'hold',
      desired: 4,
      reason: /tolerance band/,
    },
    {
      name: 'mean above band → ceil(current × mean/target)',
      current: 4,
      samples: load(40, 60, 80),
      action: 'scale-up',
      desired: 6,
      reason: /mean 15 over 3 sample/,
    },
    {
      name: 'step limit up',
      current: 4,
      samples: load(200),
      action: 'scale-up',
      desired: 7,
      reason: /load calls for 20, limited to \+3 per step/,
    },
    {
      name: 'max caps up',
      current: 9,
      samples: load(200),
      action: 'scale-up',
      desired: 10,
      reason: /capped at the maximum of 10/,
    },
    {
      name: 'already at max',
      current: 10,
      samples: load(500),
      action: 'hold',
      desired: 10,
      reason: /already at the maximum of 10/,
    },
    {
      name: 'peak low → scale down one step',
      current: 6,
      samples: load(10, 12),
      action: 'scale-down',
      desired: 5,
      reason: /load allows 2, limited to -1 per step/,
    },
    {
      name: 'one busy sample in the window blocks scale-down',
      current: 6,
      samples: load(5, 5, 60, 5),
      action: 'hold',
      desired: 6,
      reason: /tolerance band/,
    },
    {
      name: 'already at min',
      current: 2,
      samples: load(0, 0),
      action: 'hold',
      desired: 2,
      reason: /already at the minimum of 2/,
    },
    {
      name: 'one fewer would overshoot',
      current: 3,
      samples: load(24),
      action: 'hold',
      desired: 3,
      reason: /one backend fewer would carry more than the target \(12\)/,
    },
    {
      name: 'up cooldown holds',
      current: 4,
      samples: load(80),
      lastScaleAt: NOW - 10_000,
      action: 'hold',
      desired: 4,
      recommended: 7,
      reason: /waits for the up cooldown: 20s left/,
    },
    {
      name: 'up cooldown over',
      current: 4,
      samples: load(80),
      lastScaleAt: NOW - 30_000,
      action: 'scale-up',
      desired: 7,
      reason: /scale-up from 4 to 7/,
    },
    {
      name: 'down cooldown is longer',
      current: 6,
      samples: load(0),
      lastScaleAt: NOW - 60_000,
      action: 'hold',
      desired: 6,
      recommended: 5,
      reason: /down cooldown: 60s left/,
    },
    {
      name: 'down cooldown over',
      current: 6,
      samples: load(0),
      lastScaleAt: NOW - 120_000,
      action: 'scale-down',
      desired: 5,
      reason: /scale-down from 6 to 5/,
    },
    {
      name: 'request rate metric',
      current: 2,
      samples: load(10),
      policy: { metric: 'requestRatePerBackend', target: 10 },
      action: 'scale-up',
      desired: 5,
      reason: /requestRatePerBackend mean 25/,
    },
    {
      name: 'latency metric is not divided by backends',
      current: 3,
      samples: load(50),
      policy: { metric: 'p95LatencyMs', target: 100, maxStepUp: 10 },
      action: 'scale-up',
      desired: 5,
      reason: /p95LatencyMs mean 150/,
    },
    {
      name: 'zero tolerance still holds exactly on target',
      current: 4,
      samples: load(40),
      policy: { tolerance: 0 },
      action: 'hold',
      desired: 4,
      reason: /tolerance band/,
    },
  ];
  for (const c of cases) {
    void it(c.name, () => {
      const d = decide({
        policy: { ...POLICY, ...c.policy },
        current: c.current,
        samples: c.samples,
        now: NOW,
        ...(c.lastScaleAt === undefined ? {} : { lastScaleAt: c.lastScaleAt }),
      });
      assert.equal(d.action, c.action, d.reasons.join('; '));
      assert.equal(d.desired, c.desired, d.reasons.join('; '));
      if (c.recommended !== undefined) assert.equal(d.recommended, c.recommended);
      assert.ok(
        d.reasons.some((r) => c.reason.test(r)),
        `reasons ${JSON.stringify(d.reasons)} lack ${String(c.reason)}`,
      );
      assert.equal(d.cooldownLeftMs > 0, /cooldown: \d+s left/.test(d.reasons.join(' ')));
      assert.ok(
        d.desired >= Math.min(c.current, POLICY.min) &&
          d.desired <= Math.max(c.current, c.policy?.max ?? POLICY.max),
      );
    });
  }

  void it('scales a level, noisy load once and then stays put (no flapping)', () => {
    // 100 minutes of a load around 80 in flight (±15%), evaluated every 15 s, applying each decision.
    let current = 4;
    let lastScaleAt: number | undefined;
    const samples: LoadSample[] = [];
    const changes: number[] = [];
    for (let t = 0; t < 6000; t += 15) {
      const at = NOW + t * 1000;
      const noise = Math.sin(t / 7) * 0.15;
      samples.push({ at, inFlight: 80 * (1 + noise), requestRate: 0, p95LatencyMs: 0 });
      const d = decide({
        policy: POLICY,
        current,
        samples,
        now: at,
        ...(lastScaleAt === undefined ? {} : { lastScaleAt }),
      });
      if (d.action !== 'hold') {
        current = d.desired;
        lastScaleAt = at;
        changes.push(current);
      }
    }
    // Up to carry the load (8 backends at target 10; peaks of 92 allow 10), and no back and forth.
    assert.ok(changes.length <= 3, `changed ${changes.length} times: ${changes.join(' → ')}`);
    for (let i = 1; i < changes.length; i++)
      assert.ok((changes[i] ?? 0) > (changes[i - 1] ?? 0), `reversed: ${changes.join(' → ')}`);
    assert.ok(current >= 8 && current <= 10, `settled at ${current}`);
  });

  void it('follows a load step up and back down without overshooting back', () => {
    let current = 2;
    let lastScaleAt: number | undefined;
    const samples: LoadSample[] = [];
    const trace: string[] = [];
    for (let t = 0; t < 1800; t += 15) {
      const at = NOW + t * 1000;
      const inFlight = t >= 300 && t < 900 ? 70 : 10;
      samples.push({ at, inFlight, requestRate: 0, p95LatencyMs: 0 });
      const d = decide({
        policy: POLICY,
        current,
        samples,
        now: at,
        ...(lastScaleAt === undefined ? {} : { lastScaleAt }),
      });
      if (d.action !== 'hold') {
        trace.push(`${t}s ${d.action} ${current}→${d.desired}`);
        current = d.desired;
        lastScaleAt = at;
      }
    }
    const ups = trace.filter((s) => s.includes('scale-up'));
    const downs = trace.filter((s) => s.includes('scale-down'));
    assert.ok(ups.length >= 1 && downs.length >= 1, trace.join('\n'));
    // Every scale-up happens while the load is high, every scale-down after it dropped.
    for (const u of ups) assert.ok(Number(u.split('s')[0]) < 900, trace.join('\n'));
    for (const d of downs) assert.ok(Number(d.split('s')[0]) >= 900, trace.join('\n'));
    assert.equal(current, 2, trace.join('\n'));
  });

  void it('metricValue divides totals by the backend count, never by zero', () => {
    const s: LoadSample = { at: 0, inFlight: 30, requestRate: 90, p95LatencyMs: 250 };
    assert.equal(metricValue('inFlightPerBackend', s, 3), 10);
    assert.equal(metricValue('requestRatePerBackend', s, 0), 90);
    assert.equal(metricValue('p95LatencyMs', s, 5), 250);
  });
});
