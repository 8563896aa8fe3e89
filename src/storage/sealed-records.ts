// Sealed fields in stored records (encryption at rest, infra/secrets/): which fields are sealed,
// how a store reports the key ids in use, and how it re-seals under the active key. A store that
// holds a sealed field implements SealedRecordSet; `meridian keys status|rotate` (api/keys-routes.ts)
// walks every such set, so a new kind of secret (DNSSEC keys, backups) adds one set, not a command.
//
// Sealed today: users' password hashes (sealed-users.ts) and zones' DNSSEC private keys
// (sealed-zones.ts).
import { MeridianError } from '../core/errors.js';

/** Which key ids a store's sealed fields use, so an operator knows when an old key can go. */
export interface SealedStatus {
  /** The set's name, e.g. `users`. */
  readonly name: string;
  /** Sealed values per key id. */
  readonly keyIds: Readonly<Record<string, number>>;
  /** Secret fields still stored in plain text (written before a key ring was configured). */
  readonly unsealed: number;
  /** Records this node cannot open, with the key id each needs (`unknown-key`) or why not. */
  readonly unreadable: readonly {
    readonly record: string;
    readonly keyId?: string;
    readonly reason: string;
  }[];
}

/** What one re-seal pass did; running it again after `conflicts` or an outage finishes the job. */
export interface ResealResult {
  readonly name: string;
  /** Re-sealed under the active key (or sealed for the first time). */
  readonly resealed: number;
  /** Already under the active key. */
  readonly current: number;
  /** Changed by someone else during the pass (they wrote it under the active key) or unreadable here. */
  readonly skipped: number;
}

export interface SealedRecordSet {
  sealedStatus(): SealedStatus;
  /**
   * Re-seals every sealed field not under the active key, one record at a time with a
   * compare-and-set, so it runs beside live writes, can be interrupted and run again. Throws
   * E_CONFLICT when the node has no key ring.
   */
  reseal(): Promise<ResealResult>;
}

/** E_CONFLICT (409): the request is fine, this node just has nothing to seal with. */
export function noKeyRing(): MeridianError {
  return new MeridianError(
    'E_CONFLICT',
    'this node has no encryption key configured (secrets.keyFile or MERIDIAN_KEYS), so it cannot seal anything',
  );
}
