// This node's presence in the node registry (storage/node-registry.ts): announced once at start —
// where a live node with the same id makes `meridian serve` fail with E_CONFLICT — then a heartbeat
// every `heartbeatSeconds` from a timer, and a deregistration on a clean shutdown so a restart can
// take the id at once. Each heartbeat also lists the registry and raises one `node_lost` alert per
// node whose heartbeat lapsed (deduplicated across the nodes that notice it).
//
// Heartbeats never block serving: they run from an unref'd timer, one at a time. While the store
// cannot be reached they fail quietly (one warning per outage) and the node keeps serving; the
// next heartbeat after the store is back announces the whole record again.
import { describeError, isMeridianError } from '../core/errors.js';
import type { Logger } from '../infra/logger.js';
import {
  nodeState,
  type AnnounceOptions,
  type NodeEntry,
  type NodeRecord,
  type NodeRegistry,
} from '../storage/node-registry.js';
import type { AlertManager } from './alerts.js';

export interface NodePresenceOptions {
  readonly registry: NodeRegistry;
  readonly record: NodeRecord;
  readonly heartbeatMs: number;
  readonly ttlMs: number;
  readonly forgetAfterMs: number;
  readonly alerts: Pick<AlertManager, 'raise'>;
  readonly logger: Logger;
}

export interface NodePresence {
  /** Replaces what this node says about itself (e.g. its real addresses once it listens). */
  update(patch: Partial<Omit<NodeRecord, 'id' | 'instance'>>): void;
  /** Stops the heartbeat and deregisters (best effort: a store that is down lets the entry lapse). */
  close(): Promise<void>;
}

/** Announces the node (rejecting with E_CONFLICT when its id is taken) and starts its heartbeat. */
export async function startNodePresence(options: NodePresenceOptions): Promise<NodePresence> {
  const { registry, logger } = options;
  const announce: AnnounceOptions = { ttlMs: options.ttlMs, forgetAfterMs: options.forgetAfterMs };
  let record = options.record;
  await registry.announce(record, announce);

  let failing = false;
  let closed = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const alertLost = (lost: readonly NodeEntry[], now: number): void => {
    for (const n of lost) {
      const ago = Math.round((now - n.lastSeen) / 1000);
      void options.alerts.raise(
        {
          type: 'node_lost',
          level: 'critical',
          subject: `node/${n.id}`,
          message:
            `node ${n.id} (${n.roles.join('+') || 'no roles'}${n.region === undefined ? '' : `, region ${n.region}`}) ` +
            `lost: no heartbeat for ${ago} s`,
        },
        // One alert per lapse of one process, however many nodes notice it.
        { key: `node_lost:${n.id}:${n.instance}:${n.lastSeen}`, ms: options.forgetAfterMs + options.ttlMs },
      );
    }
  };

  const beat = async (): Promise<void> => {
    try {
      await registry.announce(record, announce);
      const listing = await registry.list();
      alertLost(
        listing.nodes.filter((n) => n.id !== record.id && nodeState(n, listing.now) === 'lost'),
        listing.now,
      );
      if (failing) logger.info('node registry heartbeat works again');
      failing = false;
    } catch (err) {
      if (failing) return;
      failing = true;
      // Another process took the id after this node's entry lapsed (a long store outage): say so loudly.
      const conflict = isMeridianError(err) && err.code === 'E_CONFLICT';
      logger[conflict ? 'error' : 'warn'](
        { err: describeError(err) },
        'node registry heartbeat failed; still serving, retrying every heartbeat',
      );
    }
  };

  const schedule = (): void => {
    if (closed) return;
    timer = setTimeout(() => {
      running = beat().finally(schedule);
    }, options.heartbeatMs);
    timer.unref();
  };
  schedule();

  return {
    update(patch) {
      record = { ...record, ...patch };
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      await running;
      try {
        await registry.deregister(record.id, record.instance);
      } catch (err) {
        logger.warn({ err: describeError(err) }, 'could not deregister; the entry will lapse');
      }
    },
  };
}
