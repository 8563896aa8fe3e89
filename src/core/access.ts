// Who may do what on the admin API: the built-in roles and the permissions they grant. Pure, so the
// API, the CLI and the tests share one table. A route declares one Permission; `grants` decides.
//   admin     everything, users and tokens of others included
//   operator  every read and every change to regions, backends, drains, policies, tasks, zones
//   viewer    every read
//   reporter  only health reports, and only for the regions its user is bound to (a proxy node)

export type Role = 'admin' | 'operator' | 'viewer' | 'reporter';
export const ROLES: readonly Role[] = ['admin', 'operator', 'viewer', 'reporter'];

/**
 * `read` any read; `write` any change to the served state (regions, backends, policies, tasks);
 * `report-health` a health report for the route's region; `manage-access` users and others' tokens;
 * `self` what every authenticated principal may do about itself (whoami, its own tokens, logout);
 * `manage-zones` changes to DNS zones, records and balanced names (reading them is `read`).
 */
export type Permission = 'read' | 'write' | 'report-health' | 'manage-access' | 'self' | 'manage-zones';
export const PERMISSIONS: readonly Permission[] = [
  'read',
  'write',
  'report-health',
  'manage-access',
  'self',
  'manage-zones',
];

const ROLE_GRANTS: Readonly<Record<Role, readonly Permission[]>> = {
  admin: ['read', 'write', 'report-health', 'manage-access', 'self', 'manage-zones'],
  operator: ['read', 'write', 'report-health', 'self', 'manage-zones'],
  viewer: ['read', 'self'],
  reporter: ['report-health', 'self'],
};

/** Who made a request, as the API sees it after authentication. */
export interface Principal {
  /** The user's name; `config` for the bootstrap token from the configuration. */
  readonly user: string;
  /** The token's name, `session` for a login session, `config` for the bootstrap token. */
  readonly tokenName: string;
  /** The token's id (`config` for the bootstrap token); revocation goes by it. */
  readonly tokenId: string;
  readonly roles: readonly Role[];
  /** The regions a `reporter` role may report health for. */
  readonly regions: readonly string[];
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** The roles' permissions, for `whoami` and the docs. */
export function permissionsOf(roles: readonly Role[]): Permission[] {
  return PERMISSIONS.filter((p) => roles.some((r) => ROLE_GRANTS[r].includes(p)));
}

/**
 * Whether `principal` holds `permission`, for the route's region when it has one. A `reporter`'s
 * health reports are bound to its regions; an operator or admin reports for any region.
 */
export function grants(principal: Principal, permission: Permission, region?: string): boolean {
  for (const role of principal.roles) {
    if (!ROLE_GRANTS[role].includes(permission)) continue;
    if (role === 'reporter' && permission === 'report-health') {
      if (region !== undefined && principal.regions.includes(region)) return true;
      continue;
    }
    return true;
  }
  return false;
}

/** The audit actor for a principal: `token:config`, or `user:<name>/token:<token name>`. */
export function principalActor(principal: Principal): string {
  if (principal.tokenId === 'config') return 'token:config';
  return `user:${principal.user}/token:${principal.tokenName}`;
}
