// What a state section is: the part of a backup one store contributes. A backup (backup.ts) is a
// list of sections, each exporting its records, validating records read back from a file, and
// writing them (upsert, remove) through the store's own validated API. Restore and rollback both
// work by diffing a section's desired records against its current ones (by `key`, comparing
// `content`), so a store added later joins backups, restores and rollbacks with one section file and
// one line in sections.ts.
import type { WriteContext } from '../../core/types.js';
import type { AuditEntry } from '../../storage/ops-record-store.js';
import type { Stores } from '../../storage/stores.js';

/** The stores sections read and write. */
export type SectionStores = Pick<Stores, 'state' | 'policies' | 'tasks' | 'access' | 'zones'>;

/** Who restores or rolls back: writes are audited under this actor and request id. */
export interface SectionWriteContext extends WriteContext {
  /** Records one audit entry (stores that do not audit their own writes call it). */
  readonly audit: (entry: Omit<AuditEntry, 'actor' | 'requestId'>) => Promise<void>;
}

export interface StateSection<T = unknown> {
  /** The section's name in the file, e.g. `regions`. */
  readonly name: string;
  /**
   * Whether this section's audit records hold whole records (`before`/`after`) that `validate`
   * accepts, so history can roll its objects back. Users and tokens are audited without their
   * hashes: they are restored from backups only.
   */
  readonly rollback: boolean;
  /** The first part of its audit targets: `region` in `region/eu-west` (the rest is the key). */
  readonly noun: string;
  /** One record's audit target (`region/eu-west`): also how history and rollback name objects. */
  target(record: T): string;
  /** Every record the store holds now, in a stable order. */
  export(stores: SectionStores): Promise<readonly T[]>;
  /** Identity within the section (the part of `target` after the noun). */
  key(record: T): string;
  /** What a restore can reproduce (times the store stamps itself left out): equal content = unchanged. */
  content(record: T): unknown;
  /** Validates one record read from a file or an audit image; E_VALIDATION naming the field. */
  validate(value: unknown): T;
  /** Records of other sections this one needs (backends → their region): `section/key` → message. */
  references?(record: T): readonly { readonly section: string; readonly key: string }[];
  /** Creates the record, or makes the existing one equal to it. */
  upsert(
    stores: SectionStores,
    record: T,
    existing: T | undefined,
    context: SectionWriteContext,
  ): Promise<void>;
  remove(stores: SectionStores, record: T, context: SectionWriteContext): Promise<void>;
}

/** The part of a section context the state store takes (it audits its own writes with it). */
export function storeContext(context: SectionWriteContext): WriteContext {
  return context.requestId === undefined
    ? { actor: context.actor }
    : { actor: context.actor, requestId: context.requestId };
}

/** Canonical JSON (sorted keys): equal content compares equal whatever the key order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

export function sameContent<T>(section: StateSection<T>, a: T, b: T): boolean {
  return canonical(section.content(a)) === canonical(section.content(b));
}

/** Drops the store-stamped times of a record. */
export function withoutTimes<T extends { createdAt?: unknown; updatedAt?: unknown }>(
  record: T,
): Omit<T, 'createdAt' | 'updatedAt'> {
  const { createdAt: _c, updatedAt: _u, ...rest } = record;
  return rest;
}
