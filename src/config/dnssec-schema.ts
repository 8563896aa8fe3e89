// Schema of a zone's `dnssec` block: its keys (sealed private halves and their timeline) and the
// signing settings. Absent = the zone is unsigned. Written by `meridian dnssec enable|rollover|
// disable` through the zone store, never by hand in normal operation; the YAML seed may carry it.
import { z } from 'zod';
import { nonNegativeInt, positiveInt } from './primitives.js';

/** DNSSEC algorithms we sign with: 13 = ECDSA P-256/SHA-256, 15 = Ed25519. */
export const DNSSEC_ALGORITHMS = [13, 15] as const;
export type DnssecAlgorithm = (typeof DNSSEC_ALGORITHMS)[number];

/** ksk signs the DNSKEY RRset (flags 257, the parent's DS names it); zsk signs the rest (flags 256). */
export const DNSSEC_KEY_ROLES = ['ksk', 'zsk'] as const;

const instant = z.iso.datetime({ offset: true, message: 'expected an ISO 8601 date-time' });

const dnssecKey = z.strictObject({
  /** RFC 4034 Appendix B key tag of the DNSKEY (checked against the public key when compiled). */
  tag: nonNegativeInt.max(65535),
  role: z.enum(DNSSEC_KEY_ROLES),
  algorithm: z.union([z.literal(13), z.literal(15)], { message: 'expected algorithm 13 or 15' }),
  /** The DNSKEY public key field, base64 (P-256: x‖y, 64 bytes; Ed25519: 32 bytes). */
  publicKey: z.base64({ message: 'expected base64' }),
  /**
   * The private key as PKCS#8 DER in base64, sealed with the node key ring (`enc:v1:…`, context
   * `dnssec:<zone>:<role>:<tag>`). A plain value is refused when the zone is compiled.
   */
  privateKey: z.string().min(1),
  /** In the DNSKEY RRset from this instant. */
  publishAt: instant,
  /** Signs from this instant (a ksk signs the DNSKEY RRset, a zsk everything else). */
  activeAt: instant,
  /** Stops signing at this instant (set by a rollover). */
  retireAt: instant.optional(),
  /** Leaves the DNSKEY RRset at this instant (set by a rollover). */
  removeAt: instant.optional(),
});

const dnssecObject = z.strictObject({
  keys: z.array(dnssecKey).min(1),
  /** TTL of the DNSKEY RRset. */
  dnskeyTtl: positiveInt.max(2147483647).default(3600),
  /** Each signature is valid for this long from its inception. */
  signatureValidityDays: positiveInt.max(90).default(14),
  /** Signatures are made afresh once less than this is left of their validity (plus jitter). */
  refreshDays: positiveInt.max(89).default(7),
  /** Inception is set this far in the past, for validators whose clocks run behind. */
  inceptionOffsetSeconds: nonNegativeInt.max(86400).default(3600),
  /**
   * How long a change to the zone takes to reach every answering server (our nodes, secondaries):
   * added to the TTLs that a rollover waits for.
   */
  propagationSeconds: nonNegativeInt.max(86400).default(300),
});

export const zoneDnssecSchema = dnssecObject.superRefine((d, ctx) => {
  if (d.refreshDays >= d.signatureValidityDays)
    ctx.addIssue({
      code: 'custom',
      path: ['refreshDays'],
      message: `refreshDays (${d.refreshDays}) must be less than signatureValidityDays (${d.signatureValidityDays})`,
    });
  if (!d.keys.some((k) => k.role === 'ksk'))
    ctx.addIssue({ code: 'custom', path: ['keys'], message: 'a signed zone needs a ksk' });
  if (!d.keys.some((k) => k.role === 'zsk'))
    ctx.addIssue({ code: 'custom', path: ['keys'], message: 'a signed zone needs a zsk' });
});

export type ZoneDnssecConfig = z.infer<typeof zoneDnssecSchema>;
export type DnssecKeyConfig = ZoneDnssecConfig['keys'][number];
