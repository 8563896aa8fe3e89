// Backup section `tokens`: API tokens as their SHA-256 hashes (a token itself is never stored, so
// never backed up). Login sessions are not backed up and a restore leaves them alone: they are
// short-lived and tied to the node's users at the time. A token needs its user.
import { invalid } from '../../../core/errors.js';
import type { ApiToken } from '../../../storage/access-store.js';
import { validateRoles, validateUserName } from '../../../storage/access-store.js';
import { type StateSection } from '../section.js';

function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 200)
    throw invalid(field, 'expected a string of 1-200 characters');
  return value;
}

/** A token as the audit log shows it: no hash. */
function auditView(t: ApiToken): Omit<ApiToken, 'hash'> {
  const { hash: _hash, ...rest } = t;
  return rest;
}

export const tokensSection: StateSection<ApiToken> = {
  name: 'tokens',
  rollback: false,
  noun: 'token',
  target: (t) => `token/${t.user}/${t.name}`,
  export: (stores) =>
    Promise.resolve([...stores.access.current().tokens.values()].filter((t) => t.kind === 'api')),
  key: (t) => t.id,
  // The last use changes on every request: not what a restore is about.
  content: (t) => {
    const { lastUsedAt: _last, ...rest } = t;
    return rest;
  },
  validate: (value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw invalid('token', 'expected an object');
    const t = value as Record<string, unknown>;
    if (t.kind !== 'api') throw invalid('kind', 'expected "api" (login sessions are not backed up)');
    if (typeof t.hash !== 'string' || !/^[0-9a-f]{64}$/.test(t.hash))
      throw invalid('hash', 'expected a SHA-256 hash (64 hex digits)');
    const optionalTime = (field: string): Record<string, string> => {
      const v = t[field];
      if (v === undefined) return {};
      if (typeof v !== 'string' || !Number.isFinite(Date.parse(v)))
        throw invalid(field, 'expected an RFC 3339 time');
      return { [field]: v };
    };
    return {
      id: text(t.id, 'id'),
      user: validateUserName(t.user, 'user'),
      name: text(t.name, 'name'),
      kind: 'api',
      hash: t.hash,
      roles: validateRoles(t.roles),
      createdAt: text(t.createdAt, 'createdAt'),
      ...optionalTime('expiresAt'),
      ...optionalTime('lastUsedAt'),
    };
  },
  references: (t) => [{ section: 'users', key: t.user }],
  upsert: async (stores, t, existing, context) => {
    // Tokens are immutable: a changed one is replaced.
    if (existing !== undefined) await stores.access.removeToken(existing.id);
    await stores.access.createToken(t);
    await context.audit({
      action: 'token.create',
      target: `token/${t.user}/${t.name}`,
      ...(existing === undefined ? {} : { before: auditView(existing) }),
      after: auditView(t),
    });
  },
  remove: async (stores, t, context) => {
    // Removing its user already removed it.
    if (!(await stores.access.removeToken(t.id))) return;
    await context.audit({
      action: 'token.revoke',
      target: `token/${t.user}/${t.name}`,
      before: auditView(t),
    });
  },
};
