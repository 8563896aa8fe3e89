// Admin API routes for a zone's DNSSEC keys (the zone's `dnssec` block in the zone store, which
// every DNS node signs from). Reads need `read`; changes need `manage-zones`. Private keys are made
// here, sealed with the node's key ring at once and never leave the store: no response or audit
// entry carries them, and a node without a key ring refuses to make any.
//
//   GET    /v1/zones/:zone/dnssec                        → DnssecStatus (signed: false when unsigned)
//   POST   /v1/zones/:zone/dnssec          {algorithm?}  → 201 DnssecStatus  (409 if signed, or no key ring)
//   GET    /v1/zones/:zone/dnssec/ds                     → { ds, dnskey, dsSafeAt }  (for the parent)
//   POST   /v1/zones/:zone/dnssec/rollover {ksk?}        → { rollover, status }      (409 while one runs)
//   DELETE /v1/zones/:zone/dnssec          {dsRemoved: true} → 204  (400 listing the steps without it)
//
// Audited as `dnssec.enable|rollover|disable` with the public view of the keys.
import {
  kskRolloverUnsupported,
  dsSafeAtMs,
  maxSignedTtl,
  planEnable,
  planZskRollover,
  rolloverTimeline,
  type KeyEvent,
  type NewZoneKey,
} from '../core/dnssec-rollover.js';
import type { KeyPhase } from '../core/dnssec-keys.js';
import { MeridianError, invalid } from '../core/errors.js';
import { DNSSEC_ALGORITHMS, type DnssecAlgorithm, type ZoneDnssecConfig } from '../config/dnssec-schema.js';
import type { ZoneConfig } from '../config/dns-schema.js';
import {
  DNSKEY_FLAGS_KSK,
  DNSKEY_FLAGS_ZSK,
  dnskeyRdata,
  dnskeyText,
  dsRecord,
  dsText,
  generateKey,
  keyTag,
  privateKeyContext,
} from '../infra/dnssec/keys.js';
import type { KeyRing } from '../infra/secrets/key-ring.js';
import type { AuditLog } from '../ops/audit.js';
import type { ZoneStore } from '../storage/zone-store.js';
import type { ApiRequest, ApiRoute } from './route.js';

export interface DnssecRouteDeps {
  readonly store: ZoneStore;
  /** The node's key ring: without one, no key can be made (private keys are stored only sealed). */
  readonly keyRing: KeyRing | undefined;
  readonly audit?: Pick<AuditLog, 'record'>;
  /** The clock of the key timeline (tests). */
  readonly now?: () => number;
}

type StoredKey = ZoneDnssecConfig['keys'][number];

/** A key as the API shows it: everything but the private half. */
export interface DnssecKeyView {
  readonly tag: number;
  readonly role: 'ksk' | 'zsk';
  readonly algorithm: DnssecAlgorithm;
  readonly flags: number;
  readonly phase: KeyPhase;
  readonly publishAt: string;
  readonly activeAt: string;
  readonly retireAt?: string;
  readonly removeAt?: string;
  /** The DNSKEY record in presentation form. */
  readonly dnskey: string;
  /** KSKs: the DS record for the parent, in presentation form (SHA-256). */
  readonly ds?: string;
}

export type DnssecStatus =
  | { readonly zone: string; readonly signed: false }
  | {
      readonly zone: string;
      readonly signed: true;
      readonly settings: Omit<ZoneDnssecConfig, 'keys'>;
      /** The largest TTL of any signed RRset: what a rollover waits for before removing a key. */
      readonly maxSignedTtl: number;
      /** When the DS may be given to the parent (every cache holds the signed zone by then). */
      readonly dsSafeAt: string;
      readonly keys: readonly DnssecKeyView[];
      /** Tags of the keys in the DNSKEY RRset now, and the key signing for each role. */
      readonly published: readonly number[];
      readonly signing: { readonly ksk: number | undefined; readonly zsk: number | undefined };
      readonly changeUnderway: boolean;
      /** Every future event of the key timeline, in order. */
      readonly events: readonly KeyEvent[];
    };

function flagsOf(role: 'ksk' | 'zsk'): number {
  return role === 'ksk' ? DNSKEY_FLAGS_KSK : DNSKEY_FLAGS_ZSK;
}

function rdataOf(key: StoredKey): Buffer {
  return dnskeyRdata(flagsOf(key.role), key.algorithm, Buffer.from(key.publicKey, 'base64'));
}

/** Where the zone's keys stand at `nowMs`, without private material. */
export function dnssecStatus(zone: ZoneConfig, nowMs: number): DnssecStatus {
  const block = zone.dnssec;
  if (block === undefined) return { zone: zone.name, signed: false };
  const { keys, ...settings } = block;
  const timeline = rolloverTimeline(keys, nowMs);
  return {
    zone: zone.name,
    signed: true,
    settings,
    maxSignedTtl: maxSignedTtl(zone, block.dnskeyTtl),
    dsSafeAt: new Date(dsSafeAtMs(zone, block)).toISOString(),
    keys: timeline.keys.map(({ key, phase }) => {
      const rdata = rdataOf(key);
      return {
        tag: key.tag,
        role: key.role,
        algorithm: key.algorithm,
        flags: flagsOf(key.role),
        phase,
        publishAt: key.publishAt,
        activeAt: key.activeAt,
        ...(key.retireAt === undefined ? {} : { retireAt: key.retireAt }),
        ...(key.removeAt === undefined ? {} : { removeAt: key.removeAt }),
        dnskey: dnskeyText(zone.name, rdata, block.dnskeyTtl),
        ...(key.role === 'ksk' ? { ds: dsText(zone.name, dsRecord(zone.name, rdata)) } : {}),
      };
    }),
    published: timeline.published,
    signing: timeline.signing,
    changeUnderway: timeline.changeUnderway,
    events: timeline.events,
  };
}

/** The DS records (and DNSKEYs) of the zone's published KSKs, for the parent zone's operator. */
export function dsForParent(
  zone: ZoneConfig,
  nowMs: number,
): { zone: string; ds: string[]; dnskey: string[]; dsSafeAt: string } {
  const status = dnssecStatus(zone, nowMs);
  if (!status.signed) throw notSigned(zone.name);
  const ksks = status.keys.filter((k) => k.role === 'ksk' && k.phase !== 'pending' && k.phase !== 'removed');
  return {
    zone: zone.name,
    ds: ksks.flatMap((k) => (k.ds === undefined ? [] : [k.ds])),
    dnskey: ksks.map((k) => k.dnskey),
    dsSafeAt: status.dsSafeAt,
  };
}

function notSigned(zone: string): MeridianError {
  return new MeridianError(
    'E_CONFLICT',
    `zone ${zone} is not signed: run \`meridian dnssec enable ${zone}\``,
  );
}

/** E_CONFLICT (409): the request is fine, this node cannot seal the private keys it would make. */
export function noKeyRingForDnssec(): MeridianError {
  return new MeridianError(
    'E_CONFLICT',
    'this node has no encryption key configured, and DNSSEC private keys are stored only sealed: ' +
      'give every node the same key file (secrets.keyFile, or MERIDIAN_KEYS; `meridian keys generate`) and restart them',
  );
}

/** The steps of going insecure, in the order the parent must see them (RFC 6781 §4.3.5). */
export const INSECURE_STEPS = [
  "1. remove the zone's DS record(s) at the parent (registrar or parent zone operator)",
  "2. wait until the parent's DS TTL (plus the parent's propagation) has passed since the removal, so no validator still holds the DS",
  '3. then stop signing: `meridian dnssec disable ZONE --ds-removed` (API: DELETE /v1/zones/ZONE/dnssec with {"dsRemoved": true})',
] as const;

/** A fresh key for `role`, its private half sealed for this zone, role and tag; tags stay unique in the zone. */
function makeKey(
  zone: string,
  role: 'ksk' | 'zsk',
  algorithm: DnssecAlgorithm,
  ring: KeyRing,
  taken: ReadonlySet<number>,
): NewZoneKey {
  // A tag is 16 bits: a clash with a key of the zone is rare, and a new key pair avoids it.
  for (let attempt = 0; attempt < 16; attempt++) {
    const generated = generateKey(algorithm);
    const tag = keyTag(dnskeyRdata(flagsOf(role), algorithm, generated.publicKey));
    if (taken.has(tag)) continue;
    return {
      tag,
      algorithm,
      publicKey: generated.publicKey.toString('base64'),
      privateKey: ring.seal(generated.privateKeyPkcs8.toString('base64'), privateKeyContext(zone, role, tag)),
    };
  }
  throw new MeridianError('E_INTERNAL', `no free key tag found for zone ${zone}`);
}

function objectBody(body: unknown, expected: readonly string[]): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw invalid('body', 'expected a JSON object');
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields))
    if (!expected.includes(key))
      throw invalid(key, `unknown field; expected ${expected.length === 0 ? 'none' : expected.join(', ')}`);
  return fields;
}

function algorithmOf(value: unknown): DnssecAlgorithm {
  if (value === undefined) return 13;
  if (!DNSSEC_ALGORITHMS.includes(value as DnssecAlgorithm))
    throw invalid('algorithm', 'expected 13 (ECDSA P-256/SHA-256) or 15 (Ed25519)');
  return value as DnssecAlgorithm;
}

/** The audit form of a zone's keys: public fields only. */
function auditKeys(zone: ZoneConfig): unknown {
  return zone.dnssec?.keys.map(({ privateKey: _private, publicKey: _public, ...key }) => key) ?? null;
}

export function dnssecRoutes(deps: DnssecRouteDeps): ApiRoute[] {
  const { store } = deps;
  const now = deps.now ?? Date.now;
  const zoneOf = (req: ApiRequest): string => req.params.zone ?? '';
  const audit = async (
    req: ApiRequest,
    action: string,
    before: ZoneConfig,
    after: ZoneConfig | undefined,
  ) => {
    await deps.audit?.record({
      actor: req.actor ?? 'api',
      action,
      target: `zone/${before.name}`,
      before: auditKeys(before),
      after: after === undefined ? null : auditKeys(after),
      ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
    });
  };
  const ring = (): KeyRing => {
    if (deps.keyRing === undefined) throw noKeyRingForDnssec();
    return deps.keyRing;
  };

  return [
    {
      method: 'GET',
      path: '/v1/zones/:zone/dnssec',
      handler: (req) => ({ body: dnssecStatus(store.get(zoneOf(req)), now()) }),
    },
    {
      method: 'GET',
      path: '/v1/zones/:zone/dnssec/ds',
      handler: (req) => ({ body: dsForParent(store.get(zoneOf(req)), now()) }),
    },
    {
      method: 'POST',
      path: '/v1/zones/:zone/dnssec',
      access: 'manage-zones',
      handler: async (req) => {
        const algorithm = algorithmOf(objectBody(req.body, ['algorithm']).algorithm);
        const before = store.get(zoneOf(req));
        if (before.dnssec !== undefined)
          throw new MeridianError('E_CONFLICT', `zone ${before.name} is already signed`);
        const keyRing = ring();
        const ksk = makeKey(before.name, 'ksk', algorithm, keyRing, new Set());
        const zsk = makeKey(before.name, 'zsk', algorithm, keyRing, new Set([ksk.tag]));
        const after = await store.change(before.name, (zone) => {
          if (zone.dnssec !== undefined)
            throw new MeridianError('E_CONFLICT', `zone ${zone.name} is already signed`);
          const block = planEnable(zone.name, {}, { ksk, zsk }, now());
          return { ...zone, dnssec: { ...block, keys: [...block.keys] } };
        });
        await audit(req, 'dnssec.enable', before, after);
        return { status: 201, body: dnssecStatus(after, now()) };
      },
    },
    {
      method: 'POST',
      path: '/v1/zones/:zone/dnssec/rollover',
      access: 'manage-zones',
      handler: async (req) => {
        if (objectBody(req.body, ['ksk']).ksk === true) throw kskRolloverUnsupported();
        const before = store.get(zoneOf(req));
        const current = before.dnssec;
        if (current === undefined) throw notSigned(before.name);
        const zskNow = current.keys.find((k) => k.role === 'zsk');
        const keyRing = ring();
        const newZsk = makeKey(
          before.name,
          'zsk',
          zskNow?.algorithm ?? 13,
          keyRing,
          new Set(current.keys.map((k) => k.tag)),
        );
        let plan: ReturnType<typeof planZskRollover> | undefined;
        const after = await store.change(before.name, (zone) => {
          if (zone.dnssec === undefined) throw notSigned(zone.name);
          plan = planZskRollover(zone, zone.dnssec, newZsk, now());
          return { ...zone, dnssec: { ...plan.dnssec, keys: [...plan.dnssec.keys] } };
        });
        await audit(req, 'dnssec.rollover', before, after);
        const done = plan!;
        return {
          body: {
            rollover: {
              oldKey: done.oldZsk.tag,
              newKey: done.newZsk.tag,
              newKeyPublishedAt: done.newZsk.publishAt,
              newKeySignsFrom: done.newZsk.activeAt,
              oldKeyRetiresAt: done.oldZsk.retireAt,
              oldKeyRemovedAt: done.oldZsk.removeAt,
              maxSignedTtl: done.maxTtl,
              dnskeyTtl: done.dnssec.dnskeyTtl,
              propagationSeconds: done.dnssec.propagationSeconds,
            },
            status: dnssecStatus(after, now()),
          },
        };
      },
    },
    {
      method: 'DELETE',
      path: '/v1/zones/:zone/dnssec',
      access: 'manage-zones',
      handler: async (req) => {
        const confirmed = objectBody(req.body, ['dsRemoved']).dsRemoved === true;
        const before = store.get(zoneOf(req));
        if (before.dnssec === undefined) throw notSigned(before.name);
        if (!confirmed)
          throw invalid(
            'dsRemoved',
            `zone ${before.name} is still signed; going insecure safely takes these steps, in order: ` +
              INSECURE_STEPS.join('; ').replaceAll('ZONE', before.name),
          );
        const after = await store.change(before.name, (zone) => {
          const { dnssec: _dropped, ...unsigned } = zone;
          return unsigned;
        });
        await audit(req, 'dnssec.disable', before, after);
        return {};
      },
    },
  ];
}
