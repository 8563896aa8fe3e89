// The audit entries the stores commit with audited writes (a write given a WriteContext). Both
// stores build them here, so memory and Redis record exactly the same actions, targets and shapes.
//
//   action                                   target                    before / after
//   region.create | region.update            region/<id>               null / the region
//   region.drain | region.undrain            region/<id>               the region / the region
//   region.remove                            region/<id>               the region / null
//   backend.create | backend.update | …      backend/<region>/<id>     same pattern
//
// A patch whose only field is `state` set to `draining` (or `active`) is recorded as a drain (or
// undrain); any other patch is an update. Pure: no I/O.
import type { BackendPatch, LifecycleState, RegionPatch, WriteContext } from '../core/types.js';
import { validateData, type AuditEntry } from './ops-record-store.js';

export type AuditNoun = 'region' | 'backend';
export type AuditVerb = 'create' | 'update' | 'drain' | 'undrain' | 'remove';

export const regionTarget = (id: string): string => `region/${id}`;
export const backendTarget = (regionId: string, id: string): string => `backend/${regionId}/${id}`;

/** Validates a write context (actor and requestId like an audit record's); throws E_VALIDATION. */
export function checkContext(context: WriteContext | undefined): WriteContext | undefined {
  if (context === undefined) return undefined;
  const probe = validateData('audit', {
    actor: context.actor,
    action: 'probe',
    target: 'probe',
    ...(context.requestId === undefined ? {} : { requestId: context.requestId }),
  });
  return probe.requestId === undefined
    ? { actor: probe.actor }
    : { actor: probe.actor, requestId: probe.requestId };
}

/** `update`, or `drain`/`undrain` for a patch that only sets `state` to draining/active. */
export function patchVerb(patch: RegionPatch | BackendPatch): AuditVerb {
  const fields = Object.entries(patch as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (fields.length !== 1 || fields[0]?.[0] !== 'state') return 'update';
  const state = fields[0][1] as LifecycleState;
  return state === 'draining' ? 'drain' : state === 'active' ? 'undrain' : 'update';
}

/** The entry for one audited write; `null` stands for "absent" (before a create, after a remove). */
export function auditEntry(
  context: WriteContext,
  noun: AuditNoun,
  verb: AuditVerb,
  target: string,
  before: unknown,
  after: unknown,
): AuditEntry {
  return validateData('audit', {
    actor: context.actor,
    action: `${noun}.${verb}`,
    target,
    before: before ?? null,
    after: after ?? null,
    ...(context.requestId === undefined ? {} : { requestId: context.requestId }),
  });
}
