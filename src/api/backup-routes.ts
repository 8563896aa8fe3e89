// Admin API routes for backups, revision history and rollback (src/ops/backup/):
//   GET  /v1/backup            every state section, consistent at one revision (manage-access: it
//                              holds password and token hashes)
//   POST /v1/backup/restore    {backup, dryRun?}: validates everything, then applies all or nothing;
//                              returns the diff (manage-access: it replaces users and tokens)
//   GET  /v1/history           ?since=REV|RFC3339&object=KIND/ID&limit&cursor: revisions, newest first
//   POST /v1/rollback          {revision, object?, dryRun?}: restores one object or everything as of
//                              a revision; returns the diff (write)
// Restores and rollbacks are serialised on this node and audited (`backup.restore`,
// `state.rollback`) besides the per-object writes they make.
import { invalid } from '../core/errors.js';
import type { AuditLog } from '../ops/audit.js';
import {
  applyPlan,
  changeCount,
  diffOf,
  exportBackup,
  planChanges,
  validateBackup,
  type DesiredSection,
  type Diff,
} from '../ops/backup/backup.js';
import { checkObject, compareRevisions, isRevision, objectOf, stateAsOf } from '../ops/backup/history.js';
import type { SectionStores, SectionWriteContext } from '../ops/backup/section.js';
import { parseTime } from '../ops/time.js';
import type { AuditRecord, OpsRecordStore } from '../storage/ops-record-store.js';
import type { ApiRequest, ApiRoute } from './route.js';

/** A restore body carries the whole backup: far above the default `api.bodyLimitBytes`. */
const RESTORE_BODY_LIMIT_BYTES = 256 * 1024 * 1024;

export interface BackupRouteDeps {
  readonly stores: SectionStores;
  readonly records: Pick<OpsRecordStore, 'query'>;
  readonly audit: Pick<AuditLog, 'record'>;
  readonly node: string;
  readonly meridianVersion: string;
}

export interface RevisionView {
  readonly revision: string;
  readonly time: string;
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  readonly requestId?: string;
  /** Whether `meridian rollback --object <target>` can restore this object. */
  readonly rollback: boolean;
}

export interface ChangeResult {
  readonly dryRun: boolean;
  readonly changes: number;
  readonly diff: Diff;
  /** Rollback: objects whose audit images could not be read, left as they are. */
  readonly skipped?: readonly { readonly target: string; readonly reason: string }[];
}

function revisionView(r: AuditRecord): RevisionView {
  return {
    revision: r.id,
    time: r.time,
    actor: r.actor,
    action: r.action,
    target: r.target,
    ...(r.requestId === undefined ? {} : { requestId: r.requestId }),
    rollback: objectOf(r.target) !== undefined,
  };
}

function objectBody(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('body', 'expected a JSON object');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b))
    if (!allowed.includes(key)) throw invalid(key, `unknown field; expected ${allowed.join(', ')}`);
  if (b.dryRun !== undefined && typeof b.dryRun !== 'boolean')
    throw invalid('dryRun', 'expected true or false');
  return b;
}

export function backupRoutes(deps: BackupRouteDeps): ApiRoute[] {
  const { stores } = deps;
  // One restore or rollback at a time on this node: each plans against what the last one left.
  let queue: Promise<unknown> = Promise.resolve();
  const serialised = <T>(run: () => Promise<T>): Promise<T> => {
    const next = queue.then(run, run);
    queue = next.catch(() => undefined);
    return next;
  };
  const context = (req: ApiRequest): SectionWriteContext => {
    const who = {
      actor: req.actor ?? 'api',
      ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
    };
    return {
      ...who,
      audit: async (entry) => {
        await deps.audit.record({ ...entry, ...who });
      },
    };
  };
  const change = (
    req: ApiRequest,
    desired: ReadonlyMap<string, DesiredSection>,
    dryRun: boolean,
  ): Promise<{ plans: Awaited<ReturnType<typeof planChanges>>; diff: Diff }> =>
    serialised(async () => {
      const plans = await planChanges(stores, desired);
      if (!dryRun) await applyPlan(stores, plans, context(req));
      return { plans, diff: diffOf(plans) };
    });

  return [
    {
      method: 'GET',
      path: '/v1/backup',
      access: 'manage-access',
      handler: async () => ({
        body: await exportBackup({
          stores,
          records: deps.records,
          node: deps.node,
          meridianVersion: deps.meridianVersion,
        }),
      }),
    },
    {
      method: 'POST',
      path: '/v1/backup/restore',
      access: 'manage-access',
      bodyLimitBytes: RESTORE_BODY_LIMIT_BYTES,
      handler: async (req) => {
        const body = objectBody(req.body, ['backup', 'dryRun']);
        if (body.backup === undefined) throw invalid('backup', 'is required (the backup document)');
        const { document, desired } = validateBackup(body.backup);
        const dryRun = body.dryRun === true;
        const { diff } = await change(req, desired, dryRun);
        const changes = changeCount(diff);
        if (!dryRun)
          await deps.audit.record({
            actor: req.actor ?? 'api',
            action: 'backup.restore',
            target: 'state',
            after: {
              createdAt: document.createdAt,
              node: document.node,
              revision: document.revision,
              changes,
            },
            ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
          });
        const result: ChangeResult = { dryRun, changes, diff };
        return { body: result };
      },
    },
    {
      method: 'GET',
      path: '/v1/history',
      access: 'read',
      handler: async (req) => {
        const q = req.query;
        for (const key of Object.keys(q))
          if (!['since', 'object', 'limit', 'cursor'].includes(key))
            throw invalid(key, 'unknown parameter; expected since, object, limit, cursor');
        const since = q.since;
        const afterRevision = since !== undefined && isRevision(since) ? since : undefined;
        const sinceMs =
          since === undefined
            ? undefined
            : afterRevision !== undefined
              ? Number(afterRevision.split('-')[0])
              : parseTime(since, 'since');
        if (q.object !== undefined) checkObject(q.object);
        const limit = q.limit === undefined ? 100 : Number(q.limit);
        if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000)
          throw invalid('limit', 'expected an integer from 1 to 1000');
        const page = await deps.records.query('audit', {
          limit,
          ...(sinceMs === undefined ? {} : { since: sinceMs }),
          ...(q.object === undefined ? {} : { target: q.object }),
          ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        });
        // `--since REV` lists the revisions after REV.
        const items = page.items
          .filter((r) => afterRevision === undefined || compareRevisions(r.id, afterRevision) > 0)
          .map(revisionView);
        return { body: page.nextCursor === undefined ? { items } : { items, nextCursor: page.nextCursor } };
      },
    },
    {
      method: 'POST',
      path: '/v1/rollback',
      access: 'write',
      handler: async (req) => {
        const body = objectBody(req.body, ['revision', 'object', 'dryRun']);
        if (typeof body.revision !== 'string')
          throw invalid('revision', 'is required, e.g. "1733270000000-0"');
        if (body.object !== undefined && typeof body.object !== 'string')
          throw invalid('object', 'expected KIND/ID, e.g. region/eu-west');
        const object = body.object;
        const dryRun = body.dryRun === true;
        const target = await stateAsOf(deps.records, body.revision, object);
        const { diff } = await change(req, target.desired, dryRun);
        const changes = changeCount(diff);
        if (!dryRun)
          await deps.audit.record({
            actor: req.actor ?? 'api',
            action: 'state.rollback',
            target: object ?? 'state',
            after: { revision: body.revision, changes, diff },
            ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
          });
        const result: ChangeResult = {
          dryRun,
          changes,
          diff,
          ...(target.skipped.length === 0 ? {} : { skipped: target.skipped }),
        };
        return { body: result };
      },
    },
  ];
}
