// The audit log: one record per successful admin write.
//
// Region and backend writes are audited by the StateStore itself, atomically with the change: the
// admin API passes a WriteContext (actor, requestId) and the store commits the entry with the write
// (Redis: in the write's Lua script; memory: through the state file's outbox, delivered to
// `auditSink(records)`, see src/storage/memory/state-store.ts). Other writes (policies, tasks) are recorded here
// after the write (`AuditLog.record`, `audited`): if that append fails (Redis unreachable right
// after the write succeeded), the failure is logged at error level with the whole entry and
// counted in `meridian_ops_audit_failures_total`, and the write still counts as done: the audit log
// must never undo or block a change that already happened.
import { Counter, type Registry } from 'prom-client';
import { describeError } from '../core/errors.js';
import { silentLogger, type Logger } from '../infra/logger.js';
import type { AuditSink } from '../storage/state-store.js';
import type { AuditEntry, AuditRecord, OpsRecordStore } from '../storage/ops-record-store.js';

/**
 * The id of the token set in the config (api.token / MERIDIAN_API_TOKEN). Named tokens get their own
 * ids later; until then every write made with it is recorded as `token:config`.
 */
export const CONFIG_TOKEN_ID = 'config';

/**
 * `token:<id>`: who used a bearer token, by the token's id. Never derived from the token itself: the
 * audit log is open to read, and even a short unsalted hash lets anyone confirm a guessed token offline.
 */
export function tokenActor(tokenId: string): string {
  return `token:${tokenId}`;
}

/**
 * The sink for a memory StateStore's audit outbox: appends each committed entry with its write's
 * time, keyed by the entry id so a redelivery (after a crash) is skipped. Rejects when the append
 * fails; the store keeps the entry and retries.
 */
export function auditSink(records: OpsRecordStore): AuditSink {
  return async (item) => {
    await records.append('audit', item.entry, { time: item.time, idempotencyKey: item.id });
  };
}

export interface AuditLogOptions {
  readonly records: OpsRecordStore;
  readonly log?: Logger;
  readonly registry?: Registry;
}

export class AuditLog {
  private readonly records: OpsRecordStore;
  private readonly log: Logger;
  private readonly failures: Counter | undefined;

  constructor(options: AuditLogOptions) {
    this.records = options.records;
    this.log = options.log ?? silentLogger;
    this.failures =
      options.registry === undefined
        ? undefined
        : new Counter({
            name: 'meridian_ops_audit_failures_total',
            help: 'Audit entries that could not be written after the change they describe succeeded.',
            registers: [options.registry],
          });
  }

  /**
   * Appends one entry. Never throws: returns the record, or undefined when it could not be written
   * (logged and counted).
   */
  async record(entry: AuditEntry): Promise<AuditRecord | undefined> {
    try {
      return await this.records.append('audit', entry);
    } catch (err) {
      this.failures?.inc();
      this.log.error({ err: describeError(err), audit: entry }, 'audit entry not written');
      return undefined;
    }
  }
}

/** Free-function form for callers without an AuditLog instance. Never throws. */
export async function recordAudit(
  records: OpsRecordStore,
  entry: AuditEntry,
  log: Logger = silentLogger,
): Promise<AuditRecord | undefined> {
  try {
    return await records.append('audit', entry);
  } catch (err) {
    log.error({ err: describeError(err), audit: entry }, 'audit entry not written');
    return undefined;
  }
}

/**
 * Runs a write and audits it when it succeeds: `before` is read first (e.g. the region from the
 * current snapshot), `after` is what the write returned. A failed write is not audited and its
 * error propagates unchanged.
 */
export async function audited<T>(
  audit: AuditLog,
  entry: Omit<AuditEntry, 'after'> & { readonly after?: (result: T) => unknown },
  write: () => Promise<T>,
): Promise<T> {
  const result = await write();
  const { after, ...rest } = entry;
  const afterValue = after === undefined ? result : after(result);
  await audit.record(afterValue === undefined ? rest : { ...rest, after: afterValue });
  return result;
}
