// The steering answers kept per geo record: the DNS hot path's cache that still hits when every
// query comes from a new client subnet. A decision that depends on the client's location alone (no
// weighted band, no address rotation by network, no CIDR override containing the client) is the
// same for every network of its geo record, and there are far fewer records than networks
// (GeoLite2 City IPv4: 116k records, 3.7M networks). Only what the reply needs is kept, interned
// (few distinct answers exist: regions × countries), so an entry costs a map slot, not a Decision
// with its verdicts and reason texts. Bounded in entries; emptied by the engine whenever the
// snapshot, the health verdicts or the geo data change.
import type { BalancedNameConfig } from '../../config/dns-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import type { Decision, SteeredAnswer } from './types.js';

/** Distinct answers kept for interning before that map starts over. */
const INTERNED_LIMIT = 65536;

export class RecordAnswers {
  /** Balanced name → [A, AAAA] → record key → answer. */
  private byName = new WeakMap<object, [Map<number, SteeredAnswer>, Map<number, SteeredAnswer>]>();
  private interned = new Map<string, SteeredAnswer>();
  private count = 0;

  /** `limit`: record answers held at most, over every name and family. */
  constructor(private readonly limit: number) {}

  get(name: DeepReadonly<BalancedNameConfig>, family: 4 | 6, recordKey: number): SteeredAnswer | undefined {
    return this.byName.get(name)?.[family === 4 ? 0 : 1].get(recordKey);
  }

  /** Keeps the answer of `decision` for the record; returns it (interned). */
  set(
    name: DeepReadonly<BalancedNameConfig>,
    family: 4 | 6,
    recordKey: number,
    decision: Decision,
  ): SteeredAnswer {
    if (this.count >= this.limit) this.clear();
    let perName = this.byName.get(name);
    if (perName === undefined) {
      perName = [new Map(), new Map()];
      this.byName.set(name, perName);
    }
    const steered = this.intern(decision);
    perName[family === 4 ? 0 : 1].set(recordKey, steered);
    this.count++;
    return steered;
  }

  /** The shared SteeredAnswer equal to what `decision` answers. */
  intern(decision: Decision): SteeredAnswer {
    const region = decision.regions[0];
    const country = decision.location.country;
    const locationIndependent = decision.scopePrefix === 0;
    const key = `${decision.outcome}|${decision.ttl}|${locationIndependent ? 1 : 0}|${region ?? ''}|${country ?? ''}|${decision.addresses.join(',')}`;
    let steered = this.interned.get(key);
    if (steered === undefined) {
      if (this.interned.size >= INTERNED_LIMIT) this.interned = new Map();
      steered = Object.freeze({
        outcome: decision.outcome,
        addresses: decision.addresses,
        ttl: decision.ttl,
        locationIndependent,
        region,
        country,
      });
      this.interned.set(key, steered);
    }
    return steered;
  }

  clear(): void {
    this.byName = new WeakMap();
    this.count = 0;
  }

  get size(): number {
    return this.count;
  }
}
