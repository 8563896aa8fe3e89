// Scheduled tasks as the API and the CLI see them: what `POST /v1/tasks` and `meridian task add`
// accept (validated here, so both refuse the same input with the same message), the view a listing
// returns, and cron expressions (croner) used only to compute run times. The scheduler that runs
// tasks is tasks.ts.
import { Cron } from 'croner';
import { describeError, invalid } from '../core/errors.js';
import { ID_PATTERN } from '../core/types.js';
import { TASK_ACTIONS, type Task, type TaskAction, type TaskRunInfo } from '../storage/task-store.js';

/** What `POST /v1/tasks` and `meridian task add` accept. */
export interface TaskInput {
  id: string;
  cron: string;
  action: TaskAction;
  region?: string;
  durationMinutes?: number;
  enabled?: boolean;
  timezone?: string;
}

export interface TaskView {
  readonly task: Task;
  /** Built in from the configuration (retention cleanup): cannot be changed through the API. */
  readonly builtin: boolean;
  readonly lastRun?: TaskRunInfo;
  /** RFC 3339; absent when disabled. */
  readonly nextRunAt?: string;
}

const MAX_DURATION_MINUTES = 7 * 24 * 60;
const INPUT_KEYS = new Set(['id', 'cron', 'action', 'region', 'durationMinutes', 'enabled', 'timezone']);
export const BUILTIN_RETENTION_ID = 'builtin-retention';

/** A croner job used only to compute run times (it never runs anything). */
export function cronFor(expression: string, timezone?: string): Cron {
  return new Cron(expression, {
    paused: true,
    mode: '5-or-6-parts',
    ...(timezone === undefined ? { timezone: 'Etc/UTC' } : { timezone }),
  });
}

/** Throws E_VALIDATION (field `cron` or `timezone`) when the expression cannot be scheduled. */
export function validateCron(expression: unknown, timezone?: unknown, field = 'cron'): void {
  if (typeof expression !== 'string' || expression.trim() === '')
    throw invalid(field, 'expected a cron expression');
  if (timezone !== undefined) {
    if (typeof timezone !== 'string') throw invalid('timezone', 'expected an IANA time zone name');
    try {
      new Intl.DateTimeFormat('en', { timeZone: timezone });
    } catch {
      throw invalid('timezone', `unknown time zone ${JSON.stringify(timezone)}`);
    }
  }
  let next: Date | null;
  try {
    next = cronFor(expression, timezone).nextRun();
  } catch (err) {
    throw invalid(field, `${describeError(err).replace(/^Cron\w*: /, '')}`);
  }
  if (next === null) throw invalid(field, 'never runs');
}

/** Validates a create body; returns the task stamped with `now`. */
export function buildTask(body: unknown, now: Date): Task {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('body', 'expected a JSON object');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) if (!INPUT_KEYS.has(key)) throw invalid(key, 'unknown field');
  if (typeof b.id !== 'string' || !ID_PATTERN.test(b.id) || b.id.startsWith('builtin-')) {
    throw invalid('id', 'expected 1-63 characters of [a-z0-9-], not starting with builtin-');
  }
  validateCron(b.cron, b.timezone);
  if (typeof b.action !== 'string' || !(TASK_ACTIONS as readonly string[]).includes(b.action)) {
    throw invalid('action', `expected one of ${TASK_ACTIONS.join(', ')}, got ${JSON.stringify(b.action)}`);
  }
  if (b.enabled !== undefined && typeof b.enabled !== 'boolean')
    throw invalid('enabled', 'expected true or false');
  const at = now.toISOString();
  const base = {
    id: b.id,
    cron: (b.cron as string).trim(),
    enabled: b.enabled ?? true,
    ...(b.timezone === undefined ? {} : { timezone: b.timezone as string }),
    createdAt: at,
    updatedAt: at,
  };
  if (b.action === 'drain-region') {
    if (typeof b.region !== 'string' || !ID_PATTERN.test(b.region))
      throw invalid('region', 'expected a region id');
    const d = b.durationMinutes;
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 1 || d > MAX_DURATION_MINUTES) {
      throw invalid('durationMinutes', `expected an integer from 1 to ${MAX_DURATION_MINUTES}`);
    }
    return { ...base, action: 'drain-region', region: b.region, durationMinutes: d };
  }
  if (b.region !== undefined) throw invalid('region', `only for drain-region`);
  if (b.durationMinutes !== undefined) throw invalid('durationMinutes', `only for drain-region`);
  return { ...base, action: b.action as 'cleanup-records' | 'geo-recheck' };
}
