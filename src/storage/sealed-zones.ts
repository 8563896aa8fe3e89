// Zones' DNSSEC private keys as a SealedRecordSet (sealed-records.ts), so `meridian keys
// status|rotate` count and re-seal them beside the users' password hashes. A key is sealed under
// the context `dnssec:<zone>:<role>:<tag>` (infra/dnssec/keys.ts privateKeyContext), so a sealed key
// moved to another zone or key fails to open. Works on any ZoneStore: a re-seal is one `change` per
// zone (compare-and-set, so it runs beside live edits; it also bumps the zone's SOA serial, which is
// harmless: secondaries transfer the same records again).
import { isMeridianError } from '../core/errors.js';
import { privateKeyContext } from '../infra/dnssec/keys.js';
import { SealError, isSealed, sealedKeyId, type KeyRing } from '../infra/secrets/key-ring.js';
import { noKeyRing, type ResealResult, type SealedRecordSet, type SealedStatus } from './sealed-records.js';
import type { ZoneConfig, ZoneStore } from './zone-store.js';

const SET_NAME = 'dnssec keys';

/** Thrown from an edit to leave the zone as it is (no serial bump when nothing could be re-sealed). */
class NothingToWrite extends Error {}

type StoredKey = NonNullable<ZoneConfig['dnssec']>['keys'][number];

/** How one stored key stands: plain (never sealed), sealed under `keyId`, or unreadable here. */
type KeyState =
  | { readonly kind: 'plain' }
  | { readonly kind: 'sealed'; readonly keyId: string }
  | { readonly kind: 'unreadable'; readonly keyId?: string; readonly reason: string };

function keyState(zone: string, key: StoredKey, ring: KeyRing | undefined): KeyState {
  if (!isSealed(key.privateKey)) return { kind: 'plain' };
  const keyId = sealedKeyId(key.privateKey);
  const withId = keyId === undefined ? {} : { keyId };
  if (ring === undefined)
    return {
      kind: 'unreadable',
      ...withId,
      reason: `sealed with key ${keyId ?? '?'}, and this node has no key ring (secrets.keyFile, MERIDIAN_KEYS)`,
    };
  try {
    ring.open(key.privateKey, privateKeyContext(zone, key.role, key.tag));
  } catch (err) {
    return { kind: 'unreadable', ...withId, reason: err instanceof SealError ? err.message : String(err) };
  }
  return { kind: 'sealed', keyId: keyId ?? '?' };
}

function recordName(zone: string, key: StoredKey): string {
  return `zone/${zone}/dnssec/${key.role}/${key.tag}`;
}

/** The DNSSEC private keys of every zone in `zones`, sealed with `ring`. */
export function sealedZoneKeys(zones: ZoneStore, ring: KeyRing | undefined): SealedRecordSet {
  return {
    sealedStatus(): SealedStatus {
      const keyIds: Record<string, number> = {};
      let unsealed = 0;
      const unreadable: { record: string; keyId?: string; reason: string }[] = [];
      for (const zone of zones.current())
        for (const key of zone.dnssec?.keys ?? []) {
          const state = keyState(zone.name, key, ring);
          if (state.kind === 'plain') unsealed++;
          else if (state.kind === 'sealed') keyIds[state.keyId] = (keyIds[state.keyId] ?? 0) + 1;
          else {
            const { kind: _kind, ...rest } = state;
            unreadable.push({ record: recordName(zone.name, key), ...rest });
            if (state.keyId !== undefined) keyIds[state.keyId] = (keyIds[state.keyId] ?? 0) + 1;
          }
        }
      return { name: SET_NAME, keyIds, unsealed, unreadable };
    },

    async reseal(): Promise<ResealResult> {
      if (ring === undefined) throw noKeyRing();
      let resealed = 0;
      let current = 0;
      let skipped = 0;
      for (const listed of zones.current()) {
        if (listed.dnssec === undefined) continue;
        const needsWork = listed.dnssec.keys.some(
          (k) => !isSealed(k.privateKey) || sealedKeyId(k.privateKey) !== ring.activeKeyId,
        );
        if (!needsWork) {
          current += listed.dnssec.keys.length;
          continue;
        }
        // Counted per attempt: a compare-and-set retry runs the edit again on the newer zone.
        let counts = { resealed: 0, current: 0, skipped: 0 };
        try {
          await zones.change(listed.name, (zone) => {
            counts = { resealed: 0, current: 0, skipped: 0 };
            if (zone.dnssec === undefined) return zone;
            zone.dnssec.keys = zone.dnssec.keys.map((key) => {
              const context = privateKeyContext(zone.name, key.role, key.tag);
              if (isSealed(key.privateKey) && sealedKeyId(key.privateKey) === ring.activeKeyId) {
                counts.current++;
                return key;
              }
              let plain: string;
              try {
                plain = isSealed(key.privateKey) ? ring.open(key.privateKey, context) : key.privateKey;
              } catch {
                counts.skipped++; // reported by sealedStatus as unreadable
                return key;
              }
              counts.resealed++;
              return { ...key, privateKey: ring.seal(plain, context) };
            });
            if (counts.resealed === 0) throw new NothingToWrite();
            return zone;
          });
        } catch (err) {
          // Removed meanwhile, or nothing this node can open: no write.
          if (isMeridianError(err) && err.code === 'E_NOT_FOUND') continue;
          if (!(err instanceof NothingToWrite)) throw err;
        }
        resealed += counts.resealed;
        current += counts.current;
        skipped += counts.skipped;
      }
      return { name: SET_NAME, resealed, current, skipped };
    },
  };
}
