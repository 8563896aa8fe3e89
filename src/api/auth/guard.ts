// The one permission check every admin API route goes through: a route declares what it needs
// (`access` beside its path, see ApiRoute), the server authenticates the caller and calls
// `authorize` before the handler runs. `public` routes skip both (only /healthz and /v1/login).
import { grants, type Permission, type Principal } from '../../core/access.js';
import { AccessDenied } from './authenticator.js';

export type RouteAccess = Permission | 'public';

/** What a route needs when it does not say: reads need `read`, anything else `write`. */
export function defaultAccess(method: string): RouteAccess {
  return method === 'GET' ? 'read' : 'write';
}

/**
 * Throws AccessDenied (403) unless the principal holds the route's permission. A `report-health`
 * route's region is its `:id` parameter (a reporter is bound to regions).
 */
export function authorize(
  principal: Principal,
  access: RouteAccess,
  params: Readonly<Record<string, string>>,
  what: string,
): void {
  if (access === 'public') return;
  const region = access === 'report-health' ? params.id : undefined;
  if (grants(principal, access, region)) return;
  const held = principal.roles.length === 0 ? 'no role' : `role ${principal.roles.join(', ')}`;
  const scope =
    region !== undefined && principal.roles.includes('reporter')
      ? ` (reports only for ${principal.regions.join(', ') || 'no region'})`
      : '';
  throw new AccessDenied(`${what} needs the "${access}" permission, which ${held}${scope} does not grant`);
}
