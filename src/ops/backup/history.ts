// Revision history and rollback, from the audit trail. Every audited change is one revision, named
// by its audit record id (`<ms>-<seq>`: ids only grow, so revisions sort by time on every backend).
// Audited writes of regions, backends, policies and tasks carry whole before/after images, so the
// state of such an object as of revision R is the `after` of its last record at or before R, or,
// when it has none, the `before` of its first record after R (`null` = it did not exist).
//
// A rollback computes that state for one object (`--object region/eu-west`) or for every object
// the retained trail names, diffs it against the stores and writes the difference through
// backup.ts's all-or-nothing applyPlan — so each write it makes is itself audited (and can be
// rolled back in turn). It reaches back as far as the audit retention (`ops.retention`); users and
// tokens are audited without their hashes, so they come back from backups, not rollbacks.
import { invalid } from '../../core/errors.js';
import { parseId, type AuditRecord, type OpsRecordStore } from '../../storage/ops-record-store.js';
import { STATE_SECTIONS } from './sections.js';
import type { DesiredSection } from './backup.js';
import type { StateSection } from './section.js';

const REVISION_RE = /^\d{1,15}-\d{1,15}$/;

export function isRevision(text: string): boolean {
  return REVISION_RE.test(text);
}

/** Compares two revisions (`<ms>-<seq>`). */
export function compareRevisions(a: string, b: string): number {
  const x = parseId(a, 'revision');
  const y = parseId(b, 'revision');
  return x.ms - y.ms || x.seq - y.seq;
}

/** `region/eu-west` → its section and key; undefined for targets no section can roll back. */
export function objectOf(
  target: string,
  sections: readonly StateSection[] = STATE_SECTIONS,
): { section: StateSection; key: string } | undefined {
  const slash = target.indexOf('/');
  if (slash <= 0) return undefined;
  const noun = target.slice(0, slash);
  const key = target.slice(slash + 1);
  const section = sections.find((s) => s.rollback && s.noun === noun);
  return section === undefined || key === '' || key.includes('*') ? undefined : { section, key };
}

/** Checks `--object KIND/ID`; E_VALIDATION naming the kinds that can be rolled back. */
export function checkObject(target: string, sections: readonly StateSection[] = STATE_SECTIONS): void {
  if (objectOf(target, sections) === undefined)
    throw invalid(
      'object',
      `expected KIND/ID with KIND one of ${sections
        .filter((s) => s.rollback)
        .map((s) => s.noun)
        .join(', ')} (e.g. region/eu-west, backend/eu-west/web-1), got ${JSON.stringify(target)}`,
    );
}

/** Every retained audit record (oldest first), optionally of one target: bounded by retention. */
async function* auditTrail(
  records: Pick<OpsRecordStore, 'query'>,
  target: string | undefined,
): AsyncGenerator<AuditRecord> {
  let cursor: string | undefined;
  for (;;) {
    const page = await records.query('audit', {
      order: 'asc',
      limit: 1000,
      ...(target === undefined ? {} : { target }),
      ...(cursor === undefined ? {} : { cursor }),
    });
    yield* page.items;
    if (page.nextCursor === undefined) return;
    cursor = page.nextCursor;
  }
}

export interface RollbackTarget {
  readonly desired: ReadonlyMap<string, DesiredSection>;
  /** Objects whose audit images a section could not read (an older or partial record). */
  readonly skipped: readonly { readonly target: string; readonly reason: string }[];
}

/** What every object (or `object`) looked like as of `revision`. */
export async function stateAsOf(
  records: Pick<OpsRecordStore, 'query'>,
  revision: string,
  object?: string,
  sections: readonly StateSection[] = STATE_SECTIONS,
): Promise<RollbackTarget> {
  if (!isRevision(revision))
    throw invalid('revision', `expected a revision like 1733270000000-0, got ${JSON.stringify(revision)}`);
  if (object !== undefined) checkObject(object, sections);
  // Older records may have been trimmed (ops.retention): what happened between such a revision and
  // the oldest record kept is unknown, so the state as of it cannot be computed.
  const oldest = (await records.query('audit', { order: 'asc', limit: 1 })).items[0]?.id;
  if (oldest === undefined)
    throw invalid('revision', 'the audit trail is empty: there is nothing to roll back');
  if (compareRevisions(revision, oldest) < 0)
    throw invalid(
      'revision',
      `${revision} is older than the oldest revision kept (${oldest}, see ops.retention); restore a backup instead`,
    );
  const lastUpTo = new Map<string, AuditRecord>();
  const firstAfter = new Map<string, AuditRecord>();
  for await (const record of auditTrail(records, object)) {
    if (objectOf(record.target, sections) === undefined) continue;
    if (compareRevisions(record.id, revision) <= 0) lastUpTo.set(record.target, record);
    else if (!firstAfter.has(record.target)) firstAfter.set(record.target, record);
  }
  const byTarget = new Map<string, unknown>();
  for (const [target, r] of lastUpTo) byTarget.set(target, r.after);
  for (const [target, r] of firstAfter) if (!lastUpTo.has(target)) byTarget.set(target, r.before);

  const desired = new Map<string, Map<string, unknown>>();
  const skipped: { target: string; reason: string }[] = [];
  for (const [target, image] of byTarget) {
    const found = objectOf(target, sections);
    if (found === undefined) continue;
    let record: unknown;
    try {
      record = image === null || image === undefined ? undefined : found.section.validate(image);
    } catch (err) {
      skipped.push({ target, reason: err instanceof Error ? err.message : String(err) });
      continue;
    }
    if (record !== undefined && found.section.key(record) !== found.key) {
      skipped.push({ target, reason: 'its audit image names another object' });
      continue;
    }
    let wanted = desired.get(found.section.name);
    if (wanted === undefined) desired.set(found.section.name, (wanted = new Map<string, unknown>()));
    wanted.set(found.key, record);
  }
  return {
    desired: new Map([...desired].map(([name, recs]) => [name, { records: recs, complete: false }])),
    skipped,
  };
}
