// What a zone transfer carries: every RRset of a compiled zone — apex SOA and NS, static records,
// delegations and their glue, wildcards — and, for each balanced name, the A and AAAA records that
// a query from the configured default location gets now (`dns.transfer.defaultClient`; unset = an
// unlocated client, i.e. the `steering.defaultOrder` regions): a secondary cannot steer. Pure.
import type { Rr } from '../wire/encoder.js';
import { TYPE } from '../wire/constants.js';
import { emptyAnswer } from '../answer/encode.js';
import type { Steerer, ClientAddress } from '../answer/steer.js';
import type { Zone, ZoneSet } from '../answer/zones.js';

/** The zone's records without the closing SOA: SOA first, then every other RRset, node by node. */
export function zoneRecords(
  zones: ZoneSet,
  zone: Zone,
  steerer: Steerer,
  defaultClient: ClientAddress,
): Rr[] {
  const out: Rr[] = [...zone.soa.rrs];
  for (const node of zones.nodesOf(zone)) {
    for (const [type, set] of node.rrsets) if (type !== TYPE.SOA) out.push(...set.rrs);
    if (node.balanced !== undefined) {
      for (const qtype of [TYPE.A, TYPE.AAAA]) {
        const ans = emptyAnswer();
        steerer.steer(ans, zone, node.balanced, node.name, qtype, defaultClient, undefined);
        out.push(...ans.answers);
      }
    }
  }
  return out;
}
