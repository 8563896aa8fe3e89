// Lua scripts run with EVALSHA, falling back to EVAL once when Redis does not know the script yet
// (first use, or after a Redis restart).
import { createHash } from 'node:crypto';
import { describeError } from '../../core/errors.js';
import type { RedisConnection } from './connection.js';

export type { RedisConnection } from './connection.js';

export class LuaScript {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(
    conn: RedisConnection,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await conn.call('EVALSHA', [this.sha, keys.length, ...keys, ...args]);
    } catch (err) {
      if (!describeError(err).startsWith('NOSCRIPT')) throw err;
      return conn.call('EVAL', [this.lua, keys.length, ...keys, ...args]);
    }
  }
}
