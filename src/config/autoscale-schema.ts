// The `autoscale` section: one scaling policy per region (which load figure to follow, the target,
// bounds, step limits, cooldowns, tolerance band, evaluation interval, dry run) and the actuator that
// carries a decision out. Policies live in the configuration, not in the region state: an actuator
// holds secrets (webhook secret, service-account token path) and may run a command, which must not be
// changeable through the admin API; the config file is deployed and reviewed like code. What changes
// at run time (last decision, cooldown clock) is kept in the shared store (storage/autoscale-store.ts).
//
// The actuator's own options are checked by the actuator named in `type` when the node starts
// (src/ops/autoscale/actuators/), as the proxy tier checks balancer names: adding an actuator touches
// its own file and one registry line, not this schema.
import { z } from 'zod';
import { id, positiveInt } from './primitives.js';

/** The load figures the proxies report (core/types.ts HealthReport), per backend where it matters. */
export const AUTOSCALE_METRICS = ['inFlightPerBackend', 'requestRatePerBackend', 'p95LatencyMs'] as const;
export type AutoscaleMetric = (typeof AUTOSCALE_METRICS)[number];

const actuatorSchema = z.looseObject({
  /** `webhook`, `kubernetes` or `command`; its other keys are that actuator's options. */
  type: z.string().min(1),
});

const policySchema = z
  .strictObject({
    region: id,
    metric: z.enum(AUTOSCALE_METRICS),
    /** The value of `metric` the region should run at (e.g. 20 requests in flight per backend). */
    target: z.number().positive({ message: 'expected a number > 0' }),
    /** Fewest backends (at least 1: a region with no backend has no load to measure). */
    min: positiveInt,
    max: positiveInt,
    /** At most this many backends added, or removed, by one decision. */
    maxStepUp: positiveInt.default(4),
    maxStepDown: positiveInt.default(1),
    /** After any scaling action, no scale-up for this long. */
    cooldownUpSeconds: z.number().int().nonnegative().default(60),
    /** After any scaling action, no scale-down for this long (longer than up: shedding is the risky way). */
    cooldownDownSeconds: z.number().int().nonnegative().default(300),
    /** Hysteresis: no change while the metric is within ±tolerance (a fraction) of the target. */
    tolerance: z.number().min(0).max(0.9).default(0.1),
    /** Samples of the last this many seconds are considered (mean for scale-up, max for scale-down). */
    windowSeconds: z.number().positive().max(86_400).default(60),
    /** How often the region is sampled and evaluated. */
    intervalSeconds: z.number().positive().max(3600).default(15),
    /** Decide, log, audit and show, but never call the actuator. */
    dryRun: z.boolean().default(false),
    actuator: actuatorSchema,
  })
  .refine((p) => p.max >= p.min, { message: 'max must be >= min', path: ['max'] });

export const autoscaleSchema = z.strictObject({
  /** The decider's lease: another node takes over this long after the decider stops renewing it. */
  leaseSeconds: z.number().positive().max(600).default(15),
  regions: z
    .array(policySchema)
    .max(200)
    .default([])
    .superRefine((policies, ctx) => {
      const seen = new Set<string>();
      policies.forEach((p, i) => {
        if (seen.has(p.region)) {
          ctx.addIssue({
            code: 'custom',
            path: [i, 'region'],
            message: `duplicate autoscale policy for region ${JSON.stringify(p.region)}`,
          });
        }
        seen.add(p.region);
      });
    }),
});

export type AutoscaleConfig = z.infer<typeof autoscaleSchema>;
export type ScalingPolicyConfig = z.infer<typeof policySchema>;
