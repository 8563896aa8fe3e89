// The steer step: an A/AAAA question for a balanced name → the steering engine's answer (served by
// geo record when it depends on the location alone) → address records in the Answer, the ECS scope
// to return, and the answers metric.
import type { BalancedNameConfig } from '../../config/dns-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import { MeridianError } from '../../core/errors.js';
import { ipToBytes } from '../../core/ip.js';
import type { SteeringEngine } from '../steering/engine.js';
import type { DnsMetrics } from '../metrics.js';
import { type AddressBytes, ecsAddressBytes } from '../wire/address.js';
import { TYPE } from '../wire/constants.js';
import type { EcsOption } from '../wire/reader.js';
import type { Answer } from './encode.js';
import type { Zone } from './zones.js';

/** The packet's source address, as bytes (see wire/address.ts). */
export type ClientAddress = AddressBytes;

export class Steerer {
  private readonly addressBytes = new Map<string, Buffer>();

  constructor(
    readonly engine: SteeringEngine,
    private readonly metrics: DnsMetrics | undefined,
    private readonly now: () => number,
  ) {}

  steer(
    ans: Answer,
    zone: Zone,
    balanced: DeepReadonly<BalancedNameConfig>,
    name: string,
    qtype: number,
    client: ClientAddress,
    ecs: EcsOption | undefined,
  ): void {
    const family = qtype === TYPE.A ? 4 : 6;
    const useEcs = ecs !== undefined && ecs.sourcePrefix > 0;
    const { steered, scopePrefix } = this.engine.answer(
      useEcs
        ? {
            name: balanced,
            family,
            source: client,
            ecs: { address: ecsAddressBytes(ecs), sourcePrefix: ecs.sourcePrefix },
            now: this.now(),
          }
        : { name: balanced, family, source: client, now: this.now() },
    );
    if (steered.outcome !== 'addresses' || steered.addresses.length === 0) {
      ans.authority.push(zone.negativeSoa);
      return;
    }
    const ttl = steered.ttl;
    for (const address of steered.addresses) {
      ans.answers.push({ owner: name, type: qtype, ttl, rdata: [this.bytesOf(address)] });
    }
    if (useEcs && scopePrefix > ans.scope) ans.scope = scopePrefix;
    ans.region = steered.region ?? 'none';
    ans.country = steered.country;
    this.metrics?.answer(ans.region, ans.country);
  }

  /** RDATA of an answered address (the regions' addresses are few: kept, bounded). */
  private bytesOf(address: string): Buffer {
    let b = this.addressBytes.get(address);
    if (b === undefined) {
      const bytes = ipToBytes(address);
      if (bytes === undefined)
        throw new MeridianError('E_INTERNAL', `steering returned a bad address ${address}`);
      b = Buffer.from(bytes);
      if (this.addressBytes.size > 10_000) this.addressBytes.clear();
      this.addressBytes.set(address, b);
    }
    return b;
  }
}
