// Admin API routes for operations records and scheduled tasks, as `ApiRoute`s for
// `startAdminApi({ extraRoutes })` (src/api/server.ts): the server adds authentication and the
// permission check (reads need `read`, writes `write`: the defaults by method), the error JSON
// `{error:{code,message,field?}}` and the 405s.
//
//   GET    /v1/audit?since&until&actor&target&limit&cursor&order   → { items, nextCursor? }
//   GET    /v1/alerts?since&until&level&type&limit&cursor&order    → { items, nextCursor? }
//   GET    /v1/tasks                                               → { tasks: TaskView[] }
//   POST   /v1/tasks                     body TaskInput            → 201 Task
//   DELETE /v1/tasks/:id                                           → 204
//   POST   /v1/tasks/:id/enable | /disable                         → Task
//
// `since`/`until` take RFC 3339 or relative times (`-1h`); `type` a comma-separated list; `order`
// is `desc` (newest first, the default) or `asc`. Task changes are audited.
import { invalid } from '../core/errors.js';
import type { AuditLog } from '../ops/audit.js';
import {
  ALERT_LEVELS,
  ALERT_TYPES,
  type AlertLevel,
  type AlertType,
  type OpsRecordStore,
  type RecordKind,
  type RecordQuery,
} from '../storage/ops-record-store.js';
import type { TaskScheduler } from '../ops/tasks.js';
import { parseOptionalTime } from '../ops/time.js';
import type { ApiRequest, ApiResponse, ApiRoute } from './server.js';

/**
 * What the routes read from a request beyond `ApiRequest`. Until the server fills these in, task
 * changes are audited with the actor `api`.
 */
export interface OpsApiRequest extends ApiRequest {
  /** `token:config` (the bootstrap token) or `user:<name>/token:<token name>`. */
  readonly actor?: string;
  readonly requestId?: string;
}

export interface OpsRouteDeps {
  readonly records: OpsRecordStore;
  readonly scheduler: Pick<TaskScheduler, 'list' | 'add' | 'remove' | 'setEnabled'>;
  readonly audit: Pick<AuditLog, 'record'>;
  readonly now?: () => number;
}

const AUDIT_KEYS = new Set(['since', 'until', 'actor', 'target', 'limit', 'cursor', 'order']);
const ALERT_KEYS = new Set(['since', 'until', 'level', 'type', 'limit', 'cursor', 'order']);

function limitParam(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^\d{1,7}$/.test(text))
    throw invalid('limit', `expected an integer from 1 to 1000, got ${JSON.stringify(text)}`);
  return Number(text);
}

function orderParam(text: string | undefined): 'asc' | 'desc' | undefined {
  if (text === undefined || text === '') return undefined;
  if (text !== 'asc' && text !== 'desc')
    throw invalid('order', `expected asc or desc, got ${JSON.stringify(text)}`);
  return text;
}

/** Turns query-string values into a RecordQuery; errors name the parameter. */
export function recordQueryFromParams(
  kind: RecordKind,
  params: Readonly<Record<string, string | undefined>>,
  now: number,
): RecordQuery {
  const allowed = kind === 'audit' ? AUDIT_KEYS : ALERT_KEYS;
  for (const key of Object.keys(params)) {
    if (!allowed.has(key)) throw invalid(key, `unknown parameter; expected ${[...allowed].join(', ')}`);
  }
  const q: { -readonly [K in keyof RecordQuery]: RecordQuery[K] } = {};
  const since = parseOptionalTime(params.since, 'since', now);
  const until = parseOptionalTime(params.until, 'until', now);
  if (since !== undefined) q.since = since;
  if (until !== undefined) q.until = until;
  const limit = limitParam(params.limit);
  if (limit !== undefined) q.limit = limit;
  const order = orderParam(params.order);
  if (order !== undefined) q.order = order;
  if (params.cursor !== undefined && params.cursor !== '') q.cursor = params.cursor;
  if (kind === 'audit') {
    if (params.actor !== undefined && params.actor !== '') q.actor = params.actor;
    if (params.target !== undefined && params.target !== '') q.target = params.target;
  } else {
    if (params.level !== undefined && params.level !== '') {
      if (!(ALERT_LEVELS as readonly string[]).includes(params.level)) {
        throw invalid(
          'level',
          `expected one of ${ALERT_LEVELS.join(', ')}, got ${JSON.stringify(params.level)}`,
        );
      }
      q.level = params.level as AlertLevel;
    }
    if (params.type !== undefined && params.type !== '') {
      const types = params.type.split(',').map((t) => t.trim());
      for (const t of types) {
        if (!(ALERT_TYPES as readonly string[]).includes(t)) {
          throw invalid(
            'type',
            `expected one or more of ${ALERT_TYPES.join(', ')}, got ${JSON.stringify(t)}`,
          );
        }
      }
      q.type = types as AlertType[];
    }
  }
  return q;
}

export function opsRoutes(deps: OpsRouteDeps): ApiRoute[] {
  const now = deps.now ?? Date.now;
  const who = (req: OpsApiRequest): { actor: string; requestId?: string } => ({
    actor: req.actor ?? 'api',
    ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
  });
  const taskId = (req: ApiRequest): string => req.params.id ?? '';

  const setEnabled =
    (enabled: boolean) =>
    async (req: OpsApiRequest): Promise<ApiResponse> => {
      const { before, after } = await deps.scheduler.setEnabled(taskId(req), enabled);
      await deps.audit.record({
        ...who(req),
        action: enabled ? 'task.enable' : 'task.disable',
        target: `task/${after.id}`,
        before,
        after,
      });
      return { body: after };
    };

  return [
    {
      method: 'GET',
      path: '/v1/audit',
      handler: async (req) => ({
        body: await deps.records.query('audit', recordQueryFromParams('audit', req.query, now())),
      }),
    },
    {
      method: 'GET',
      path: '/v1/alerts',
      handler: async (req) => ({
        body: await deps.records.query('alert', recordQueryFromParams('alert', req.query, now())),
      }),
    },
    {
      method: 'GET',
      path: '/v1/tasks',
      handler: async () => ({ body: { tasks: await deps.scheduler.list() } }),
    },
    {
      method: 'POST',
      path: '/v1/tasks',
      handler: async (req: OpsApiRequest) => {
        const task = await deps.scheduler.add(req.body);
        await deps.audit.record({
          ...who(req),
          action: 'task.create',
          target: `task/${task.id}`,
          after: task,
        });
        return { status: 201, body: task };
      },
    },
    {
      method: 'DELETE',
      path: '/v1/tasks/:id',
      handler: async (req: OpsApiRequest) => {
        const before = await deps.scheduler.remove(taskId(req));
        await deps.audit.record({ ...who(req), action: 'task.remove', target: `task/${before.id}`, before });
        return {};
      },
    },
    { method: 'POST', path: '/v1/tasks/:id/enable', handler: setEnabled(true) },
    { method: 'POST', path: '/v1/tasks/:id/disable', handler: setEnabled(false) },
  ];
}
