// The AccessStore contract: users (with password hashes and roles) and API tokens (stored only as
// SHA-256 hashes; login sessions are tokens of kind `session`). One implementation per backend
// (memory/access-store.ts: one node, a JSON file 0600; redis/access-store.ts: shared, with a change
// feed), both passing test/storage/access-store-contract.ts.
//
// Every node keeps the whole set in memory (`current()`), so authenticating a request never waits
// on Redis; a change (a revoked token, a disabled user) reaches every node through the change feed
// within about a second, like any other state.
import { invalid } from '../core/errors.js';
import { isRole, type Role } from '../core/access.js';
import type { PasswordHash } from '../infra/crypto/credentials.js';
import type { SealedRecordSet } from './sealed-records.js';

export interface User {
  /** 1-64 of [a-z0-9._-], starting with a letter or digit. */
  readonly name: string;
  readonly password: PasswordHash;
  readonly roles: readonly Role[];
  /** The regions its `reporter` role may report health for. */
  readonly regions: readonly string[];
  readonly disabled: boolean;
  readonly createdAt: string;
  readonly lastLoginAt?: string;
}

export interface ApiToken {
  readonly id: string;
  readonly user: string;
  /** Unique per user; `session` for every login session. */
  readonly name: string;
  readonly kind: 'api' | 'session';
  /** SHA-256 (hex) of the secret, which is never stored. */
  readonly hash: string;
  /** A subset of its user's roles (checked against the user's current roles on every request). */
  readonly roles: readonly Role[];
  readonly createdAt: string;
  readonly expiresAt?: string;
  readonly lastUsedAt?: string;
}

export interface AccessSnapshot {
  readonly users: ReadonlyMap<string, User>;
  /** By token id. */
  readonly tokens: ReadonlyMap<string, ApiToken>;
  /** By token hash: what authentication looks up. */
  readonly byHash: ReadonlyMap<string, ApiToken>;
}

/** Password hashes are sealed at rest when the node has a key ring (sealed-users.ts). */
export interface AccessStore extends SealedRecordSet {
  readonly kind: 'memory' | 'redis';
  start(): Promise<void>;
  close(): Promise<void>;
  /** This node's in-memory copy; never waits. */
  current(): AccessSnapshot;
  /** E_CONFLICT when the name is taken. */
  createUser(user: User): Promise<void>;
  /** Replaces a user (password, roles, disabled, last login); E_NOT_FOUND when there is none. */
  replaceUser(user: User): Promise<void>;
  /** Removes the user and every token it has; false when there was no such user. */
  removeUser(name: string): Promise<boolean>;
  /** E_NOT_FOUND when its user does not exist; E_CONFLICT when the user has a token of that name. */
  createToken(token: ApiToken): Promise<void>;
  /** False when there was no such token. */
  removeToken(id: string): Promise<boolean>;
  /** Records the last use (no-op for a token that is gone). */
  touchToken(id: string, at: string): Promise<void>;
  /** Removes tokens whose expiry has passed; returns how many. */
  removeExpired(now: number): Promise<number>;
}

const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function validateUserName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !USER_NAME.test(name)) {
    throw invalid(field, 'expected 1-64 of [a-z0-9._-], starting with a letter or digit');
  }
  return name;
}

export function validateRoles(value: unknown, field = 'roles'): Role[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalid(field, 'expected a non-empty list of roles: admin, operator, viewer, reporter');
  }
  const roles: Role[] = [];
  for (const [i, r] of value.entries()) {
    if (!isRole(r)) {
      throw invalid(
        `${field}[${i}]`,
        `unknown role ${JSON.stringify(r)}; expected admin, operator, viewer or reporter`,
      );
    }
    if (!roles.includes(r)) roles.push(r);
  }
  return roles;
}

/** Whether the token can no longer be used at `now` (ms epoch). */
export function isExpired(token: ApiToken, now: number): boolean {
  return token.expiresAt !== undefined && Date.parse(token.expiresAt) <= now;
}

/** Builds the indexes of a snapshot from its users and tokens. */
export function accessSnapshot(users: Iterable<User>, tokens: Iterable<ApiToken>): AccessSnapshot {
  const userMap = new Map<string, User>();
  for (const u of users) userMap.set(u.name, u);
  const tokenMap = new Map<string, ApiToken>();
  const byHash = new Map<string, ApiToken>();
  for (const t of tokens) {
    tokenMap.set(t.id, t);
    byHash.set(t.hash, t);
  }
  return { users: userMap, tokens: tokenMap, byHash };
}

/** Parses a stored token; undefined (skipped, logged by the caller) when it is not one. */
export function parseStoredToken(json: string): ApiToken | undefined {
  try {
    const t = JSON.parse(json) as ApiToken;
    return typeof t.id === 'string' && typeof t.hash === 'string' && typeof t.user === 'string'
      ? t
      : undefined;
  } catch {
    return undefined;
  }
}
