// Keeps one node's snapshot of the Redis state current: the change feed (a subscriber connection
// whose messages make this node re-read just the region that changed), full resyncs (after
// (re)subscribing, after the command connection reconnects, every `resyncSeconds`, and on demand),
// the per-region revisions that keep reordered replies from rolling state back, and the epoch check
// that tells a reseed (accepted) from lost data (refused; see state-outage.ts).
import type { ChangeEvent, Snapshot } from '../../core/types.js';
import { EMPTY_SNAPSHOT } from '../../core/types.js';
import { MeridianError, describeError } from '../../core/errors.js';
import type { Logger } from '../../infra/logger.js';
import type { ChangeListener } from '../state-store.js';
import {
  RESYNC_EVENT,
  SnapshotBuilder,
  notifyListeners,
  sameContent,
  withSyncedAt,
} from '../snapshot-codec.js';
import type { RedisKeys } from './state-keys.js';
import { READ_ALL, READ_REGION, runScript } from './state-scripts.js';
import { unavailable, type Connection } from './state-connection.js';
import {
  asStrings,
  decodeRegion,
  pairs,
  parseMessage,
  parseRegionState,
  type DecodedRegion,
  type RegionState,
} from './state-replies.js';
import type { OutageTracker } from './state-outage.js';

export interface StateSyncOptions {
  keys: RedisKeys;
  logger: Logger;
  now: () => number;
  /** This store instance's name in change messages: its own messages are ignored. */
  origin: string;
  /** Names Redis in logs and errors. */
  target: string;
  outage: OutageTracker;
  /** Whether the store was started and not closed yet (health is only frozen then). */
  isLive: () => boolean;
  isClosed: () => boolean;
}

export class StateSync {
  private snapshotNow: Snapshot = EMPTY_SNAPSHOT;
  readonly listeners = new Set<ChangeListener>();
  /** Revision applied per region (including removed ones) within `epoch`. */
  private revs = new Map<string, number>();
  private epochNow: string | undefined;
  /** Epochs the current one continues (from the lineage set). */
  private lineageNow = new Set<string>();
  private main: Connection | undefined;
  private subscribed = false;
  private resyncs = 0;
  private lastSyncAt = 0;
  private changeFeedLagMs = 0;
  private resyncRunning: Promise<void> | undefined;
  private resyncAgain = false;
  private lastErrorText = '';
  private wasConnected = false;
  private firstLoad: { resolve: () => void; promise: Promise<void> } | undefined;

  constructor(private readonly options: StateSyncOptions) {}

  get snapshot(): Snapshot {
    return this.snapshotNow;
  }

  /** The fleet epoch this node's snapshot belongs to ('' before the first write ever). */
  get epoch(): string | undefined {
    return this.epochNow;
  }

  get lineage(): ReadonlySet<string> {
    return this.lineageNow;
  }

  /** The last connection error ('' while connected). */
  get lastError(): string {
    return this.lastErrorText;
  }

  /** Resolves after the first full load that follows subscribing (what `start()` waits for). */
  firstLoaded(): Promise<void> {
    let resolve: () => void = () => undefined;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    this.firstLoad = { resolve, promise };
    return promise;
  }

  /** `start()` is done waiting for the first load. */
  started(): void {
    this.firstLoad = undefined;
  }

  feedStatus(now: number): { snapshotAgeMs: number; resyncs: number; changeFeedLagMs: number } {
    return {
      snapshotAgeMs: this.lastSyncAt === 0 ? 0 : Math.max(0, now - this.lastSyncAt),
      resyncs: this.resyncs,
      changeFeedLagMs: this.changeFeedLagMs,
    };
  }

  /** Waits for a running resync and drops the listeners (the store is closing). */
  async close(): Promise<void> {
    await this.resyncRunning?.catch(() => undefined);
    this.listeners.clear();
  }

  publish(next: Snapshot, event: ChangeEvent): void {
    this.snapshotNow = next;
    notifyListeners(this.listeners, next, event, (err) => {
      this.options.logger.error({ err: describeError(err), change: event }, 'state change listener threw');
    });
  }

  /** Freezes the health clock (see state-outage.ts) and publishes the frozen snapshot. */
  freezeHealth(why: string): void {
    if (!this.options.isLive()) return;
    const frozen = this.options.outage.freeze(this.snapshotNow, why);
    if (frozen !== undefined) this.publish(frozen, RESYNC_EVENT);
  }

  /** This node wrote its snapshot back under `epoch`, continuing `lineage` (see reseed()). */
  reseeded(epoch: string, lineage: Iterable<string>): void {
    this.epochNow = epoch;
    this.lineageNow = new Set(lineage);
    this.revs = new Map();
  }

  private decode(state: RegionState, regionId: string): DecodedRegion {
    const outage = this.options.outage;
    return decodeRegion(state, regionId, {
      now: this.options.now(),
      logger: this.options.logger,
      extend: (report) => outage.extendAcrossOutages(report),
    });
  }

  /** Applies one region's state if it is newer than what this node has. */
  applyRegionState(regionId: string, state: RegionState, event: ChangeEvent, sentAt?: number): void {
    if (this.options.outage.frozenSince !== undefined) {
      // Health is frozen (outage or lost data): only a full load may end that.
      this.requestResync('change while health is frozen');
      return;
    }
    if (state.epoch !== this.epochNow) {
      if (this.epochNow !== undefined && this.epochNow !== '') {
        // Lost data or a reseed: the full load decides whether to accept the new epoch.
        this.requestResync('epoch changed');
        return;
      }
      // The first write ever set the epoch.
      this.epochNow = state.epoch;
      this.revs = new Map();
    }
    const known = this.revs.get(regionId);
    if (known !== undefined && state.rev <= known) return;
    this.revs.set(regionId, state.rev);
    const { region, backends, health } = this.decode(state, regionId);
    const b = new SnapshotBuilder(this.snapshotNow);
    if (region === undefined) {
      if (!this.snapshotNow.regions.has(regionId)) return;
      b.deleteRegion(regionId);
    } else {
      b.setRegion(region).replaceBackends(regionId, backends).replaceHealth(regionId, health);
    }
    if (sentAt !== undefined) this.changeFeedLagMs = Math.max(0, this.options.now() - sentAt);
    this.publish(b.build(), event);
  }

  /** Listens to both connections: errors, reconnects (resync), the change feed. */
  wire(main: Connection, sub: Connection): void {
    this.main = main;
    const onError = (which: string) => (err: unknown) => {
      const text = describeError(err);
      if (text !== this.lastErrorText) {
        this.options.logger.warn(
          { target: this.options.target, connection: which, err: text },
          'Redis connection error',
        );
      }
      this.lastErrorText = text;
    };
    main.on('error', onError('command'));
    sub.on('error', onError('subscriber'));
    main.on('ready', () => {
      this.lastErrorText = '';
      if (this.wasConnected)
        this.options.logger.info({ target: this.options.target }, 'reconnected to Redis');
      this.wasConnected = true;
      if (this.subscribed) this.requestResync('reconnected');
    });
    main.on('close', () => {
      if (this.wasConnected && !this.options.isClosed()) {
        this.options.logger.warn(
          { target: this.options.target },
          'lost the Redis connection: serving the last snapshot',
        );
        this.freezeHealth('connection closed');
      }
    });
    sub.on('close', () => {
      this.subscribed = false;
    });
    sub.on('ready', () => {
      sub
        .subscribe(this.options.keys.channel)
        .then(() => {
          this.subscribed = true;
          // Messages may have been lost while the subscriber was away.
          this.requestResync('subscribed');
        })
        .catch((err: unknown) => {
          onError('subscriber')(err);
        });
    });
    sub.on('message', (channel: string, text: string) => {
      if (channel === this.options.keys.channel) this.onMessage(text);
    });
  }

  private onMessage(text: string): void {
    const m = parseMessage(text);
    if (m === undefined) {
      this.options.logger.warn({ message: text.slice(0, 200) }, 'ignoring a malformed change message');
      return;
    }
    if (m.origin === this.options.origin || this.options.isClosed()) return;
    const event: ChangeEvent = {
      kind: m.kind,
      op: m.op,
      ...(m.regionId === undefined ? {} : { regionId: m.regionId }),
      ...(m.id === undefined ? {} : { id: m.id }),
    };
    if (m.kind === 'resync' || m.regionId === undefined) {
      this.requestResync('requested by a peer');
      return;
    }
    const main = this.main;
    if (main?.status !== 'ready') return; // the resync after reconnecting catches up
    const regionId = m.regionId;
    const k = this.options.keys;
    runScript(
      main,
      READ_REGION,
      [k.regions, k.rev, k.backends(regionId), k.health(regionId), k.epoch],
      [regionId],
    )
      .then((reply) => {
        if (this.options.isClosed() || !Array.isArray(reply)) return;
        this.applyRegionState(regionId, parseRegionState(reply), event, m.at);
      })
      .catch((err: unknown) => {
        this.options.logger.warn(
          { regionId, err: describeError(err) },
          'could not read a changed region: resyncing',
        );
        this.requestResync('region read failed');
      });
  }

  /** Whether a full load holding `epoch` may replace this node's snapshot (state-outage.ts decides). */
  private acceptEpoch(epoch: string, lineage: ReadonlySet<string>): boolean {
    const regions = this.snapshotNow.regions.size;
    if (!this.options.outage.acceptEpoch(this.epochNow, epoch, lineage, regions)) {
      this.freezeHealth('the store lost its data');
      return false;
    }
    this.lineageNow = new Set(lineage);
    return true;
  }

  /** Starts a resync, or schedules one more if one is running. Never rejects. */
  requestResync(reason: string): void {
    if (this.options.isClosed()) return;
    this.options.logger.debug({ reason }, 'resync requested');
    this.runResync().catch((err: unknown) => {
      this.options.logger.warn(
        { reason, err: describeError(err) },
        'resync failed: serving the last snapshot',
      );
    });
  }

  /** Runs a full load, or joins the running one and runs one more after it. */
  runResync(): Promise<void> {
    if (this.resyncRunning !== undefined) {
      this.resyncAgain = true;
      return this.resyncRunning;
    }
    const run = async (): Promise<void> => {
      try {
        do {
          this.resyncAgain = false;
          try {
            await this.loadAll();
          } catch (err) {
            // A resync requested while this one ran (e.g. the connection just came back) must
            // not be lost with this failure: run it.
            if (!this.resyncAgain || this.options.isClosed()) throw err;
            this.options.logger.debug(
              { err: describeError(err) },
              'resync failed; running the one requested meanwhile',
            );
          }
        } while (this.resyncAgain && !this.options.isClosed());
      } finally {
        this.resyncRunning = undefined;
      }
    };
    this.resyncRunning = run();
    return this.resyncRunning;
  }

  private async loadAll(): Promise<void> {
    const main = this.main;
    if (main === undefined || this.options.isClosed()) return;
    const wasSubscribed = this.subscribed;
    const k = this.options.keys;
    let reply: unknown;
    try {
      reply = await runScript(
        main,
        READ_ALL,
        [k.regions, k.rev, k.epoch, k.lineage],
        [k.backendsBase, k.healthBase],
      );
    } catch (err) {
      throw unavailable(`${this.options.target}: ${describeError(err)}`, err);
    }
    if (this.options.isClosed()) return;
    if (!Array.isArray(reply))
      throw new MeridianError('E_INTERNAL', 'unexpected reply to the state load script');
    const [epochRaw, revsFlat, entries, lineageRaw] = reply as unknown[];
    const epoch = typeof epochRaw === 'string' ? epochRaw : '';
    this.options.outage.answered();
    if (!this.acceptEpoch(epoch, new Set(asStrings(lineageRaw)))) return;
    this.options.outage.thaw();
    const sameEpoch = epoch === this.epochNow;
    const remoteRevs = new Map<string, number>();
    for (const [id, rev] of pairs(asStrings(revsFlat))) remoteRevs.set(id, Number(rev));

    // Keep a region as this node has it only if this node already applied a newer revision of it
    // (a write or message that raced with this read); otherwise Redis's copy wins.
    const local = this.snapshotNow;
    const newer = (id: string, rev: number): boolean => sameEpoch && (this.revs.get(id) ?? -1) > rev;
    const b = new SnapshotBuilder(EMPTY_SNAPSHOT);
    const revs = new Map<string, number>(remoteRevs);
    const keepLocal = (id: string): void => {
      const region = local.regions.get(id);
      if (region === undefined) return;
      b.setRegion(region)
        .replaceBackends(id, local.backends.get(id)?.values() ?? [])
        .replaceHealth(id, local.health.get(id)?.values() ?? []);
    };
    const seen = new Set<string>();
    for (const entry of Array.isArray(entries) ? (entries as unknown[]) : []) {
      if (!Array.isArray(entry)) continue;
      const [id, rev, region, backends, health] = entry as unknown[];
      if (typeof id !== 'string') continue;
      seen.add(id);
      const revision = typeof rev === 'number' ? rev : Number(rev ?? 0);
      if (newer(id, revision)) {
        keepLocal(id);
        revs.set(id, this.revs.get(id) ?? revision);
        continue;
      }
      revs.set(id, revision);
      const state: RegionState = {
        epoch,
        rev: revision,
        region: typeof region === 'string' ? region : null,
        backends: asStrings(backends),
        health: asStrings(health),
      };
      const decoded = this.decode(state, id);
      if (decoded.region === undefined) continue;
      b.setRegion(decoded.region).replaceBackends(id, decoded.backends).replaceHealth(id, decoded.health);
    }
    for (const id of local.regions.keys()) {
      if (!seen.has(id) && newer(id, remoteRevs.get(id) ?? 0)) {
        keepLocal(id);
        revs.set(id, this.revs.get(id) ?? 0);
      }
    }
    if (sameEpoch) {
      for (const [id, rev] of this.revs) if (rev > (revs.get(id) ?? -1)) revs.set(id, rev);
    } else if (this.epochNow !== undefined) {
      this.options.logger.warn(
        { target: this.options.target },
        'Redis state epoch changed: replacing the whole snapshot',
      );
    }
    this.epochNow = epoch;
    this.revs = revs;
    const syncedAt = this.options.now();
    const next = b.build({ version: local.version + 1, syncedAt });
    this.resyncs++;
    this.lastSyncAt = syncedAt;
    if (sameContent(local, next)) {
      this.snapshotNow = withSyncedAt(local, syncedAt);
    } else {
      this.publish(next, RESYNC_EVENT);
    }
    if (wasSubscribed && this.firstLoad !== undefined) this.firstLoad.resolve();
  }
}
