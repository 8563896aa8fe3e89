// Admin API routes about the state store itself (issue #12): `POST /v1/state/reseed` writes this
// node's last snapshot back to a shared store that lost the fleet's data (Redis restarted empty,
// flushed, or replaced), under a new epoch the other nodes accept. It is the explicit, audited step
// that ends the "data lost" state; nodes never do it on their own, since a node cannot tell which of
// several diverging snapshots is the right one. The node's DNS zones and traffic policies go back
// with it when their data was lost as well (`zones`, `policies`: how many were written).
import { MeridianError, invalid } from '../core/errors.js';
import type { AuditLog } from '../ops/audit.js';
import type { StateStore } from '../storage/state-store.js';
import type { PolicyStore } from '../storage/policy-store.js';
import type { ZoneStore } from '../storage/zone-store.js';
import type { ApiRoute } from './server.js';

export interface StateRouteDeps {
  readonly store: Pick<StateStore, 'reseed' | 'status'>;
  /** The zone and policy stores: their records are written back too when the shared copy lost them. */
  readonly zones?: Pick<ZoneStore, 'reseed'>;
  readonly policies?: Pick<PolicyStore, 'reseed'>;
  /** Audits the change; never throws. */
  readonly audit?: Pick<AuditLog, 'record'>;
}

/** `{}` or `{"force": true}`; anything else is a 400 naming the field. */
export function reseedBody(body: unknown): { force: boolean } {
  if (body === undefined || body === null) return { force: false };
  if (typeof body !== 'object' || Array.isArray(body)) throw invalid('body', 'expected a JSON object');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) if (key !== 'force') throw invalid(key, 'unknown field; expected force');
  if (b.force !== undefined && typeof b.force !== 'boolean') throw invalid('force', 'expected true or false');
  return { force: b.force === true };
}

export function stateRoutes(deps: StateRouteDeps): ApiRoute[] {
  const { store } = deps;
  return [
    {
      method: 'POST',
      path: '/v1/state/reseed',
      handler: async (req) => {
        const { force } = reseedBody(req.body);
        if (store.reseed === undefined) {
          throw new MeridianError(
            'E_CONFLICT',
            `this node uses the ${store.status().kind} state store: there is no shared store to reseed`,
          );
        }
        const before = store.status().dataLost;
        const reseeded = await store.reseed({ force });
        const result = {
          ...reseeded,
          zones: (await deps.zones?.reseed?.()) ?? 0,
          policies: (await deps.policies?.reseed?.()) ?? 0,
        };
        await deps.audit?.record({
          actor: req.actor ?? 'api',
          action: 'state.reseed',
          target: 'state',
          ...(before === undefined ? {} : { before }),
          after: { ...result, force },
          ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
        });
        return { body: result };
      },
    },
  ];
}
