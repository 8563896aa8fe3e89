// Backup section `users`: admin API users with their scrypt password hashes (never a password),
// roles, regions and disabled flag. Audited without the hash (`user.create` / `user.update` /
// `user.remove`). Removing a user also removes its tokens.
import { invalid } from '../../../core/errors.js';
import type { User } from '../../../storage/access-store.js';
import { validateRoles, validateUserName } from '../../../storage/access-store.js';
import { type StateSection } from '../section.js';

function passwordHash(value: unknown): User['password'] {
  const p = value as Record<string, unknown> | null;
  if (
    typeof p !== 'object' ||
    p === null ||
    p.algorithm !== 'scrypt' ||
    ![p.N, p.r, p.p, p.keyLength].every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n > 0) ||
    typeof p.salt !== 'string' ||
    typeof p.hash !== 'string'
  )
    throw invalid('password', 'expected a scrypt password hash {algorithm, N, r, p, keyLength, salt, hash}');
  return p as unknown as User['password'];
}

/** A user as the audit log shows it: no password hash. */
function auditView(u: User): Omit<User, 'password'> {
  const { password: _password, ...rest } = u;
  return rest;
}

export const usersSection: StateSection<User> = {
  name: 'users',
  rollback: false,
  noun: 'user',
  target: (u) => `user/${u.name}`,
  export: (stores) => Promise.resolve([...stores.access.current().users.values()]),
  key: (u) => u.name,
  // The last login changes on every login: not what a restore is about.
  content: (u) => {
    const { lastLoginAt: _last, ...rest } = u;
    return rest;
  },
  validate: (value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw invalid('user', 'expected an object');
    const u = value as Record<string, unknown>;
    if (!Array.isArray(u.regions) || u.regions.some((r) => typeof r !== 'string'))
      throw invalid('regions', 'expected a list of region ids');
    if (typeof u.disabled !== 'boolean') throw invalid('disabled', 'expected true or false');
    if (typeof u.createdAt !== 'string' || !Number.isFinite(Date.parse(u.createdAt)))
      throw invalid('createdAt', 'expected an RFC 3339 time');
    return {
      name: validateUserName(u.name),
      password: passwordHash(u.password),
      roles: validateRoles(u.roles),
      regions: u.regions as string[],
      disabled: u.disabled,
      createdAt: u.createdAt,
      ...(typeof u.lastLoginAt === 'string' ? { lastLoginAt: u.lastLoginAt } : {}),
    };
  },
  upsert: async (stores, u, existing, context) => {
    if (existing === undefined) await stores.access.createUser(u);
    else await stores.access.replaceUser(u);
    await context.audit({
      action: existing === undefined ? 'user.create' : 'user.update',
      target: `user/${u.name}`,
      ...(existing === undefined ? {} : { before: auditView(existing) }),
      after: auditView(u),
    });
  },
  remove: async (stores, u, context) => {
    await stores.access.removeUser(u.name);
    await context.audit({ action: 'user.remove', target: `user/${u.name}`, before: auditView(u) });
  },
};
