// What the Redis state store knows about Redis being down, hung or emptied, and what it does about
// it ("last known state is sacred", issue #12). Owns the heartbeat, the health clock freeze and
// thaw, the outages remembered for extending reports, failed-write accounting, the data-loss
// record and the degraded reasons; the store and its sync act on what this tracker decides.
//
// A heartbeat PING every 250 ms tells a hung Redis (no reply within HANG_AFTER_MS, e.g. SIGSTOP)
// from a live one, faster than the command timeout. While Redis is unreachable the health clock is
// frozen: every report that was valid when Redis last answered is published with an expiry far
// ahead (nobody can refresh it, so its expiry says nothing about the region), and writes fail fast.
// When a full load succeeds again, the outage is over: reports written before it get its length
// added to their expiry (their remaining lifetime continues from where it was frozen), on this and
// every later load.
//
// Lost data: a node that knows the fleet's epoch and finds it missing or different (Redis restarted
// empty, FLUSHALL, another deployment's Redis) keeps serving its snapshot with frozen health,
// refuses writes (every write script checks the epoch it expects) and reports `dataLost` in its
// status, until `reseed()` on one node writes that node's snapshot back under a new epoch, listing
// the old one in the lineage set: nodes whose epoch is in the lineage accept the new one.
import type { HealthReport, Snapshot } from '../../core/types.js';
import type { Logger } from '../../infra/logger.js';
import type { DataLoss, StoreStatus } from '../state-store.js';
import { HEALTH_RETENTION_MS } from '../state-records.js';
import { SnapshotBuilder } from '../snapshot-codec.js';
import type { Connection } from './state-connection.js';

/** How often the heartbeat PINGs Redis. */
export const HEARTBEAT_MS = 250;
/** A PING unanswered this long means Redis hangs (capped by the command timeout). */
const HANG_AFTER_MS = 750;
/** Frozen reports expire this long after the freeze at the latest (they are pruned after it anyway). */
const FROZEN_HORIZON_MS = HEALTH_RETENTION_MS;
/** A failed write keeps the store degraded this long unless a write succeeds meanwhile. */
const FAILED_WRITE_MEMORY_MS = 30_000;
/** Outages remembered for extending the reports written before them. */
const MAX_OUTAGES = 16;

interface Outage {
  readonly from: number;
  readonly to: number;
}

export interface OutageTrackerOptions {
  /** Names Redis in logs and degraded reasons. */
  target: string;
  logger: Logger;
  now: () => number;
  commandTimeoutMs: number;
}

/** What the heartbeat asks of the store. */
export interface HeartbeatHooks {
  freezeHealth(why: string): void;
  requestResync(reason: string): void;
}

export class OutageTracker {
  /** When Redis last answered a command (ms epoch). */
  private lastAnsweredAt = 0;
  private pingSentAt: number | undefined;
  /** Connected, but the heartbeat went unanswered for HANG_AFTER_MS. */
  private hungNow = false;
  /** Since when health reports are frozen (undefined: the clock runs). */
  private frozenFrom: number | undefined;
  /** The reports as they were before the freeze (what a reseed writes back). */
  private healthAtFreeze: Snapshot['health'] | undefined;
  private outages: Outage[] = [];
  private failedWrites = 0;
  private lastWriteOkAt = 0;
  private lastWriteFailedAt = 0;
  private lost: DataLoss | undefined;

  constructor(private readonly options: OutageTrackerOptions) {}

  get hung(): boolean {
    return this.hungNow;
  }

  get frozenSince(): number | undefined {
    return this.frozenFrom;
  }

  get healthBeforeFreeze(): Snapshot['health'] | undefined {
    return this.healthAtFreeze;
  }

  get dataLost(): DataLoss | undefined {
    return this.lost;
  }

  /** Redis just answered a command. */
  answered(): void {
    this.lastAnsweredAt = this.options.now();
  }

  /** A write reached Redis (right after `answered()`). */
  writeSucceeded(): void {
    this.lastWriteOkAt = this.lastAnsweredAt;
  }

  writeFailed(): void {
    this.failedWrites++;
    this.lastWriteFailedAt = this.options.now();
  }

  hangAfterMs(): number {
    return Math.min(HANG_AFTER_MS, this.options.commandTimeoutMs);
  }

  /** Tells a hung or lost Redis apart from a live one, and notices when it answers again. */
  heartbeat(main: Connection, hooks: HeartbeatHooks): void {
    const { logger, target, now } = this.options;
    if (main.status !== 'ready') {
      hooks.freezeHealth('not connected');
      return;
    }
    if (this.pingSentAt !== undefined) {
      if (!this.hungNow && now() - this.pingSentAt >= this.hangAfterMs()) {
        this.hungNow = true;
        logger.warn({ target }, 'Redis does not answer: serving the last snapshot');
        hooks.freezeHealth('not answering');
      }
      return;
    }
    const sentAt = now();
    this.pingSentAt = sentAt;
    main.call('PING', []).then(
      () => {
        if (this.pingSentAt === sentAt) this.pingSentAt = undefined;
        this.lastAnsweredAt = now();
        if (this.hungNow) {
          this.hungNow = false;
          logger.info({ target }, 'Redis answers again');
          hooks.requestResync('Redis answers again');
        } else if (this.frozenFrom !== undefined && this.lost === undefined) {
          // e.g. the load after reconnecting failed: try again until one succeeds
          hooks.requestResync('health frozen while Redis answers');
        }
      },
      () => {
        if (this.pingSentAt === sentAt) this.pingSentAt = undefined;
        if (!this.hungNow && main.status === 'ready') {
          this.hungNow = true;
          hooks.freezeHealth('PING failed');
        }
      },
    );
  }

  /**
   * Stops the health clock: reports valid when Redis last answered stay valid (published with an
   * expiry FROZEN_HORIZON_MS ahead) until a full load ends the outage.
   * @returns the snapshot to publish, or undefined when health is already frozen.
   */
  freeze(snapshot: Snapshot, why: string): Snapshot | undefined {
    if (this.frozenFrom !== undefined) return undefined;
    const since = this.lastAnsweredAt === 0 ? this.options.now() : this.lastAnsweredAt;
    this.frozenFrom = since;
    const before = snapshot.health;
    this.healthAtFreeze = before;
    const b = new SnapshotBuilder(snapshot);
    for (const [regionId, reports] of before) {
      const frozen = [...reports.values()].map((r) =>
        r.expiresAt > since ? { ...r, expiresAt: since + FROZEN_HORIZON_MS } : r,
      );
      b.replaceHealth(regionId, frozen);
    }
    this.options.logger.warn(
      { target: this.options.target, why, frozenSince: new Date(since).toISOString() },
      'health reports frozen until the state store is back',
    );
    return b.build();
  }

  /** After a successful full load: the outage is over; reports written before it live on by its length. */
  thaw(): void {
    const from = this.frozenFrom;
    if (from === undefined) return;
    const to = this.options.now();
    this.outages.push({ from, to });
    if (this.outages.length > MAX_OUTAGES) this.outages.shift();
    this.frozenFrom = undefined;
    this.healthAtFreeze = undefined;
    // Writes refused during the outage say nothing about the store now that it is back.
    this.lastWriteFailedAt = 0;
    this.options.logger.info(
      { target: this.options.target, outageMs: to - from },
      'state store back: health clock runs again (reports from before the outage keep their remaining lifetime)',
    );
  }

  /**
   * A report still valid when an outage began expires later by the part of the outage it lived
   * through (its lifetime was frozen meanwhile). That includes reports written during the outage by
   * nodes that could still reach Redis (e.g. just before a Sentinel primary died): for this node the
   * clock stood still from when they were written.
   */
  extendAcrossOutages(report: HealthReport): HealthReport {
    let expiresAt = report.expiresAt;
    for (const o of this.outages) {
      const frozenFrom = Math.max(o.from, report.reportedAt);
      if (frozenFrom < o.to && expiresAt > frozenFrom) expiresAt += o.to - frozenFrom;
    }
    return expiresAt === report.expiresAt ? report : { ...report, expiresAt };
  }

  /**
   * Whether a full load holding `found` may replace the snapshot of a node that knows `known`: yes
   * for the same epoch, for a reseed that continues it (`known` is in the lineage), or when the node
   * has nothing to lose (no regions); otherwise Redis lost the fleet's data, which is recorded here
   * (the caller freezes health and keeps its snapshot).
   */
  acceptEpoch(
    known: string | undefined,
    found: string,
    lineage: ReadonlySet<string>,
    regions: number,
  ): boolean {
    const { logger, target, now } = this.options;
    const lost = known !== undefined && known !== '' && found !== known && !lineage.has(known) && regions > 0;
    if (lost) {
      if (this.lost?.foundEpoch !== found) {
        this.lost = { since: this.lost?.since ?? now(), expectedEpoch: known, foundEpoch: found };
        logger.error(
          { target, expectedEpoch: known, foundEpoch: found, regions },
          'the state store lost the fleet state: serving the last snapshot, writes refused; run `meridian state reseed --from-node`',
        );
      }
      return false;
    }
    if (this.lost !== undefined) {
      logger.warn({ target, epoch: found }, 'the state store holds the fleet state again');
      this.lost = undefined;
    } else if (known !== undefined && known !== '' && found !== known) {
      logger.warn(
        { target, epoch: found, previous: known },
        'the state store was reseeded: taking its state',
      );
    }
    return true;
  }

  /** This node reseeded Redis: its state is the fleet's again. */
  clearDataLoss(): void {
    this.lost = undefined;
  }

  /** Why the store is degraded right now (empty: it is not). */
  degradedReasons(connected: boolean, now: number, lastError: string): string[] {
    const { target } = this.options;
    const reasons: string[] = [];
    if (this.lost !== undefined) {
      const found = this.lost.foundEpoch === '' ? 'no epoch (it is empty)' : `epoch ${this.lost.foundEpoch}`;
      reasons.push(
        `${target} lost the fleet's state: it holds ${found}, this node has epoch ${this.lost.expectedEpoch}; ` +
          'serving the last snapshot, writes refused until `meridian state reseed --from-node`',
      );
    } else if (!connected) {
      reasons.push(
        this.hungNow
          ? `${target} does not answer (no reply to PING within ${this.hangAfterMs()} ms)`
          : `not connected to ${target}${lastError === '' ? '' : ` (${lastError})`}`,
      );
    }
    if (
      this.lastWriteFailedAt > this.lastWriteOkAt &&
      now - this.lastWriteFailedAt < FAILED_WRITE_MEMORY_MS
    ) {
      reasons.push(`writes to ${target} are failing (${this.failedWrites} failed so far)`);
    }
    if (this.frozenFrom !== undefined) {
      reasons.push(`health reports frozen since ${new Date(this.frozenFrom).toISOString()}`);
    }
    return reasons;
  }

  /** The status fields this tracker owns. */
  status(
    now: number,
  ): Pick<StoreStatus, 'healthFrozenSince' | 'lastWriteAgeMs' | 'failedWrites' | 'dataLost'> {
    return {
      ...(this.frozenFrom === undefined ? {} : { healthFrozenSince: this.frozenFrom }),
      ...(this.lastWriteOkAt === 0 ? {} : { lastWriteAgeMs: Math.max(0, now - this.lastWriteOkAt) }),
      failedWrites: this.failedWrites,
      ...(this.lost === undefined ? {} : { dataLost: this.lost }),
    };
  }
}
