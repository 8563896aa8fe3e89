// The scaling decision: a pure function of (current backend count, load samples, time of the last
// scaling action, policy) → desired count and the reasons, in the manner of Kubernetes' HPA:
//   desired = ceil(current × value / target), value being the metric per backend.
// What keeps it from flapping:
//   - hysteresis: nothing changes while value is within ±tolerance of the target;
//   - scale-up follows the window's mean, scale-down its highest sample, so the region sheds
//     backends only when the load stayed low for the whole window (one quiet sample is not enough);
//   - cooldowns: after any action, no scale-up for `cooldownUpSeconds` and no scale-down for
//     `cooldownDownSeconds`;
//   - the ceiling: the count after a scale-down carries the window's peak at or below the target,
//     so it does not immediately call for a scale-up again.
// Step limits and min/max bound the result; a count outside min/max is brought back at once
// (bounds are not subject to cooldown or tolerance).
import type { AutoscaleMetric } from '../../config/autoscale-schema.js';

/** One reading of a region's load, totalled over its fresh health reports. */
export interface LoadSample {
  /** When it was taken (ms epoch). */
  readonly at: number;
  /** Requests in flight, summed over the region's proxies. */
  readonly inFlight: number;
  /** Requests per second, summed over the region's proxies. */
  readonly requestRate: number;
  /** The highest p95 latency any proxy reported (ms). */
  readonly p95LatencyMs: number;
}

/** The part of a region's policy the decision reads. */
export interface ScalingPolicy {
  readonly metric: AutoscaleMetric;
  readonly target: number;
  readonly min: number;
  readonly max: number;
  readonly maxStepUp: number;
  readonly maxStepDown: number;
  readonly cooldownUpSeconds: number;
  readonly cooldownDownSeconds: number;
  readonly tolerance: number;
  readonly windowSeconds: number;
}

export interface DecisionInput {
  readonly policy: ScalingPolicy;
  /** Backends the region has now. */
  readonly current: number;
  /** Samples, any order; those older than the policy's window are ignored. */
  readonly samples: readonly LoadSample[];
  readonly now: number;
  /** When the last scaling action was taken (ms epoch); undefined: never. */
  readonly lastScaleAt?: number;
}

export type ScaleAction = 'scale-up' | 'scale-down' | 'hold';

export interface Decision {
  readonly action: ScaleAction;
  readonly current: number;
  /** Equal to `current` when the action is `hold`. */
  readonly desired: number;
  /** What the load alone calls for, before cooldowns (step limits and bounds applied). */
  readonly recommended: number;
  /** The metric per backend the decision used (mean of the window for up, its peak for down). */
  readonly value?: number;
  /** Why, in words an operator reads in `meridian autoscale status` and the audit log. */
  readonly reasons: readonly string[];
  /** Time left before the cooldown lets the recommended change happen; 0 when none blocks it. */
  readonly cooldownLeftMs: number;
}

/** The metric per backend for one sample (the latency is already per request, not per backend). */
export function metricValue(metric: AutoscaleMetric, sample: LoadSample, backends: number): number {
  const per = Math.max(1, backends);
  switch (metric) {
    case 'inFlightPerBackend':
      return sample.inFlight / per;
    case 'requestRatePerBackend':
      return sample.requestRate / per;
    case 'p95LatencyMs':
      return sample.p95LatencyMs;
  }
}

const round = (n: number): number => Math.round(n * 100) / 100;

export function decide(input: DecisionInput): Decision {
  const { policy, current, now } = input;
  const hold = (reasons: string[], extra: Partial<Decision> = {}): Decision => ({
    action: 'hold',
    current,
    desired: current,
    recommended: current,
    reasons,
    cooldownLeftMs: 0,
    ...extra,
  });

  // Bounds first: a count outside min/max is corrected whatever the load says.
  if (current < policy.min) {
    return {
      action: 'scale-up',
      current,
      desired: policy.min,
      recommended: policy.min,
      reasons: [`${current} backend(s) is below the minimum of ${policy.min}`],
      cooldownLeftMs: 0,
    };
  }
  if (current > policy.max) {
    return {
      action: 'scale-down',
      current,
      desired: policy.max,
      recommended: policy.max,
      reasons: [`${current} backend(s) is above the maximum of ${policy.max}`],
      cooldownLeftMs: 0,
    };
  }

  const since = now - policy.windowSeconds * 1000;
  const window = input.samples.filter((s) => s.at > since && s.at <= now);
  if (window.length === 0) {
    return hold([`no load samples in the last ${policy.windowSeconds}s (no fresh health reports)`]);
  }
  const values = window.map((s) => metricValue(policy.metric, s, current));
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const peak = Math.max(...values);
  const { target, tolerance } = policy;
  const describe = (what: string, v: number): string =>
    `${policy.metric} ${what} ${round(v)} over ${window.length} sample(s) in ${policy.windowSeconds}s, target ${target}`;

  let value: number;
  let recommended: number;
  const loadRises = mean > target * (1 + tolerance);
  const reasons: string[] = [];
  if (loadRises) {
    value = mean;
    const raw = Math.ceil((current * mean) / target);
    recommended = Math.min(raw, current + policy.maxStepUp, policy.max);
    reasons.push(
      `${describe('mean', mean)} (+${Math.round(tolerance * 100)}% band ends at ${round(target * (1 + tolerance))})`,
    );
    if (recommended < raw) {
      reasons.push(
        raw > policy.max && recommended === policy.max
          ? `load calls for ${raw}, capped at the maximum of ${policy.max}`
          : `load calls for ${raw}, limited to +${policy.maxStepUp} per step`,
      );
    }
  } else if (peak < target * (1 - tolerance)) {
    value = peak;
    const raw = Math.max(1, Math.ceil((current * peak) / target));
    recommended = Math.max(raw, current - policy.maxStepDown, policy.min);
    reasons.push(
      `${describe('peak', peak)} (-${Math.round(tolerance * 100)}% band ends at ${round(target * (1 - tolerance))})`,
    );
    if (recommended > raw) {
      reasons.push(
        raw < policy.min && recommended === policy.min
          ? `load allows ${raw}, kept at the minimum of ${policy.min}`
          : `load allows ${raw}, limited to -${policy.maxStepDown} per step`,
      );
    }
  } else {
    return hold(
      [
        `${describe('mean', mean)}: within the ±${Math.round(tolerance * 100)}% tolerance band (peak ${round(peak)})`,
      ],
      { value: mean },
    );
  }

  if (recommended === current) {
    if (loadRises) reasons.push(`already at the maximum of ${policy.max}`);
    else if (current === policy.min) reasons.push(`already at the minimum of ${policy.min}`);
    else
      reasons.push(
        `one backend fewer would carry more than the target (${round((current * peak) / (current - 1))})`,
      );
    return hold(reasons, { value });
  }
  const action: ScaleAction = recommended > current ? 'scale-up' : 'scale-down';
  const cooldownMs = (action === 'scale-up' ? policy.cooldownUpSeconds : policy.cooldownDownSeconds) * 1000;
  const cooldownLeftMs =
    input.lastScaleAt === undefined ? 0 : Math.max(0, input.lastScaleAt + cooldownMs - now);
  if (cooldownLeftMs > 0) {
    reasons.push(
      `${action} to ${recommended} waits for the ${action === 'scale-up' ? 'up' : 'down'} cooldown: ${Math.ceil(cooldownLeftMs / 1000)}s left`,
    );
    return { action: 'hold', current, desired: current, recommended, value, reasons, cooldownLeftMs };
  }
  reasons.push(`${action} from ${current} to ${recommended}`);
  return { action, current, desired: recommended, recommended, value, reasons, cooldownLeftMs: 0 };
}
