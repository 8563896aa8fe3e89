// Schemas of the traffic and health history (`ops.history`) and the operations report
// (`ops.report`), embedded by the ops section; every field has a default so `{}` is valid.
import { z } from 'zod';
import { positiveInt } from './primitives.js';

export const historySchema = z.strictObject({
  /** Hourly rollups and health events older than this are pruned (hourly, by every node). */
  retentionDays: positiveInt.max(3650).default(30),
  /**
   * Per-minute rollups are kept this long; older ranges are answered from the hourly rollups
   * (a step of an hour). 30 days of minutes for 20 busy regions would take over 1 GB.
   */
  minuteRetentionHours: positiveInt.max(24 * 3650).default(48),
  /**
   * How often each node samples its DNS and proxy counters and writes what grew into the current
   * minute's rollup. 60 = once per minute; tests use 1.
   */
  flushSeconds: positiveInt.max(60).default(60),
});

export const reportSchema = z.strictObject({
  /** The Chromium that renders `format=pdf` reports headless (Debian's package by default). */
  chromiumPath: z.string().min(1).default('/usr/bin/chromium'),
  /** A PDF render that takes longer fails with this many seconds in its error. */
  pdfTimeoutSeconds: positiveInt.max(600).default(60),
});

export type HistoryConfig = z.infer<typeof historySchema>;
export type ReportConfig = z.infer<typeof reportSchema>;
