// Admin API routes for encryption at rest (admin only, like users: whoever holds them can see which
// keys protect what and re-seal everything):
//   GET  /v1/keys         this node's key ring (ids only, never key bytes), the key ids the stored
//                         sealed values use, what this node cannot open, and which keys can retire
//   POST /v1/keys/rotate  re-seals every sealed value under the active key, in place, one record at
//                         a time (compare-and-set): no downtime, idempotent, and an interrupted run
//                         is finished by running it again. Audited as `keys.rotate`.
import type { KeyRing } from '../infra/secrets/key-ring.js';
import type { AuditLog } from '../ops/audit.js';
import { noKeyRing, type SealedRecordSet, type SealedStatus } from '../storage/sealed-records.js';
import type { ApiRoute } from './route.js';

export interface KeysRouteDeps {
  readonly keyRing: KeyRing | undefined;
  /** Every store holding sealed fields (Stores.sealed). */
  readonly sealed: readonly SealedRecordSet[];
  readonly audit?: Pick<AuditLog, 'record'>;
}

export interface KeysStatus {
  /** undefined when this node has no key ring (secrets stored unsealed). */
  readonly activeKeyId: string | undefined;
  /** The key ids this node holds. */
  readonly keyIds: readonly string[];
  /** Sealed values per key id, over every set: a key id absent here is used by nothing. */
  readonly inUse: Readonly<Record<string, number>>;
  /** Keys this node holds that no stored value uses any more (and that are not active): safe to retire. */
  readonly retirable: readonly string[];
  /** Secret fields still stored in plain text (a rotation seals them). */
  readonly unsealed: number;
  readonly sets: readonly SealedStatus[];
}

export function keysStatus(keyRing: KeyRing | undefined, sealed: readonly SealedRecordSet[]): KeysStatus {
  const sets = sealed.map((s) => s.sealedStatus());
  const inUse: Record<string, number> = {};
  let unsealed = 0;
  for (const set of sets) {
    unsealed += set.unsealed;
    for (const [kid, n] of Object.entries(set.keyIds)) inUse[kid] = (inUse[kid] ?? 0) + n;
  }
  const keyIds = keyRing?.keyIds() ?? [];
  return {
    activeKeyId: keyRing?.activeKeyId,
    keyIds,
    inUse,
    retirable: keyIds.filter((kid) => kid !== keyRing?.activeKeyId && inUse[kid] === undefined),
    unsealed,
    sets,
  };
}

export function keysRoutes(deps: KeysRouteDeps): ApiRoute[] {
  const { keyRing, sealed } = deps;
  return [
    {
      method: 'GET',
      path: '/v1/keys',
      access: 'manage-access',
      handler: () => ({ body: keysStatus(keyRing, sealed) }),
    },
    {
      method: 'POST',
      path: '/v1/keys/rotate',
      access: 'manage-access',
      handler: async (req) => {
        if (keyRing === undefined) throw noKeyRing();
        const before = keysStatus(keyRing, sealed).inUse;
        const results = [];
        for (const set of sealed) results.push(await set.reseal());
        const status = keysStatus(keyRing, sealed);
        await deps.audit?.record({
          actor: req.actor ?? 'api',
          action: 'keys.rotate',
          target: `keys/${keyRing.activeKeyId}`,
          before,
          after: status.inUse,
          ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
        });
        return { body: { activeKeyId: keyRing.activeKeyId, results, status } };
      },
    },
  ];
}
