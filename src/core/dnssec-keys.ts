// Where a zone key stands at an instant, from the timeline stored with it (publishAt, activeAt,
// retireAt, removeAt): published = in the DNSKEY RRset, signing = its signatures are served. Pure.

/** The timeline fields of a stored key (config/dnssec-schema.ts), as ISO 8601 instants. */
export interface KeyTimeline {
  readonly role: 'ksk' | 'zsk';
  readonly tag: number;
  readonly publishAt: string;
  readonly activeAt: string;
  readonly retireAt?: string | undefined;
  readonly removeAt?: string | undefined;
}

export type KeyPhase = 'pending' | 'published' | 'active' | 'retired' | 'removed';

function at(instant: string | undefined): number {
  return instant === undefined ? Number.POSITIVE_INFINITY : Date.parse(instant);
}

/**
 * pending (not yet published) → published (in the DNSKEY RRset, not signing) → active (signing) →
 * retired (published, not signing: caches may still hold its signatures) → removed.
 */
export function keyPhase(key: KeyTimeline, nowMs: number): KeyPhase {
  if (nowMs >= at(key.removeAt)) return 'removed';
  if (nowMs < at(key.publishAt)) return 'pending';
  if (nowMs >= at(key.retireAt)) return 'retired';
  if (nowMs >= at(key.activeAt)) return 'active';
  return 'published';
}

export interface KeysAt<K extends KeyTimeline> {
  /** Keys in the DNSKEY RRset. */
  readonly published: readonly K[];
  /** The keys whose signatures are served: for each role, the active key (the newest one when a handover overlaps). */
  readonly ksk: K | undefined;
  readonly zsk: K | undefined;
  /** The earliest future instant at which any key changes phase (Infinity when none will). */
  readonly nextChangeMs: number;
}

/** The published keys and the signing key of each role at `nowMs`. */
export function keysAt<K extends KeyTimeline>(keys: readonly K[], nowMs: number): KeysAt<K> {
  const published: K[] = [];
  let ksk: K | undefined;
  let zsk: K | undefined;
  let nextChangeMs = Number.POSITIVE_INFINITY;
  for (const key of keys) {
    for (const instant of [key.publishAt, key.activeAt, key.retireAt, key.removeAt]) {
      const t = at(instant);
      if (t > nowMs && t < nextChangeMs) nextChangeMs = t;
    }
    const phase = keyPhase(key, nowMs);
    if (phase === 'pending' || phase === 'removed') continue;
    published.push(key);
    if (phase !== 'active') continue;
    if (key.role === 'ksk') {
      if (ksk === undefined || at(key.activeAt) > at(ksk.activeAt)) ksk = key;
    } else if (zsk === undefined || at(key.activeAt) > at(zsk.activeAt)) zsk = key;
  }
  return { published, ksk, zsk, nextChangeMs };
}
