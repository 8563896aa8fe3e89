// Who is calling: turns the request's credentials into a Principal, from this node's in-memory copy
// of users and tokens (AccessStore.current()), so authentication never waits on Redis.
//   - `Authorization: Bearer <token>`: the bootstrap token from the configuration (api.token /
//     MERIDIAN_API_TOKEN, an `admin` named `token:config` in the audit), or a stored API or session
//     token, looked up by its SHA-256.
//   - the `meridian_session` cookie from POST /v1/login (for a browser console); unsafe methods then
//     also need the session's CSRF token in `X-CSRF-Token`.
// Refusals never say whether a user exists: an unknown token and a revoked one read the same.
import { createHash, timingSafeEqual } from 'node:crypto';
import { MeridianError } from '../../core/errors.js';
import type { Principal, Role } from '../../core/access.js';
import { tokenHash } from '../../infra/crypto/credentials.js';
import type { Logger } from '../../infra/logger.js';
import { isExpired, type AccessStore } from '../../storage/access-store.js';

export const SESSION_COOKIE = 'meridian_session';
export const CSRF_HEADER = 'x-csrf-token';

/** The bootstrap token's identity: an admin with no user record (documented as such). */
export const BOOTSTRAP_PRINCIPAL: Principal = {
  user: 'config',
  tokenName: 'config',
  tokenId: 'config',
  roles: ['admin'],
  regions: [],
};

/** A 401: the caller is not (or no longer) authenticated. */
export function unauthorized(message: string): MeridianError {
  return new MeridianError('E_UNAUTHORIZED', message);
}

/** The CSRF token of a session: derived from its secret, so nothing more is stored. */
export function csrfTokenFor(sessionSecret: string): string {
  return createHash('sha256').update(`meridian-csrf:${sessionSecret}`).digest('base64url');
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function sameText(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** A token's last use is written at most this often per node (not on every request). */
const TOUCH_EVERY_MS = 60_000;

export interface AuthenticatorOptions {
  readonly configToken: string | undefined;
  readonly access: AccessStore | undefined;
  readonly now: () => number;
  readonly log: Logger;
}

export interface Credentials {
  readonly method: string;
  readonly authorization: string | undefined;
  readonly cookie: string | undefined;
  readonly csrf: string | undefined;
}

export interface Authenticated {
  readonly principal: Principal;
  /** The secret presented (only to revoke it on logout); never logged or stored. */
  readonly secret: string;
}

export class Authenticator {
  readonly #configDigest: Buffer | undefined;
  readonly #access: AccessStore | undefined;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #touched = new Map<string, number>();

  constructor(options: AuthenticatorOptions) {
    const token = options.configToken;
    this.#configDigest = token === undefined || token === '' ? undefined : digest(token);
    this.#access = options.access;
    this.#now = options.now;
    this.#log = options.log;
  }

  /** Throws E_UNAUTHORIZED (401) naming the reason, or a 403 for a missing CSRF token. */
  authenticate(credentials: Credentials): Authenticated {
    const header = credentials.authorization;
    if (header !== undefined) {
      const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
      if (match === null) throw unauthorized('this request needs an "Authorization: Bearer <token>" header');
      return this.#bearer(match[1] ?? '', 'api');
    }
    const session = cookieValue(credentials.cookie, SESSION_COOKIE);
    if (session !== undefined && session !== '') {
      const found = this.#bearer(session, 'session');
      if (!SAFE_METHODS.has(credentials.method)) {
        const csrf = credentials.csrf;
        if (csrf === undefined || !sameText(csrf, csrfTokenFor(session))) {
          throw new AccessDenied(
            `a session cookie needs its CSRF token in the ${CSRF_HEADER} header for ${credentials.method}`,
          );
        }
      }
      return found;
    }
    this.#refuseWhenNothingConfigured();
    throw unauthorized('this request needs an "Authorization: Bearer <token>" header or a login session');
  }

  /** With no bootstrap token and no users nothing can authenticate: say how to set one up. */
  #refuseWhenNothingConfigured(): void {
    if (this.#configDigest === undefined && (this.#access?.current().users.size ?? 0) === 0) {
      throw unauthorized(
        'no API token is configured and there are no users: set MERIDIAN_API_TOKEN (or api.token in the config), restart, then create users with `meridian user add`',
      );
    }
  }

  #bearer(secret: string, via: 'api' | 'session'): Authenticated {
    this.#refuseWhenNothingConfigured();
    if (
      via === 'api' &&
      this.#configDigest !== undefined &&
      timingSafeEqual(digest(secret), this.#configDigest)
    ) {
      return { principal: BOOTSTRAP_PRINCIPAL, secret };
    }
    const snapshot = this.#access?.current();
    const token = snapshot?.byHash.get(tokenHash(secret));
    if (snapshot === undefined || token === undefined || (via === 'session' && token.kind !== 'session')) {
      throw unauthorized(
        via === 'session' ? 'invalid or expired login session' : 'invalid or revoked API token',
      );
    }
    const now = this.#now();
    if (isExpired(token, now)) {
      throw unauthorized(
        token.kind === 'session' ? 'login session expired; log in again' : 'API token expired',
      );
    }
    const user = snapshot.users.get(token.user);
    if (user === undefined || user.disabled) throw unauthorized("the token's user is disabled");
    // A token never holds more than its user holds now: taking a role from the user takes it from
    // every token at once.
    const roles: Role[] = token.roles.filter((r) => user.roles.includes(r));
    this.#touch(token.id, now);
    return {
      principal: { user: user.name, tokenName: token.name, tokenId: token.id, roles, regions: user.regions },
      secret,
    };
  }

  /** Records the last use in the background, at most once a minute per token; never blocks. */
  #touch(id: string, now: number): void {
    const last = this.#touched.get(id);
    if (last !== undefined && now - last < TOUCH_EVERY_MS) return;
    this.#touched.set(id, now);
    if (this.#touched.size > 10_000) {
      for (const [k, t] of this.#touched) if (now - t >= TOUCH_EVERY_MS) this.#touched.delete(k);
    }
    this.#access?.touchToken(id, new Date(now).toISOString()).catch((err: unknown) => {
      this.#log.debug({ err, token: id }, 'could not record a token use');
    });
  }
}

/** A 403: authenticated, but not allowed. Mapped by the server to `{ error: { code: 'E_FORBIDDEN' } }`. */
export class AccessDenied extends Error {
  readonly code = 'E_FORBIDDEN';
  constructor(message: string) {
    super(message);
    this.name = 'AccessDenied';
  }
}

/** A 429: too many failed authentications from this address (see AuthThrottle). */
export class Throttled extends Error {
  readonly code = 'E_RATE_LIMITED';
  constructor(
    address: string,
    readonly retryAfterSeconds: number,
  ) {
    super(`too many failed authentications from ${address}; retry in ${retryAfterSeconds} s`);
    this.name = 'Throttled';
  }
}
