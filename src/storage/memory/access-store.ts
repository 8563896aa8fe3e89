// The embedded AccessStore: users and token hashes in memory, persisted to one JSON file
// (`<state file>.access.json`, mode 0600) written atomically (temporary file + rename) after every
// change. One node only: the snapshot is the store. With a key ring, password hashes are sealed in
// the file (sealed-users.ts); a user this node cannot open is kept in the file as it is, left out of
// the snapshot (so it cannot log in) and reported by `sealedStatus`.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MeridianError, conflict, describeError, notFound } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import {
  accessSnapshot,
  isExpired,
  type AccessSnapshot,
  type AccessStore,
  type ApiToken,
  type User,
} from '../access-store.js';
import type { KeyRing } from '../../infra/secrets/key-ring.js';
import { noKeyRing, type ResealResult, type SealedStatus } from '../sealed-records.js';
import { decodeUser, encodeUser, userStatus, type DecodedUser } from '../sealed-users.js';
import { PRIVATE_FILE_MODE, restrictToOwner } from './private-file.js';

interface AccessFile {
  /** As stored: password hashes sealed when there is a key ring. */
  users: unknown[];
  tokens: ApiToken[];
}

/** A user as the file holds it, and what opening it gave. */
interface StoredUser {
  readonly json: string;
  readonly decoded: DecodedUser;
}

export class MemoryAccessStore implements AccessStore {
  readonly kind = 'memory' as const;
  private readonly users = new Map<string, User>();
  /** Every stored user by name, readable here or not (unreadable ones are kept, never dropped). */
  private readonly stored = new Map<string, StoredUser>();
  private readonly tokens = new Map<string, ApiToken>();
  private snapshot: AccessSnapshot = accessSnapshot([], []);
  private io: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: {
      readonly file?: string;
      readonly log?: Logger;
      /** Seals password hashes in the file; without it they are stored as they are. */
      readonly keyRing?: KeyRing | undefined;
    } = {},
  ) {}

  async start(): Promise<void> {
    const file = this.options.file;
    if (file === undefined) return;
    await restrictToOwner(file, this.options.log ?? silentLogger);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        await mkdir(dirname(file), { recursive: true });
        return;
      }
      throw new MeridianError(
        'E_UNAVAILABLE',
        `cannot read users and tokens ${file}: ${describeError(err)}`,
        {
          cause: err,
        },
      );
    }
    let data: Partial<AccessFile>;
    try {
      data = JSON.parse(text) as Partial<AccessFile>;
    } catch {
      throw new MeridianError('E_CONFIG', `users and tokens file ${file} is not valid JSON`);
    }
    for (const raw of data.users ?? []) {
      const json = JSON.stringify(raw);
      const decoded = decodeUser(json, this.options.keyRing);
      const name = decoded.ok ? decoded.user.name : (raw as { name?: unknown }).name;
      if (typeof name !== 'string') {
        (this.options.log ?? silentLogger).error({ file }, 'ignoring a stored user without a name');
        continue;
      }
      this.stored.set(name, { json, decoded });
      if (decoded.ok) this.users.set(name, decoded.user);
      else (this.options.log ?? silentLogger).error({ user: name, keyId: decoded.keyId }, decoded.reason);
    }
    for (const t of data.tokens ?? []) this.tokens.set(t.id, t);
    this.refresh();
  }

  async close(): Promise<void> {
    await this.io;
  }

  current(): AccessSnapshot {
    return this.snapshot;
  }

  async createUser(user: User): Promise<void> {
    if (this.stored.has(user.name)) throw conflict(`user ${user.name}`);
    this.setUser(user);
    await this.commit();
  }

  async replaceUser(user: User): Promise<void> {
    if (!this.users.has(user.name)) throw notFound(`user ${user.name}`);
    this.setUser(user);
    await this.commit();
  }

  async removeUser(name: string): Promise<boolean> {
    this.users.delete(name);
    if (!this.stored.delete(name)) return false;
    for (const [id, t] of this.tokens) if (t.user === name) this.tokens.delete(id);
    await this.commit();
    return true;
  }

  async createToken(token: ApiToken): Promise<void> {
    if (!this.users.has(token.user)) throw notFound(`user ${token.user}`);
    if (this.tokens.has(token.id)) throw conflict(`token ${token.id}`);
    if (token.kind === 'api') {
      for (const t of this.tokens.values()) {
        if (t.user === token.user && t.kind === 'api' && t.name === token.name) {
          throw conflict(`token ${token.name} of user ${token.user}`);
        }
      }
    }
    this.tokens.set(token.id, token);
    await this.commit();
  }

  async removeToken(id: string): Promise<boolean> {
    if (!this.tokens.delete(id)) return false;
    await this.commit();
    return true;
  }

  async touchToken(id: string, at: string): Promise<void> {
    const t = this.tokens.get(id);
    if (t === undefined) return;
    this.tokens.set(id, { ...t, lastUsedAt: at });
    await this.commit();
  }

  async removeExpired(now: number): Promise<number> {
    let removed = 0;
    for (const [id, t] of this.tokens) {
      if (isExpired(t, now)) {
        this.tokens.delete(id);
        removed++;
      }
    }
    if (removed > 0) await this.commit();
    return removed;
  }

  sealedStatus(): SealedStatus {
    return { name: 'users', ...userStatus([...this.stored].map(([n, s]) => [n, s.decoded] as const)) };
  }

  async reseal(): Promise<ResealResult> {
    const ring = this.options.keyRing;
    if (ring === undefined) throw noKeyRing();
    let resealed = 0;
    let current = 0;
    let skipped = 0;
    for (const { decoded } of this.stored.values()) {
      if (!decoded.ok) skipped++;
      else if (decoded.keyId === ring.activeKeyId) current++;
      else {
        this.setUser(decoded.user);
        resealed++;
      }
    }
    if (resealed > 0) await this.commit();
    return { name: 'users', resealed, current, skipped };
  }

  /** Keeps a readable user and its stored (sealed) form. */
  private setUser(user: User): void {
    const ring = this.options.keyRing;
    this.users.set(user.name, user);
    this.stored.set(user.name, {
      json: encodeUser(user, ring),
      decoded: { ok: true, user, keyId: ring?.activeKeyId },
    });
  }

  private refresh(): void {
    this.snapshot = accessSnapshot(this.users.values(), this.tokens.values());
  }

  /** Publishes the new snapshot at once, then persists (writes queue behind each other). */
  private commit(): Promise<void> {
    this.refresh();
    const file = this.options.file;
    if (file === undefined) return Promise.resolve();
    const write = async (): Promise<void> => {
      const data: AccessFile = {
        users: [...this.stored.values()].map((u) => JSON.parse(u.json) as unknown),
        tokens: [...this.tokens.values()],
      };
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`, {
        encoding: 'utf8',
        mode: PRIVATE_FILE_MODE,
      });
      await rename(tmp, file);
    };
    const run = this.io.then(write, write);
    this.io = run.catch(() => undefined);
    return run.catch((err: unknown) => {
      throw new MeridianError(
        'E_UNAVAILABLE',
        `cannot write users and tokens ${file}: ${describeError(err)}`,
        {
          cause: err,
        },
      );
    });
  }
}
