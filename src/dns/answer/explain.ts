// `explain`: the steering decision for a balanced name and a client given as text (admin API, CLI),
// computed afresh with every reason, beside the normalised query. Not on the answer path.
import { MeridianError, invalid } from '../../core/errors.js';
import { parseCidr } from '../../core/ip.js';
import { addressFromText } from '../wire/address.js';
import type { SteeringEngine } from '../steering/engine.js';
import type { ClientSubnet, Decision } from '../steering/types.js';
import type { ZoneSet } from './zones.js';

export interface ExplainQuery {
  readonly name: string;
  /** The client (resolver) address. */
  readonly client: string;
  /** An EDNS Client Subnet such as 192.0.2.0/24. */
  readonly ecs?: string;
  readonly type: 'A' | 'AAAA';
}

export interface ExplainResult {
  readonly query: {
    readonly name: string;
    readonly type: 'A' | 'AAAA';
    readonly family: 4 | 6;
    readonly zone: string;
    /** The balanced name that answers (differs from `name` for a wildcard). */
    readonly balancedName: string;
    readonly client: string;
    readonly ecs?: ClientSubnet;
  };
  readonly decision: Decision;
}

/** The decision for `query` at `now`. Throws E_VALIDATION (bad input) or E_NOT_FOUND (not balanced). */
export function explain(
  zones: ZoneSet,
  engine: SteeringEngine,
  query: ExplainQuery,
  now: number,
): ExplainResult {
  const name = query.name.toLowerCase().replace(/\.$/, '');
  if (query.type !== 'A' && query.type !== 'AAAA') throw invalid('type', 'expected A or AAAA');
  const lk = zones.lookup(name);
  if (lk.kind !== 'node' || lk.node.balanced === undefined) {
    throw new MeridianError('E_NOT_FOUND', `${query.name} is not a balanced name in any zone`, {
      field: 'name',
    });
  }
  const source = addressFromText(query.client);
  if (source === undefined)
    throw invalid('client', `expected an IP address, got ${JSON.stringify(query.client)}`);
  let ecs: ClientSubnet | undefined;
  let ecsBytes: Uint8Array | undefined;
  if (query.ecs !== undefined) {
    const cidr = parseCidr(query.ecs);
    if (cidr === undefined) {
      throw invalid(
        'ecs',
        `expected a CIDR with zero host bits such as 192.0.2.0/24, got ${JSON.stringify(query.ecs)}`,
      );
    }
    // SOURCE /0 means "do not use my address": the resolver's address is used, as for a query.
    if (cidr.prefix > 0) {
      ecs = {
        family: cidr.family,
        address: cidr.text.slice(0, cidr.text.indexOf('/')),
        sourcePrefix: cidr.prefix,
      };
      ecsBytes = addressFromText(ecs.address);
    }
  }
  const family = query.type === 'A' ? 4 : 6;
  const decision = engine.explain(
    ecs === undefined || ecsBytes === undefined
      ? { name: lk.node.balanced, family, source, now }
      : {
          name: lk.node.balanced,
          family,
          source,
          ecs: { address: ecsBytes, sourcePrefix: ecs.sourcePrefix },
          now,
        },
  );
  return {
    query: {
      name,
      type: query.type,
      family,
      zone: lk.zone.name,
      balancedName: lk.node.name,
      client: query.client,
      ...(ecs === undefined ? {} : { ecs }),
    },
    decision,
  };
}
