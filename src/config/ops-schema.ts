// The `ops` section: retention of audit and alert records, alert webhooks, flap detection.
// The main schema includes it as `ops: opsSchema.prefault({})`.
import { z } from 'zod';
import { Cron } from 'croner';
import { historySchema, reportSchema } from './history-schema.js';
import { nonNegativeInt, positiveInt } from './primitives.js';

const cron = z.string().refine(
  (s) => {
    try {
      return new Cron(s, { paused: true, mode: '5-or-6-parts', timezone: 'Etc/UTC' }).nextRun() !== null;
    } catch {
      return false;
    }
  },
  { message: 'expected a cron expression of 5 fields (or 6, seconds first)' },
);

const level = z.enum(['info', 'warning', 'critical']);

const webhookSchema = z.strictObject({
  /**
   * How metrics and logs name this webhook (default `webhook-<n>`, 1-based). Never the URL: chat
   * services put their secret in the path, and /metrics is open to read.
   */
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, {
      message: 'expected 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit',
    })
    .optional(),
  url: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }),
  /** Alerts below this level are not sent to this webhook. */
  minLevel: level.default('warning'),
  /** Per attempt. */
  timeoutMs: positiveInt.max(60_000).default(5000),
  /** Attempts after the first, with exponential back-off. */
  retries: nonNegativeInt.max(10).default(3),
  /** Extra request headers, e.g. an Authorization for the receiver. */
  headers: z.record(z.string(), z.string()).optional(),
  /**
   * Signs every request with HMAC-SHA256 in a `Meridian-Signature: t=<unix s>,v1=<hex>` header
   * (over `<t>.<body>`); the receiver verifies it with the same secret (at least 16 characters).
   */
  secret: z.string().min(16, { message: 'expected at least 16 characters' }).optional(),
});

const retentionSchema = z.strictObject({
  /** Audit and alert records older than this are removed by the cleanup. */
  maxAgeDays: positiveInt.default(30),
  /** Per kind (audit, alerts), only the newest this many are kept. */
  maxCount: positiveInt.default(100_000),
  /** When the built-in cleanup runs (UTC); once per run across every node. */
  cleanupCron: cron.default('17 * * * *'),
});

const flapSchema = z.strictObject({
  /** Health changes of one region or backend within the window that make it "flapping". */
  transitions: z.number().int().min(2, { message: 'expected an integer >= 2' }).default(4),
  windowSeconds: positiveInt.default(300),
});

export const opsSchema = z.strictObject({
  retention: retentionSchema.prefault({}),
  webhooks: z
    .array(webhookSchema)
    .max(20)
    .default([])
    .transform((hooks) => hooks.map((w, i) => ({ ...w, id: w.id ?? `webhook-${i + 1}` })))
    .superRefine((hooks, ctx) => {
      const seen = new Set<string>();
      hooks.forEach((w, i) => {
        if (seen.has(w.id)) {
          ctx.addIssue({
            code: 'custom',
            path: [i, 'id'],
            message: `duplicate webhook id ${JSON.stringify(w.id)}`,
          });
        }
        seen.add(w.id);
      });
    }),
  flap: flapSchema.prefault({}),
  history: historySchema.prefault({}),
  report: reportSchema.prefault({}),
});

export type OpsConfig = z.infer<typeof opsSchema>;
export type WebhookConfigInput = z.infer<typeof webhookSchema>;
export type RetentionConfig = z.infer<typeof retentionSchema>;
export type FlapConfigInput = z.infer<typeof flapSchema>;

/** Retention limits in the units the record stores use. */
export function retentionLimits(r: Pick<RetentionConfig, 'maxAgeDays' | 'maxCount'>): {
  maxAgeMs: number;
  maxCount: number;
} {
  return { maxAgeMs: r.maxAgeDays * 86_400_000, maxCount: r.maxCount };
}
