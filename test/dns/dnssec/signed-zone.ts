// Test material for signed zones: a fresh KSK and ZSK (infra/dnssec/keys.ts), their private halves
// sealed with a test key ring written to a 0600 key file (what `secrets.keyFile` names), the zone's
// `dnssec` block and the KSK as a trust anchor for validators.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DnssecAlgorithm } from '../../../src/config/dnssec-schema.js';
import {
  DNSKEY_FLAGS_KSK,
  DNSKEY_FLAGS_ZSK,
  dnskeyRdata,
  dnskeyText,
  generateKey,
  keyTag,
  privateKeyContext,
  type GeneratedKey,
} from '../../../src/infra/dnssec/keys.js';
import { KeyRing } from '../../../src/infra/secrets/key-ring.js';

export interface TestKey {
  readonly role: 'ksk' | 'zsk';
  readonly tag: number;
  readonly generated: GeneratedKey;
  /** The stored form (as in a zone's dnssec.keys[]). */
  readonly stored: {
    tag: number;
    role: 'ksk' | 'zsk';
    algorithm: DnssecAlgorithm;
    publicKey: string;
    privateKey: string;
    publishAt: string;
    activeAt: string;
    retireAt?: string;
    removeAt?: string;
  };
}

export interface TestSigning {
  readonly ring: KeyRing;
  /** `secrets:` naming the key file. */
  readonly secrets: { keyFile: string };
  readonly ksk: TestKey;
  readonly zsk: TestKey;
  /** The KSK's DNSKEY in presentation form. */
  readonly trustAnchor: string;
}

const LONG_AGO = '2020-01-01T00:00:00Z';

/** A key of `role`, sealed with `ring` for `zone`. */
export function testKey(
  ring: KeyRing,
  zone: string,
  role: 'ksk' | 'zsk',
  algorithm: DnssecAlgorithm = 13,
  timeline: { publishAt?: string; activeAt?: string; retireAt?: string; removeAt?: string } = {},
): TestKey {
  const generated = generateKey(algorithm);
  const flags = role === 'ksk' ? DNSKEY_FLAGS_KSK : DNSKEY_FLAGS_ZSK;
  const tag = keyTag(dnskeyRdata(flags, algorithm, generated.publicKey));
  return {
    role,
    tag,
    generated,
    stored: {
      tag,
      role,
      algorithm,
      publicKey: generated.publicKey.toString('base64'),
      privateKey: ring.seal(generated.privateKeyPkcs8.toString('base64'), privateKeyContext(zone, role, tag)),
      publishAt: timeline.publishAt ?? LONG_AGO,
      activeAt: timeline.activeAt ?? LONG_AGO,
      ...(timeline.retireAt === undefined ? {} : { retireAt: timeline.retireAt }),
      ...(timeline.removeAt === undefined ? {} : { removeAt: timeline.removeAt }),
    },
  };
}

/** A key ring (written to `dir`/keys, mode 0600) and a KSK + ZSK for `zone`. */
export function testSigning(dir: string, zone: string, algorithm: DnssecAlgorithm = 13): TestSigning {
  const secret = randomBytes(32);
  const ring = new KeyRing(new Map([['t1', secret]]), 't1');
  const keyFile = join(dir, 'keys');
  writeFileSync(keyFile, `t1:${secret.toString('base64')}\n`, { mode: 0o600 });
  const ksk = testKey(ring, zone, 'ksk', algorithm);
  const zsk = testKey(ring, zone, 'zsk', algorithm);
  const trustAnchor = dnskeyText(zone, dnskeyRdata(DNSKEY_FLAGS_KSK, algorithm, ksk.generated.publicKey));
  return { ring, secrets: { keyFile }, ksk, zsk, trustAnchor };
}
