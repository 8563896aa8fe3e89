// The embedded AccessStore: users and token hashes in memory, persisted to one JSON file
// (`<state file>.access.json`, mode 0600) written atomically (temporary file + rename) after every
// change. One node only: the snapshot is the store.
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
import { PRIVATE_FILE_MODE, restrictToOwner } from './private-file.js';

interface AccessFile {
  users: User[];
  tokens: ApiToken[];
}

export class MemoryAccessStore implements AccessStore {
  readonly kind = 'memory' as const;
  private readonly users = new Map<string, User>();
  private readonly tokens = new Map<string, ApiToken>();
  private snapshot: AccessSnapshot = accessSnapshot([], []);
  private io: Promise<void> = Promise.resolve();

  constructor(private readonly options: { readonly file?: string; readonly log?: Logger } = {}) {}

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
    for (const u of data.users ?? []) this.users.set(u.name, u);
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
    if (this.users.has(user.name)) throw conflict(`user ${user.name}`);
    this.users.set(user.name, user);
    await this.commit();
  }

  async replaceUser(user: User): Promise<void> {
    if (!this.users.has(user.name)) throw notFound(`user ${user.name}`);
    this.users.set(user.name, user);
    await this.commit();
  }

  async removeUser(name: string): Promise<boolean> {
    if (!this.users.delete(name)) return false;
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

  private refresh(): void {
    this.snapshot = accessSnapshot(this.users.values(), this.tokens.values());
  }

  /** Publishes the new snapshot at once, then persists (writes queue behind each other). */
  private commit(): Promise<void> {
    this.refresh();
    const file = this.options.file;
    if (file === undefined) return Promise.resolve();
    const write = async (): Promise<void> => {
      const data: AccessFile = { users: [...this.users.values()], tokens: [...this.tokens.values()] };
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
