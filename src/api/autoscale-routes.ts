// Admin API route for the autoscaler (src/ops/autoscale/): what each region's policy is, its
// current and desired backend count, the last decision with its reasons, the cooldown left and the
// actuator's last result. Any node answers (the records are in the shared store), not only the
// decider. Policies are changed in the configuration file, never through the API (an actuator can
// run a command).
//
//   GET /v1/autoscale        → AutoscaleStatus { node, deciding, regions: [...] }
import type { Autoscaler } from '../ops/autoscale/service.js';
import type { ApiRoute } from './route.js';

export interface AutoscaleRouteDeps {
  readonly autoscaler: Pick<Autoscaler, 'status'>;
}

export function autoscaleRoutes(deps: AutoscaleRouteDeps): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: '/v1/autoscale',
      access: 'read',
      handler: async () => ({ body: await deps.autoscaler.status() }),
    },
  ];
}
