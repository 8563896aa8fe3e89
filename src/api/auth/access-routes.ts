// Admin API routes for users, API tokens and login sessions, as ApiRoutes with their permission
// declared beside them. Password hashes and token hashes never leave the store: views below drop
// them, and a token's secret is in the answer to its creation only.
//   POST   /v1/login            public     { username, password } → { token, csrfToken, expiresAt, … } + session cookie
//   POST   /v1/logout           self       revokes the token or session presented
//   GET    /v1/whoami           self       { user, token, roles, permissions, regions }
//   GET    /v1/users            manage-access
//   POST   /v1/users            manage-access  { name, password, roles, regions? }
//   GET    /v1/users/:name      manage-access
//   PATCH  /v1/users/:name      manage-access  { password?, roles?, regions?, disabled? }
//   DELETE /v1/users/:name      manage-access  (its tokens go with it)
//   GET    /v1/tokens           self       own tokens; an admin sees all (or ?user=)
//   POST   /v1/tokens           self       { name, roles?, expiresInSeconds?, user? (admin only) } → 201 { token, … }
//   DELETE /v1/tokens/:id       self       own tokens; an admin any
import { grants, permissionsOf, type Principal, type Role } from '../../core/access.js';
import { invalid, notFound } from '../../core/errors.js';
import {
  decoyPasswordHash,
  hashPassword,
  newId,
  newTokenSecret,
  tokenHash,
  verifyPassword,
} from '../../infra/crypto/credentials.js';
import type { Logger } from '../../infra/logger.js';
import type { AuditLog } from '../../ops/audit.js';
import {
  validateRoles,
  validateUserName,
  type AccessStore,
  type ApiToken,
  type User,
} from '../../storage/access-store.js';
import type { AuthThrottle } from '../auth-throttle.js';
import type { ApiRequest, ApiResponse, ApiRoute } from '../route.js';
import { AccessDenied, SESSION_COOKIE, Throttled, csrfTokenFor, unauthorized } from './authenticator.js';

export interface AccessRouteDeps {
  readonly access: AccessStore;
  readonly audit: AuditLog | undefined;
  readonly throttle: AuthThrottle;
  /** Logs a refused login (rate-limited by the caller). */
  readonly logFailure: (fields: Record<string, unknown>, message: string) => void;
  readonly sessionMinutes: number;
  /** The API is served over TLS: the session cookie gets `Secure`. */
  readonly secureCookies: boolean;
  readonly now: () => number;
  readonly log: Logger;
}

const MIN_PASSWORD = 12;
const MAX_PASSWORD = 1024;
const MAX_TOKEN_SECONDS = 10 * 366 * 86_400;

export interface UserView {
  readonly name: string;
  readonly roles: readonly Role[];
  readonly regions: readonly string[];
  readonly disabled: boolean;
  readonly createdAt: string;
  readonly lastLoginAt?: string;
}

export type TokenView = Omit<ApiToken, 'hash'>;

export function userView(u: User): UserView {
  return {
    name: u.name,
    roles: u.roles,
    regions: u.regions,
    disabled: u.disabled,
    createdAt: u.createdAt,
    ...(u.lastLoginAt === undefined ? {} : { lastLoginAt: u.lastLoginAt }),
  };
}

export function tokenView(t: ApiToken): TokenView {
  const { hash: _hash, ...view } = t;
  return view;
}

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('body', 'expected a JSON object');
  return body as Record<string, unknown>;
}

function onlyKeys(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw invalid(key, `unknown field; expected one of ${allowed.join(', ')}`);
  }
}

function password(value: unknown, field = 'password'): string {
  if (typeof value !== 'string' || value.length < MIN_PASSWORD || value.length > MAX_PASSWORD) {
    throw invalid(field, `expected a string of ${MIN_PASSWORD} to ${MAX_PASSWORD} characters`);
  }
  return value;
}

function regions(value: unknown): string[] {
  if (value === undefined) return [];
  if (
    !Array.isArray(value) ||
    value.some((r) => typeof r !== 'string' || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(r))
  ) {
    throw invalid('regions', 'expected a list of region ids (1-63 of [a-z0-9-])');
  }
  return [...new Set(value as string[])];
}

function principalOf(req: ApiRequest): Principal {
  if (req.principal === undefined) throw unauthorized('this request needs authentication');
  return req.principal;
}

function cookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

export function accessRoutes(deps: AccessRouteDeps): ApiRoute[] {
  const { access } = deps;
  const iso = (): string => new Date(deps.now()).toISOString();
  const snapshot = () => access.current();
  const existingUser = (name: string | undefined): User => {
    const u = name === undefined ? undefined : snapshot().users.get(name);
    if (u === undefined) throw notFound(`user ${JSON.stringify(name)}`);
    return u;
  };
  const record = async (
    req: ApiRequest,
    action: string,
    target: string,
    before?: unknown,
    after?: unknown,
  ): Promise<void> => {
    if (deps.audit === undefined || req.actor === undefined) return;
    await deps.audit.record({
      actor: req.actor,
      action,
      target,
      ...(before === undefined ? {} : { before }),
      ...(after === undefined ? {} : { after }),
      ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
    });
  };

  const login = async (req: ApiRequest): Promise<ApiResponse> => {
    const ip = req.ip ?? 'unknown';
    const retryAfter = deps.throttle.retryAfterSeconds(ip);
    if (retryAfter > 0) {
      deps.logFailure({ ip, retryAfter }, 'login throttled');
      throw new Throttled(ip, retryAfter);
    }
    const body = objectBody(req.body);
    onlyKeys(body, ['username', 'password']);
    const { username, password: given } = body;
    if (typeof username !== 'string' || username === '') throw invalid('username', 'expected a user name');
    if (typeof given !== 'string' || given === '') throw invalid('password', 'expected a password');
    const user = snapshot().users.get(username);
    // An unknown name costs one scrypt too, so timing does not tell which names exist.
    const ok = await verifyPassword(given, user?.password ?? (await decoyPasswordHash()));
    if (user === undefined || !ok) {
      deps.throttle.failed(ip);
      deps.logFailure({ ip, reason: 'wrong username or password' }, 'login failed');
      throw unauthorized('invalid username or password');
    }
    if (user.disabled) {
      deps.logFailure({ ip, reason: 'disabled user' }, 'login failed');
      throw unauthorized('this account is disabled');
    }
    const secret = newTokenSecret();
    const createdAt = iso();
    const expiresAt = new Date(deps.now() + deps.sessionMinutes * 60_000).toISOString();
    const session: ApiToken = {
      id: newId(),
      user: user.name,
      name: 'session',
      kind: 'session',
      hash: tokenHash(secret),
      roles: user.roles,
      createdAt,
      expiresAt,
    };
    await access.createToken(session);
    await access.replaceUser({ ...user, lastLoginAt: createdAt });
    // Expired sessions would pile up otherwise; a login is a fine moment to sweep them.
    access
      .removeExpired(deps.now())
      .catch((err: unknown) => deps.log.warn({ err }, 'could not remove expired tokens'));
    const csrfToken = csrfTokenFor(secret);
    return {
      status: 201,
      headers: {
        'set-cookie': cookie(secret, deps.sessionMinutes * 60, deps.secureCookies),
        'cache-control': 'no-store',
      },
      body: { token: secret, csrfToken, id: session.id, user: user.name, roles: user.roles, expiresAt },
    };
  };

  const logout = async (req: ApiRequest): Promise<ApiResponse> => {
    const p = principalOf(req);
    if (p.tokenId === 'config') {
      throw invalid(
        'token',
        'the bootstrap token from the configuration cannot be revoked here; remove it from the configuration',
      );
    }
    await access.removeToken(p.tokenId);
    return { headers: { 'set-cookie': cookie('', 0, deps.secureCookies) }, body: { revoked: p.tokenId } };
  };

  const whoami = (req: ApiRequest): ApiResponse => {
    const p = principalOf(req);
    return {
      body: {
        user: p.user,
        token: p.tokenName,
        tokenId: p.tokenId,
        roles: p.roles,
        regions: p.regions,
        permissions: permissionsOf(p.roles),
      },
    };
  };

  const createUser = async (req: ApiRequest): Promise<ApiResponse> => {
    const body = objectBody(req.body);
    onlyKeys(body, ['name', 'password', 'roles', 'regions']);
    const user: User = {
      name: validateUserName(body.name),
      password: await hashPassword(password(body.password)),
      roles: validateRoles(body.roles),
      regions: regions(body.regions),
      disabled: false,
      createdAt: iso(),
    };
    if (user.name === 'config') throw invalid('name', '"config" is reserved for the bootstrap token');
    await access.createUser(user);
    await record(req, 'user.create', `user/${user.name}`, undefined, userView(user));
    return { status: 201, body: userView(user) };
  };

  const updateUser = async (req: ApiRequest): Promise<ApiResponse> => {
    const before = existingUser(req.params.name);
    const body = objectBody(req.body);
    onlyKeys(body, ['password', 'roles', 'regions', 'disabled']);
    if (body.disabled !== undefined && typeof body.disabled !== 'boolean')
      throw invalid('disabled', 'expected true or false');
    const after: User = {
      ...before,
      ...(body.password === undefined ? {} : { password: await hashPassword(password(body.password)) }),
      ...(body.roles === undefined ? {} : { roles: validateRoles(body.roles) }),
      ...(body.regions === undefined ? {} : { regions: regions(body.regions) }),
      ...(body.disabled === undefined ? {} : { disabled: body.disabled }),
    };
    await access.replaceUser(after);
    const changed = body.password === undefined ? {} : { passwordChanged: true };
    await record(req, 'user.update', `user/${after.name}`, userView(before), {
      ...userView(after),
      ...changed,
    });
    return { body: userView(after) };
  };

  const removeUser = async (req: ApiRequest): Promise<ApiResponse> => {
    const before = existingUser(req.params.name);
    await access.removeUser(before.name);
    await record(req, 'user.remove', `user/${before.name}`, userView(before));
    return {};
  };

  const mayManage = (p: Principal): boolean => grants(p, 'manage-access');

  const listTokens = (req: ApiRequest): ApiResponse => {
    const p = principalOf(req);
    const wanted = mayManage(p) ? req.query.user : p.user;
    const tokens = [...snapshot().tokens.values()]
      .filter((t) => wanted === undefined || t.user === wanted)
      .sort(
        (a, b) =>
          a.user.localeCompare(b.user) ||
          a.name.localeCompare(b.name) ||
          a.createdAt.localeCompare(b.createdAt),
      )
      .map(tokenView);
    return { body: { tokens } };
  };

  const createToken = async (req: ApiRequest): Promise<ApiResponse> => {
    const p = principalOf(req);
    const body = objectBody(req.body);
    onlyKeys(body, ['name', 'roles', 'expiresInSeconds', 'user']);
    const name = validateUserName(body.name);
    if (name === 'session') throw invalid('name', '"session" is reserved for login sessions');
    let owner = p.user;
    if (body.user !== undefined) {
      owner = validateUserName(body.user, 'user');
      if (owner !== p.user && !mayManage(p))
        throw new AccessDenied('creating a token for another user needs the "manage-access" permission');
    } else if (p.tokenId === 'config') {
      throw invalid('user', 'the bootstrap token has no user of its own: name the user the token is for');
    }
    const user = existingUser(owner);
    const roles = body.roles === undefined ? [...user.roles] : validateRoles(body.roles);
    const extra = roles.filter((r) => !user.roles.includes(r));
    if (extra.length > 0)
      throw invalid(
        'roles',
        `user ${user.name} does not have ${extra.join(', ')}; a token holds a subset of its user's roles`,
      );
    let expiresAt: string | undefined;
    if (body.expiresInSeconds !== undefined) {
      const s = body.expiresInSeconds;
      if (typeof s !== 'number' || !Number.isInteger(s) || s < 1 || s > MAX_TOKEN_SECONDS) {
        throw invalid(
          'expiresInSeconds',
          `expected a whole number of seconds from 1 to ${MAX_TOKEN_SECONDS}`,
        );
      }
      expiresAt = new Date(deps.now() + s * 1000).toISOString();
    }
    const secret = newTokenSecret();
    const token: ApiToken = {
      id: newId(),
      user: user.name,
      name,
      kind: 'api',
      hash: tokenHash(secret),
      roles,
      createdAt: iso(),
      ...(expiresAt === undefined ? {} : { expiresAt }),
    };
    await access.createToken(token);
    await record(req, 'token.create', `token/${user.name}/${name}`, undefined, tokenView(token));
    return {
      status: 201,
      headers: { 'cache-control': 'no-store' },
      body: { ...tokenView(token), token: secret },
    };
  };

  const revokeToken = async (req: ApiRequest): Promise<ApiResponse> => {
    const p = principalOf(req);
    const token = snapshot().tokens.get(req.params.id ?? '');
    // Someone else's token reads as missing: ids of others' tokens are not confirmed.
    if (token === undefined || (token.user !== p.user && !mayManage(p)))
      throw notFound(`token ${JSON.stringify(req.params.id)}`);
    await access.removeToken(token.id);
    await record(req, 'token.revoke', `token/${token.user}/${token.name}`, tokenView(token));
    return {};
  };

  return [
    { method: 'POST', path: '/v1/login', access: 'public', handler: login },
    { method: 'POST', path: '/v1/logout', access: 'self', handler: logout },
    { method: 'GET', path: '/v1/whoami', access: 'self', handler: whoami },
    {
      method: 'GET',
      path: '/v1/users',
      access: 'manage-access',
      handler: () => ({
        body: {
          users: [...snapshot().users.values()].sort((a, b) => a.name.localeCompare(b.name)).map(userView),
        },
      }),
    },
    { method: 'POST', path: '/v1/users', access: 'manage-access', handler: createUser },
    {
      method: 'GET',
      path: '/v1/users/:name',
      access: 'manage-access',
      handler: (req) => ({ body: userView(existingUser(req.params.name)) }),
    },
    { method: 'PATCH', path: '/v1/users/:name', access: 'manage-access', handler: updateUser },
    { method: 'DELETE', path: '/v1/users/:name', access: 'manage-access', handler: removeUser },
    { method: 'GET', path: '/v1/tokens', access: 'self', handler: listTokens },
    { method: 'POST', path: '/v1/tokens', access: 'self', handler: createToken },
    { method: 'DELETE', path: '/v1/tokens/:id', access: 'self', handler: revokeToken },
  ];
}
