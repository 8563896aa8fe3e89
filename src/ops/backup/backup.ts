// Backups of every state section (sections.ts) and the one way state is written back, shared by
// `backup restore` and `rollback`:
//
// - exportBackup: every section's records, consistent at one revision: the newest audit record and
//   the state snapshot's version are read before and after the export, and the export is redone
//   when a change landed in between.
// - validateBackup: the document's format and version, then every record through its section's
//   validator, duplicate keys and references between sections (a backend's region, a token's user),
//   all before anything is written; errors name the section, the record and the field.
// - planChanges: the diff of desired against current records per section (added, changed, removed).
// - applyPlan: writes the plan through the stores' own validated (and audited) APIs: upserts in
//   section order, then removals in reverse order. When a write fails, the writes already made are
//   undone in reverse order, so the stores end as they were (or the error says what could not be
//   undone): all or nothing, without a transaction spanning stores.
import { MeridianError, describeError, invalid, isMeridianError } from '../../core/errors.js';
import type { OpsRecordStore } from '../../storage/ops-record-store.js';
import { STATE_SECTIONS } from './sections.js';
import { sameContent, type SectionStores, type SectionWriteContext, type StateSection } from './section.js';

export const BACKUP_FORMAT = 'meridian-backup';
export const BACKUP_VERSION = 1;

export interface BackupDocument {
  readonly format: typeof BACKUP_FORMAT;
  readonly version: typeof BACKUP_VERSION;
  readonly createdAt: string;
  /** The node it was taken from, its Meridian version and its store backend. */
  readonly node: string;
  readonly meridianVersion: string;
  readonly backend: string;
  /** The newest audit record (revision) when it was taken; '' when the audit trail was empty. */
  readonly revision: string;
  /** Section name → records. */
  readonly sections: Readonly<Record<string, readonly unknown[]>>;
}

export interface ExportDeps {
  readonly stores: SectionStores;
  readonly records: Pick<OpsRecordStore, 'query'>;
  readonly node: string;
  readonly meridianVersion: string;
}

const EXPORT_ATTEMPTS = 5;

/** The newest revision of the audit trail ('' when it is empty). */
export async function headRevision(records: Pick<OpsRecordStore, 'query'>): Promise<string> {
  const page = await records.query('audit', { limit: 1 });
  return page.items[0]?.id ?? '';
}

export async function exportBackup(
  deps: ExportDeps,
  sections: readonly StateSection[] = STATE_SECTIONS,
): Promise<BackupDocument> {
  for (let attempt = 1; attempt <= EXPORT_ATTEMPTS; attempt++) {
    const revision = await headRevision(deps.records);
    const stateVersion = deps.stores.state.current().version;
    const exported: Record<string, readonly unknown[]> = {};
    for (const section of sections) exported[section.name] = await section.export(deps.stores);
    if (
      revision !== (await headRevision(deps.records)) ||
      stateVersion !== deps.stores.state.current().version
    )
      continue;
    return {
      format: BACKUP_FORMAT,
      version: BACKUP_VERSION,
      createdAt: new Date().toISOString(),
      node: deps.node,
      meridianVersion: deps.meridianVersion,
      backend: deps.stores.state.status().kind,
      revision,
      sections: exported,
    };
  }
  throw new MeridianError(
    'E_CONFLICT',
    `the state kept changing during ${EXPORT_ATTEMPTS} export attempts; try the backup again when writes are quieter`,
  );
}

/** Desired records of one section: key → record, or `undefined` for "must not exist". */
export interface DesiredSection {
  readonly records: ReadonlyMap<string, unknown>;
  /** Restore: records the section holds but `records` does not name are removed. Rollback: left alone. */
  readonly complete: boolean;
}

export interface ValidatedBackup {
  readonly document: BackupDocument;
  readonly desired: ReadonlyMap<string, DesiredSection>;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Re-throws a record's validation error with where the record is (`sections.regions[2].lat: …`). */
function at(where: string, err: unknown): MeridianError {
  if (isMeridianError(err) && err.code === 'E_VALIDATION') return invalid(where, err.message);
  return invalid(where, describeError(err));
}

/** Checks a parsed backup document completely; nothing is written. */
export function validateBackup(
  value: unknown,
  sections: readonly StateSection[] = STATE_SECTIONS,
): ValidatedBackup {
  if (!isObject(value) || value.format !== BACKUP_FORMAT)
    throw invalid('backup', `not a Meridian backup (expected "format": "${BACKUP_FORMAT}")`);
  if (value.version !== BACKUP_VERSION)
    throw invalid(
      'backup.version',
      `unknown backup version ${JSON.stringify(value.version)}; this Meridian reads version ${BACKUP_VERSION}`,
    );
  const raw = value.sections;
  if (!isObject(raw)) throw invalid('backup.sections', 'expected an object of section name → records');
  const known = new Map(sections.map((s) => [s.name, s]));
  for (const name of Object.keys(raw))
    if (!known.has(name))
      throw invalid(
        `backup.sections.${name}`,
        `unknown section (this Meridian has ${[...known.keys()].join(', ')}); was the backup made by a newer version?`,
      );
  const desired = new Map<string, DesiredSection>();
  for (const section of sections) {
    const list = raw[section.name];
    // A section the backup does not have (made before the store existed) is left as it is.
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw invalid(`backup.sections.${section.name}`, 'expected a list of records');
    const records = new Map<string, unknown>();
    list.forEach((item, i) => {
      const where = `sections.${section.name}[${i}]`;
      let record: unknown;
      try {
        record = section.validate(item);
      } catch (err) {
        throw at(where, err);
      }
      const key = section.key(record);
      if (records.has(key)) throw invalid(where, `duplicate ${section.target(record)}`);
      records.set(key, record);
    });
    desired.set(section.name, { records, complete: true });
  }
  for (const section of sections) {
    for (const record of desired.get(section.name)?.records.values() ?? []) {
      for (const ref of section.references?.(record) ?? []) {
        const other = desired.get(ref.section);
        if (other !== undefined && !other.records.has(ref.key))
          throw invalid(
            `sections.${section.name}`,
            `${section.target(record)} needs ${ref.section} ${JSON.stringify(ref.key)}, which the backup does not have`,
          );
      }
    }
  }
  return { document: value as unknown as BackupDocument, desired };
}

export interface SectionPlan {
  readonly section: StateSection;
  readonly upserts: readonly { readonly record: unknown; readonly existing: unknown }[];
  readonly removes: readonly unknown[];
}

export interface SectionDiff {
  readonly added: readonly string[];
  readonly changed: readonly string[];
  readonly removed: readonly string[];
}

export type Diff = Readonly<Record<string, SectionDiff>>;

/** What would change, section by section, to reach `desired` from what the stores hold now. */
export async function planChanges(
  stores: SectionStores,
  desired: ReadonlyMap<string, DesiredSection>,
  sections: readonly StateSection[] = STATE_SECTIONS,
): Promise<SectionPlan[]> {
  const plans: SectionPlan[] = [];
  for (const section of sections) {
    const want = desired.get(section.name);
    if (want === undefined) continue;
    const current = new Map((await section.export(stores)).map((r) => [section.key(r), r]));
    const upserts: { record: unknown; existing: unknown }[] = [];
    const removes: unknown[] = [];
    for (const [key, record] of want.records) {
      const existing = current.get(key);
      if (record === undefined) {
        if (existing !== undefined) removes.push(existing);
      } else if (existing === undefined || !sameContent(section, record, existing))
        upserts.push({ record, existing });
    }
    if (want.complete)
      for (const [key, existing] of current) if (!want.records.has(key)) removes.push(existing);
    plans.push({ section, upserts, removes });
  }
  return plans;
}

export function diffOf(plans: readonly SectionPlan[]): Diff {
  const diff: Record<string, SectionDiff> = {};
  for (const { section, upserts, removes } of plans) {
    diff[section.name] = {
      added: upserts.filter((u) => u.existing === undefined).map((u) => section.target(u.record)),
      changed: upserts.filter((u) => u.existing !== undefined).map((u) => section.target(u.record)),
      removed: removes.map((r) => section.target(r)),
    };
  }
  return diff;
}

export function changeCount(diff: Diff): number {
  return Object.values(diff).reduce((n, d) => n + d.added.length + d.changed.length + d.removed.length, 0);
}

interface Step {
  readonly what: string;
  readonly run: () => Promise<void>;
  readonly undo: () => Promise<void>;
}

/** Applies a plan all or nothing (see the top of this file). */
export async function applyPlan(
  stores: SectionStores,
  plans: readonly SectionPlan[],
  context: SectionWriteContext,
): Promise<void> {
  const steps: Step[] = [];
  for (const { section, upserts } of plans) {
    for (const { record, existing } of upserts) {
      steps.push({
        what: `${existing === undefined ? 'create' : 'update'} ${section.target(record)}`,
        run: () => section.upsert(stores, record, existing, context),
        undo: () =>
          existing === undefined
            ? section.remove(stores, record, context)
            : section.upsert(stores, existing, record, context),
      });
    }
  }
  for (const { section, removes } of [...plans].reverse()) {
    for (const record of removes) {
      steps.push({
        what: `remove ${section.target(record)}`,
        run: () => section.remove(stores, record, context),
        undo: () => section.upsert(stores, record, undefined, context),
      });
    }
  }
  const done: Step[] = [];
  for (const step of steps) {
    try {
      await step.run();
      done.push(step);
    } catch (err) {
      const failures: string[] = [];
      for (const applied of done.reverse()) {
        try {
          await applied.undo();
        } catch (undoErr) {
          failures.push(`${applied.what}: ${describeError(undoErr)}`);
        }
      }
      const undone =
        failures.length === 0
          ? `the ${done.length} change(s) already made were undone`
          : `undoing the ${done.length} change(s) already made failed for: ${failures.join('; ')}`;
      throw new MeridianError(
        isMeridianError(err) ? err.code : 'E_INTERNAL',
        `could not ${step.what}: ${describeError(err)}; ${undone}`,
        { cause: err },
      );
    }
  }
}
