// The shared StateStore on Redis (standalone, Sentinel or Cluster): the class that wires its parts.
//
//   state-keys.ts        the key layout
//   state-scripts.ts     the Lua scripts: every write is one atomic script that also bumps the
//                        region's revision, appends the audit entry and publishes the change
//   state-writes.ts      the writes (validation, audit entries, compare-and-set retries)
//   state-sync.ts        the snapshot: change feed, full resyncs, revisions, the epoch check
//   state-outage.ts      heartbeat, health clock freeze, lost data, degraded reasons
//   state-replies.ts     parsing script replies and change messages, reviving stored records
//   state-connection.ts  the two connections and the E_UNAVAILABLE error
//
// Availability: `current()` always serves the last snapshot. Writes fail fast with E_UNAVAILABLE
// when Redis is unreachable (no offline queue, per-command timeout); reconnection is automatic with
// capped exponential backoff. `start()` resolves once the first full load is done and fails with
// E_UNAVAILABLE if that has not happened within `startTimeoutMs` (default 5 s): a node must not come
// up serving an empty state as if it were real.
import { randomBytes } from 'node:crypto';
import type {
  Backend,
  BackendInput,
  BackendPatch,
  ChangeEvent,
  HealthReport,
  Region,
  RegionInput,
  RegionPatch,
  Snapshot,
  WriteContext,
} from '../../core/types.js';
import { MeridianError, conflict, describeError, isMeridianError, notFound } from '../../core/errors.js';
import type { DeepReadonly } from '../../config/load.js';
import type { StateConfig } from '../../config/schema.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import type { ChangeListener, ReseedResult, StateStore, StoreStatus } from '../state-store.js';
import { redisKeys, regionScriptKeys, type RedisKeys } from './state-keys.js';
import { RESEED, reseedPayload, runScript, type Script } from './state-scripts.js';
import { connect, describeTarget, unavailable, type Connection } from './state-connection.js';
import { parseRegionState } from './state-replies.js';
import { HEARTBEAT_MS, OutageTracker } from './state-outage.js';
import { StateSync } from './state-sync.js';
import { RedisStateWrites } from './state-writes.js';

export interface RedisStateStoreOptions {
  redis: DeepReadonly<StateConfig['redis']>;
  logger?: Logger;
  now?: () => number;
  /** Names this node in change messages (default: random). */
  nodeId?: string;
  /** How long `start()` waits for the first full load (default 5000 ms). */
  startTimeoutMs?: number;
}

export class RedisStateStore implements StateStore {
  private readonly cfg: DeepReadonly<StateConfig['redis']>;
  private readonly keys: RedisKeys;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly origin: string;
  private readonly startTimeoutMs: number;
  private readonly target: string;
  private readonly outage: OutageTracker;
  private readonly sync: StateSync;
  private readonly writes: RedisStateWrites;
  private main: Connection | undefined;
  private sub: Connection | undefined;

  private started = false;
  private closed = false;
  private resyncTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;

  constructor(options: RedisStateStoreOptions) {
    this.cfg = options.redis;
    this.keys = redisKeys(options.redis.keyPrefix);
    this.now = options.now ?? Date.now;
    // Unique per instance, so a node ignores exactly its own messages even if two share a nodeId.
    this.origin = `${options.nodeId ?? 'node'}#${randomBytes(6).toString('hex')}`;
    this.startTimeoutMs = options.startTimeoutMs ?? 5000;
    this.target = describeTarget(options.redis);
    this.logger = (options.logger ?? silentLogger).child({ component: 'state', store: 'redis' });
    this.outage = new OutageTracker({
      target: this.target,
      logger: this.logger,
      now: this.now,
      commandTimeoutMs: this.cfg.commandTimeoutMs,
    });
    this.sync = new StateSync({
      keys: this.keys,
      logger: this.logger,
      now: this.now,
      origin: this.origin,
      target: this.target,
      outage: this.outage,
      isLive: () => this.started && !this.closed,
      isClosed: () => this.closed,
    });
    this.writes = new RedisStateWrites({
      keys: this.keys,
      now: this.now,
      hget: (key, field) => this.hget(key, field),
      mutate: (regionId, script, args, event, audit) => this.mutate(regionId, script, args, event, audit),
    });
  }

  async start(): Promise<void> {
    if (this.started) return;
    if (this.closed) throw unavailable('closed');
    const firstLoad = this.sync.firstLoaded();
    const { main, sub } = connect(this.cfg, this.logger);
    this.main = main;
    this.sub = sub;
    this.sync.wire(main, sub);

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          unavailable(
            `could not load state from ${this.target} within ${this.startTimeoutMs} ms` +
              (this.sync.lastError === '' ? '' : `: ${this.sync.lastError}`),
          ),
        );
      }, this.startTimeoutMs);
    });
    try {
      await Promise.race([firstLoad, timeout]);
    } catch (err) {
      await this.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    this.started = true;
    this.sync.started();
    this.resyncTimer = setInterval(() => {
      if (this.main?.status === 'ready') this.sync.requestResync('periodic');
    }, this.cfg.resyncSeconds * 1000);
    this.resyncTimer.unref();
    this.heartbeatTimer = setInterval(() => {
      if (this.main === undefined || this.closed) return;
      this.outage.heartbeat(this.main, {
        freezeHealth: (why) => this.sync.freezeHealth(why),
        requestResync: (reason) => this.sync.requestResync(reason),
      });
    }, HEARTBEAT_MS);
    this.heartbeatTimer.unref();
    this.logger.info(
      { target: this.target, regions: this.sync.snapshot.regions.size },
      'state loaded from Redis',
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.resyncTimer !== undefined) clearInterval(this.resyncTimer);
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    const conns = [this.sub, this.main].filter((c): c is Connection => c !== undefined);
    await Promise.all(
      conns.map(async (c) => {
        if (c.status === 'ready') await c.quit().catch(() => undefined);
        c.disconnect();
      }),
    );
    await this.sync.close();
  }

  current(): Snapshot {
    return this.sync.snapshot;
  }

  onChange(listener: ChangeListener): () => void {
    this.sync.listeners.add(listener);
    return () => {
      this.sync.listeners.delete(listener);
    };
  }

  status(): StoreStatus {
    const now = this.now();
    const connected = this.started && !this.closed && this.main?.status === 'ready' && !this.outage.hung;
    const live = this.started && !this.closed;
    return {
      kind: 'redis',
      connected,
      ...this.sync.feedStatus(now),
      degraded: live ? this.outage.degradedReasons(connected, now, this.sync.lastError) : [],
      ...this.outage.status(now),
    };
  }

  /**
   * Writes this node's snapshot to Redis under a new epoch that continues the old one (see "Lost
   * data" in state-outage.ts), then reloads. Health reports go back as they were before the freeze.
   */
  async reseed(options: { force?: boolean } = {}): Promise<ReseedResult> {
    if (this.closed) throw unavailable('closed');
    const main = this.main;
    if (!this.started || main?.status !== 'ready' || this.outage.hung) {
      throw unavailable(`not connected to ${this.target}: a reseed needs a reachable Redis`);
    }
    if (this.outage.dataLost === undefined && options.force !== true) {
      throw new MeridianError(
        'E_CONFLICT',
        `${this.target} still holds this node's epoch ${this.sync.epoch ?? '(none)'}: nothing was lost, and a reseed ` +
          "would overwrite the fleet's current state with this node's view (force it with force: true / --force)",
      );
    }
    const snapshot = this.sync.snapshot;
    const payload = reseedPayload(snapshot, this.outage.healthBeforeFreeze ?? snapshot.health);
    const epoch = randomBytes(8).toString('hex');
    const previous = this.sync.epoch;
    const continues = [
      ...this.sync.lineage,
      ...(previous === undefined || previous === '' ? [] : [previous]),
    ];
    const message = JSON.stringify({
      v: 1,
      kind: 'resync',
      op: 'resync',
      origin: this.origin,
      at: this.now(),
    });
    const k = this.keys;
    try {
      await runScript(
        main,
        RESEED,
        [k.regions, k.rev, k.epoch, k.lineage],
        [k.backendsBase, k.healthBase, epoch, k.channel, message, payload.json, epoch, ...continues],
      );
    } catch (err) {
      throw unavailable(`${this.target}: ${describeError(err)}`, err);
    }
    this.logger.warn(
      { target: this.target, epoch, previous, regions: payload.regions },
      'state store reseeded from this node',
    );
    this.sync.reseeded(epoch, [...continues, epoch]);
    this.outage.clearDataLoss();
    await this.sync.runResync();
    return { epoch, regions: payload.regions, backends: payload.backends, healthReports: payload.reports };
  }

  resync(): Promise<void> {
    if (this.closed) return Promise.reject(unavailable('closed'));
    if (this.main?.status !== 'ready') return Promise.reject(unavailable(`not connected to ${this.target}`));
    return this.sync.runResync();
  }

  // --- writes (state-writes.ts) -----------------------------------------------------------------

  createRegion(input: RegionInput, context?: WriteContext): Promise<Region> {
    return this.writes.createRegion(input, context);
  }

  updateRegion(id: string, patch: RegionPatch, context?: WriteContext): Promise<Region> {
    return this.writes.updateRegion(id, patch, context);
  }

  removeRegion(id: string, context?: WriteContext): Promise<void> {
    return this.writes.removeRegion(id, context);
  }

  createBackend(regionId: string, input: BackendInput, context?: WriteContext): Promise<Backend> {
    return this.writes.createBackend(regionId, input, context);
  }

  updateBackend(regionId: string, id: string, patch: BackendPatch, context?: WriteContext): Promise<Backend> {
    return this.writes.updateBackend(regionId, id, patch, context);
  }

  removeBackend(regionId: string, id: string, context?: WriteContext): Promise<void> {
    return this.writes.removeBackend(regionId, id, context);
  }

  reportHealth(report: HealthReport): Promise<void> {
    return this.writes.reportHealth(report);
  }

  // --- running writes ---------------------------------------------------------------------------

  private writable(): Connection {
    if (this.closed) throw unavailable('closed');
    if (!this.started || this.main === undefined) throw unavailable('start() was not called');
    if (this.main.status !== 'ready') {
      throw unavailable(
        `not connected to ${this.target}${this.sync.lastError === '' ? '' : ` (${this.sync.lastError})`}`,
      );
    }
    if (this.outage.dataLost !== undefined) {
      throw unavailable(
        `${this.target} lost the fleet's state (epoch ${this.outage.dataLost.expectedEpoch} is gone); ` +
          "writes are refused until `meridian state reseed --from-node` writes a node's snapshot back",
      );
    }
    // Fail fast instead of waiting for the command timeout; the heartbeat notices the recovery.
    if (this.outage.hung) throw unavailable(`${this.target} does not answer`);
    if (this.outage.frozenSince !== undefined)
      throw unavailable(`reloading the state from ${this.target} after an outage`);
    return this.main;
  }

  private async hget(key: string, field: string): Promise<string | null> {
    const conn = this.writable();
    try {
      const v = await conn.call('HGET', [key, field]);
      return typeof v === 'string' ? v : null;
    } catch (err) {
      throw unavailable(`${this.target}: ${describeError(err)}`, err);
    }
  }

  /**
   * Runs a region write script and applies the region's new state locally.
   * @returns false when a compare-and-set lost against a concurrent write (the caller retries).
   */
  private async mutate(
    regionId: string,
    script: Script,
    args: (string | number)[],
    event: ChangeEvent,
    /** The audit entry JSON for the stream; '' = not audited. */
    audit = '',
  ): Promise<boolean> {
    let conn: Connection;
    try {
      conn = this.writable();
    } catch (err) {
      this.outage.writeFailed();
      throw err;
    }
    const message = JSON.stringify({ v: 1, ...event, origin: this.origin, at: this.now() });
    let reply: unknown;
    try {
      reply = await runScript(conn, script, regionScriptKeys(this.keys, regionId), [
        regionId,
        this.keys.channel,
        message,
        // The candidate is fresh every time: if Redis lost its data, the new epoch must differ from
        // every earlier one. The expected epoch makes the write fail if Redis lost its data.
        `${randomBytes(8).toString('hex')}|${this.sync.epoch ?? ''}`,
        ...args,
        audit,
      ]);
    } catch (err) {
      this.outage.writeFailed();
      throw unavailable(`${this.target}: ${describeError(err)}`, err);
    }
    this.outage.answered();
    const status: unknown = Array.isArray(reply) ? reply[0] : undefined;
    if (status !== 'epoch-changed') this.outage.writeSucceeded();
    switch (status) {
      case 'ok':
        this.sync.applyRegionState(regionId, parseRegionState(reply as unknown[]), event);
        return true;
      case 'epoch-changed':
        this.outage.writeFailed();
        this.sync.requestResync('a write found another epoch');
        throw unavailable(
          `${this.target} no longer holds epoch ${this.sync.epoch ?? ''} (it lost its data or was reseeded); nothing was written`,
        );
      case 'retry':
        return false;
      case 'conflict':
        throw conflict(
          event.kind === 'region' ? `region ${regionId}` : `backend ${event.id ?? ''} in region ${regionId}`,
        );
      case 'region-not-found':
        throw notFound(`region ${regionId}`);
      case 'backend-not-found':
        throw notFound(`backend ${event.id ?? ''} in region ${regionId}`);
      default:
        throw new MeridianError('E_INTERNAL', `unexpected reply from Redis script: ${JSON.stringify(reply)}`);
    }
  }
}

/** Whether an error means the store could not be reached (for callers deciding whether to retry). */
export function isUnavailable(err: unknown): boolean {
  return isMeridianError(err) && err.code === 'E_UNAVAILABLE';
}
