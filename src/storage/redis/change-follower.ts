// How a Redis-backed store keeps its in-memory snapshot fresh, shared by the policy and access
// stores: a change message on the store's pub/sub channel triggers a reload; a cheap poll of the
// version key every `pollMs` catches messages lost across reconnects; a full reload runs every
// `resyncMs`. Reloads are coalesced (one at a time, one more for any request made during a run), so
// a burst of changes costs two loads. The store's `load` reads everything and returns the version
// it loaded; the hot paths only ever read the store's snapshot.
import type { EventEmitter } from 'node:events';
import { describeError } from '../../core/errors.js';
import { CoalescedRun } from '../../infra/coalesced-run.js';
import type { Logger } from '../../infra/logger.js';
import { whenReady, type RedisConnection } from '../../infra/redis/connection.js';

export interface ChangeFollowerOptions {
  readonly redis: RedisConnection;
  /** The subscriber connection; the follower quits it on close. */
  readonly subscriber: RedisConnection;
  readonly channel: string;
  readonly versionKey: string;
  readonly pollMs: number;
  readonly resyncMs: number;
  readonly logger: Logger;
  /** Names the store in log lines and start-up errors (`policy`, `access`). */
  readonly what: string;
  /** Reads the whole store into the snapshot; resolves with the version it read. */
  readonly load: (loadedVersion: number) => Promise<number>;
  /** Turns a failure of the first load into the store's own start-up error. */
  readonly loadError: (err: unknown) => Error;
}

export class ChangeFollower {
  readonly #o: ChangeFollowerOptions;
  readonly #reloads: CoalescedRun;
  #version = -1;
  #timers: NodeJS.Timeout[] = [];
  #closed = false;

  constructor(options: ChangeFollowerOptions) {
    this.#o = options;
    this.#reloads = new CoalescedRun(
      async () => {
        this.#version = await this.#o.load(this.#version);
      },
      () => !this.#closed,
    );
  }

  /** Subscribes, waits for Redis, loads once (rejecting with `loadError` if that fails), then starts the timers. */
  async start(): Promise<void> {
    const { subscriber, channel, logger, what } = this.#o;
    const sub = subscriber as unknown as EventEmitter;
    sub.on('message', (from: string) => {
      if (from === channel) this.requestReload();
    });
    sub.on('error', (err: unknown) => logger.warn({ err: describeError(err) }, `${what} subscriber error`));
    // (Re)subscribe whenever the subscriber connects, then reload: messages may have been lost.
    sub.on('ready', () => this.#subscribe());
    if (subscriber.status === 'ready') this.#subscribe();
    await whenReady(this.#o.redis, `${what} store`);
    try {
      await this.reload();
    } catch (err) {
      throw this.#o.loadError(err);
    }
    const poll = setInterval(() => void this.#poll(), this.#o.pollMs);
    const resync = setInterval(() => this.requestReload(), this.#o.resyncMs);
    poll.unref();
    resync.unref();
    this.#timers.push(poll, resync);
  }

  /** Reloads now (sharing a reload in progress); callers await it after their own writes. */
  reload(): Promise<void> {
    return this.#reloads.run();
  }

  /** Reloads in the background; a failure is logged and the snapshot keeps serving. */
  requestReload(): void {
    if (this.#closed) return;
    this.reload().catch((err: unknown) =>
      this.#o.logger.warn({ err: describeError(err) }, `${this.#o.what} reload failed`),
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.#reloads.current?.catch(() => undefined);
    try {
      await this.#o.subscriber.quit();
    } catch {
      this.#o.subscriber.disconnect();
    }
  }

  #subscribe(): void {
    this.#o.subscriber.subscribe(this.#o.channel).then(
      () => this.requestReload(),
      (err: unknown) =>
        this.#o.logger.warn(
          { err: describeError(err) },
          `${this.#o.what} subscribe failed; polling continues`,
        ),
    );
  }

  async #poll(): Promise<void> {
    if (this.#closed) return;
    try {
      const v = Number((await this.#o.redis.call('GET', [this.#o.versionKey])) ?? 0);
      if (v !== this.#version) this.requestReload();
    } catch {
      // Unreachable: keep serving the snapshot; the next poll tries again.
    }
  }
}
