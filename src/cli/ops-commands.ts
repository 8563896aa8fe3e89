// `meridian audit`, `meridian alerts` and `meridian task …`: read the operations records and
// manage scheduled tasks through the admin API (src/api/ops-routes.ts). Flags are validated
// before anything is sent (UsageError → exit 2, message naming the flag); times accept RFC 3339
// or relative forms (`-1h`, `-30m`, `-2d`) and are sent as absolute RFC 3339 times.
import { Option, type Command } from 'commander';
import { isMeridianError } from '../core/errors.js';
import type { AlertRecord, AuditRecord, RecordPage } from '../storage/ops-record-store.js';
import { ALERT_LEVELS, ALERT_TYPES } from '../storage/ops-record-store.js';
import type { Task } from '../storage/task-store.js';
import { buildTask, type TaskView } from '../ops/task-input.js';
import { TASK_ACTIONS } from '../storage/task-store.js';
import { parseTime } from '../ops/time.js';
import { type ApiClient, apiClientFor } from './client.js';
import { UsageError, checkIdArgument, parseIntFlag } from './flags.js';
import { formatTable, terminalJson, terminalSafe } from './format.js';

export interface OpsCommandDeps {
  /** The API client for a command (default: from the global --api/--token options). */
  readonly client?: (cmd: Command) => ApiClient;
  readonly write?: (text: string) => void;
  readonly now?: () => number;
}

const enc = encodeURIComponent;

/** `--since -1h` → RFC 3339; a bad value is a UsageError naming the flag. */
export function timeFlag(text: string | undefined, flag: string, now: number): string | undefined {
  if (text === undefined) return undefined;
  try {
    return new Date(parseTime(text, flag, now)).toISOString();
  } catch (err) {
    if (isMeridianError(err)) throw new UsageError(err.message);
    throw err;
  }
}

const dash = (v: string | undefined): string => (v === undefined || v === '' ? '-' : v);

export function formatAudit(page: RecordPage<AuditRecord>): string {
  if (page.items.length === 0) return 'no audit records\n';
  return formatTable(
    ['TIME', 'ACTOR', 'ACTION', 'TARGET', 'REQUEST'],
    page.items.map((r) => [r.time, r.actor, r.action, r.target, dash(r.requestId)]),
  );
}

export function formatAlerts(page: RecordPage<AlertRecord>): string {
  if (page.items.length === 0) return 'no alerts\n';
  return formatTable(
    ['TIME', 'LEVEL', 'TYPE', 'SUBJECT', 'MESSAGE'],
    page.items.map((r) => [r.time, r.level, r.type, r.subject, r.message]),
  );
}

function taskDetail(t: Task): string {
  if (t.action === 'drain-region') return `region ${t.region} for ${t.durationMinutes} min`;
  return '-';
}

export function formatTasks(tasks: readonly TaskView[]): string {
  if (tasks.length === 0) return 'no tasks\n';
  return formatTable(
    ['ID', 'ACTION', 'CRON', 'TZ', 'ENABLED', 'DETAIL', 'NEXT RUN', 'LAST RUN', 'RESULT'],
    tasks.map((v) => [
      v.task.id,
      v.task.action,
      v.task.cron,
      dash(v.task.timezone),
      v.task.enabled ? (v.builtin ? 'yes (built in)' : 'yes') : 'no',
      taskDetail(v.task),
      dash(v.nextRunAt),
      v.lastRun === undefined ? '-' : new Date(v.lastRun.scheduledAt).toISOString(),
      v.lastRun === undefined ? '-' : v.lastRun.result,
    ]),
  );
}

const TASK_FLAG_NAMES: Record<string, string> = {
  id: 'ID',
  cron: '--cron',
  action: '--action',
  region: '--region',
  durationMinutes: '--duration',
  timezone: '--timezone',
};

interface TaskAddFlags {
  cron?: string;
  action?: string;
  region?: string;
  duration?: string;
  timezone?: string;
  disabled?: boolean;
}

/** Validates `task add` flags into a POST /v1/tasks body. */
export function taskBodyFromFlags(id: string, flags: TaskAddFlags, now: number): Record<string, unknown> {
  if (flags.cron === undefined)
    throw new UsageError('--cron: required, e.g. "0 2 * * *" (5 fields, or 6 with seconds)');
  if (flags.action === undefined)
    throw new UsageError(`--action: required, one of ${TASK_ACTIONS.join(', ')}`);
  const body: Record<string, unknown> = { id, cron: flags.cron, action: flags.action };
  if (flags.region !== undefined) body.region = flags.region;
  if (flags.duration !== undefined) body.durationMinutes = parseIntFlag(flags.duration, '--duration');
  if (flags.timezone !== undefined) body.timezone = flags.timezone;
  if (flags.disabled === true) body.enabled = false;
  try {
    buildTask(body, new Date(now));
  } catch (err) {
    if (!isMeridianError(err) || err.code !== 'E_VALIDATION') throw err;
    const field = err.field ?? '';
    const message = err.message.startsWith(`${field}: `) ? err.message.slice(field.length + 2) : err.message;
    throw new UsageError(`${TASK_FLAG_NAMES[field] ?? field}: ${message}`);
  }
  return body;
}

/** Adds `audit`, `alerts` and `task` to the program. */
export function registerOpsCommands(program: Command, deps: OpsCommandDeps = {}): void {
  const client = deps.client ?? apiClientFor;
  const sink = deps.write ?? ((text: string) => void process.stdout.write(text));
  // Records may hold control characters from before validation refused them: escaped on the way out.
  const write = (text: string): void => sink(terminalSafe(text));
  const now = deps.now ?? Date.now;
  const json = (value: unknown): void => write(`${terminalJson(value)}\n`);
  const more = (cursor: string | undefined): void => {
    if (cursor !== undefined) write(`(more: repeat with --cursor ${cursor})\n`);
  };

  const pageParams = (
    flags: { limit?: string; cursor?: string; order?: string },
    params: URLSearchParams,
  ): void => {
    if (flags.limit !== undefined) {
      const limit = parseIntFlag(flags.limit, '--limit');
      if (limit < 1 || limit > 1000)
        throw new UsageError(`--limit: expected an integer from 1 to 1000, got ${flags.limit}`);
      params.set('limit', String(limit));
    }
    if (flags.cursor !== undefined) params.set('cursor', flags.cursor);
    if (flags.order !== undefined) params.set('order', flags.order);
  };

  const timeParams = (flags: { since?: string; until?: string }, params: URLSearchParams): void => {
    const t = now();
    const since = timeFlag(flags.since, '--since', t);
    const until = timeFlag(flags.until, '--until', t);
    if (since !== undefined) params.set('since', since);
    if (until !== undefined) params.set('until', until);
  };

  const addPaging = (cmd: Command): Command =>
    cmd
      .option(
        '--since <time>',
        'from this time: RFC 3339 (2025-06-01T12:00:00Z) or relative (-1h, -30m, -7d)',
      )
      .option('--until <time>', 'up to this time, same forms as --since')
      .option('--limit <n>', 'at most this many records (1-1000, default 100)')
      .option('--cursor <id>', 'continue after this record (printed when there are more)')
      .addOption(
        new Option('--order <order>', 'newest first (desc) or oldest first (asc)').choices(['desc', 'asc']),
      )
      .option('--json', 'print JSON ({ items, nextCursor })');

  interface PageFlags {
    since?: string;
    until?: string;
    limit?: string;
    cursor?: string;
    order?: string;
    json?: boolean;
  }

  addPaging(program.command('audit').description('show the audit log: who changed what, newest first'))
    .option('--actor <actor>', 'only this actor, e.g. token:config or task:nightly')
    .option('--target <target>', 'only this target, e.g. region/eu-west; a trailing * matches a prefix')
    .action(async (flags: PageFlags & { actor?: string; target?: string }, cmd: Command) => {
      const params = new URLSearchParams();
      timeParams(flags, params);
      pageParams(flags, params);
      if (flags.actor !== undefined) params.set('actor', flags.actor);
      if (flags.target !== undefined) params.set('target', flags.target);
      const page = await client(cmd).get<RecordPage<AuditRecord>>(`/v1/audit?${params.toString()}`);
      if (flags.json === true) json(page);
      else {
        write(formatAudit(page));
        more(page.nextCursor);
      }
    });

  addPaging(
    program
      .command('alerts')
      .description('show alerts (health changes, flapping, Redis, geo DB, tasks), newest first'),
  )
    .addOption(new Option('--level <level>', 'this level and above').choices([...ALERT_LEVELS]))
    .option('--type <types>', `comma-separated alert types: ${ALERT_TYPES.join(', ')}`)
    .action(async (flags: PageFlags & { level?: string; type?: string }, cmd: Command) => {
      const params = new URLSearchParams();
      timeParams(flags, params);
      pageParams(flags, params);
      if (flags.level !== undefined) params.set('level', flags.level);
      if (flags.type !== undefined) {
        for (const t of flags.type.split(',').map((s) => s.trim())) {
          if (!(ALERT_TYPES as readonly string[]).includes(t)) {
            throw new UsageError(
              `--type: expected one or more of ${ALERT_TYPES.join(', ')}, got ${JSON.stringify(t)}`,
            );
          }
        }
        params.set('type', flags.type);
      }
      const page = await client(cmd).get<RecordPage<AlertRecord>>(`/v1/alerts?${params.toString()}`);
      if (flags.json === true) json(page);
      else {
        write(formatAlerts(page));
        more(page.nextCursor);
      }
    });

  const task = program
    .command('task')
    .description('manage scheduled tasks (cron): drain a region, clean up records, re-check the geo DB');

  task
    .command('add')
    .argument('<id>', 'task id: 1-63 of [a-z0-9-]')
    .description('schedule a task')
    .option('--cron <expr>', 'when it runs: 5 fields ("0 2 * * *") or 6 with seconds first (required)')
    .addOption(new Option('--action <action>', 'what it does (required)').choices([...TASK_ACTIONS]))
    .option('--region <id>', 'drain-region: the region to drain')
    .option('--duration <minutes>', 'drain-region: minutes until the region is put back')
    .option('--timezone <zone>', 'IANA time zone the cron expression is read in (default UTC)')
    .option('--disabled', 'add it disabled')
    .action(async (id: string, flags: TaskAddFlags, cmd: Command) => {
      const body = taskBodyFromFlags(id, flags, now());
      const created = await client(cmd).post<Task>('/v1/tasks', body);
      write(`task ${created.id} added${created.enabled ? '' : ' (disabled)'}\n`);
    });

  task
    .command('list')
    .description('list tasks with their next and last runs')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const { tasks } = await client(cmd).get<{ tasks: TaskView[] }>('/v1/tasks');
      if (flags.json === true) json(tasks);
      else write(formatTasks(tasks));
    });

  task
    .command('remove')
    .argument('<id>', 'task id')
    .description('delete a task')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      await client(cmd).delete(`/v1/tasks/${enc(checkIdArgument(id, 'ID'))}`);
      write(`task ${id} removed\n`);
    });

  for (const verb of ['enable', 'disable'] as const) {
    task
      .command(verb)
      .argument('<id>', 'task id')
      .description(verb === 'enable' ? 'resume a task' : 'pause a task (it stays listed)')
      .action(async (id: string, _flags: unknown, cmd: Command) => {
        const t = await client(cmd).post<Task>(`/v1/tasks/${enc(checkIdArgument(id, 'ID'))}/${verb}`);
        write(`task ${t.id} ${t.enabled ? 'enabled' : 'disabled'}\n`);
      });
  }
}
