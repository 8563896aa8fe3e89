// The worker's side of a clustered tier, for the tier's entry file: says hello, builds the replica
// from the init and starts the tier, applies every snapshot the primary pushes, answers metrics
// requests, reports ready or failed, and exits once told to or once the primary goes away. The
// primary is the parent process (node:cluster) or, for a worker thread, the thread's parent port.
// What the tier runs and the messages only it knows come in through WorkerHooks.
import { parentPort } from 'node:worker_threads';
import { describeError, isMeridianError } from '../core/errors.js';
import type { Logger } from '../infra/logger.js';
import { decodeSnapshot, type ReplicaStateStore } from '../storage/snapshot-codec.js';
import { isMessage } from './ipc.js';
import type {
  FailedMessage,
  MetricsDoneMessage,
  MetricsMessage,
  Protocol,
  ReadyMessage,
  ShutdownMessage,
  SnapshotMessage,
  WorkerInit,
} from './ipc.js';

/** The grace period to close in when the primary went away without a shutdown. */
const ORPHAN_GRACE_MS = 1000;

export type ReplicaOptions = NonNullable<ConstructorParameters<typeof ReplicaStateStore>[0]>;

export interface WorkerHooks<Init extends WorkerInit, Store extends ReplicaStateStore, Address> {
  /** This worker's logger, at the init's level. */
  logger(init: Init): Logger;
  /** The replica the primary's snapshots are applied to. */
  replica(options: ReplicaOptions): Store;
  /** Starts serving; resolves to the bound addresses for the ready message. */
  start(init: Init, replica: Store, logger: Logger): Promise<Address[]>;
  /** A primary message that is none of the shared ones. */
  message?(message: unknown): void;
  /** This worker's metrics in prom-client's JSON form (registry.getMetricsAsJSON()). */
  metrics?(): Promise<readonly unknown[]>;
  /** Closes what start opened (so far), finishing in-flight work within `graceMs` where there is any. */
  close(graceMs: number): Promise<void>;
}

export function sendToPrimary<M extends { readonly type: string }>(message: M): void {
  try {
    if (parentPort !== null) parentPort.postMessage(message);
    else if (process.send !== undefined && process.connected) process.send(message);
  } catch {
    // The primary went away; 'disconnect' ends this worker.
  }
}

/** Installs the worker's IPC handling and says hello; `tier` ('DNS', 'proxy') names it in logs. */
export function runWorker<Init extends WorkerInit, Store extends ReplicaStateStore, Address>(
  tier: string,
  protocol: Protocol,
  hooks: WorkerHooks<Init, Store, Address>,
): void {
  // Set before the tier starts, so that snapshots arriving meanwhile are not lost.
  let running: { readonly logger: Logger; readonly replica: Store } | undefined;
  let shuttingDown = false;

  const init = async (msg: Init): Promise<void> => {
    const logger = hooks.logger(msg);
    const replica = hooks.replica({
      initial: decodeSnapshot(msg.snapshot),
      onListenerError: (err) => logger.warn({ err: describeError(err) }, 'snapshot listener failed'),
    });
    running = { logger, replica };
    const addresses = await hooks.start(msg, replica, logger);
    if (shuttingDown) return;
    sendToPrimary({ type: protocol.ready, addresses } satisfies ReadyMessage<Address>);
  };

  const shutdown = async (code: number, graceMs: number): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    try {
      await hooks.close(graceMs);
    } catch (err) {
      running?.logger.error({ err: describeError(err) }, `${tier} worker close failed`);
    } finally {
      process.exit(code);
    }
  };

  const answerMetrics = (id: number): void => {
    const reply = (fields: Partial<MetricsDoneMessage>): void =>
      sendToPrimary<MetricsDoneMessage>({ type: protocol.metricsDone, id, ...fields });
    if (hooks.metrics === undefined) return reply({ metrics: [] });
    hooks.metrics().then(
      (metrics) => reply({ metrics }),
      (err: unknown) => reply({ error: describeError(err) }),
    );
  };

  const onMessage = (message: unknown): void => {
    if (isMessage<Init>(message, protocol.init)) {
      init(message).catch((err: unknown) => {
        sendToPrimary({
          type: protocol.failed,
          code: isMeridianError(err) ? err.code : 'E_INTERNAL',
          message: describeError(err),
        } satisfies FailedMessage);
        void shutdown(1, 0);
      });
    } else if (isMessage<SnapshotMessage>(message, protocol.snapshot)) {
      if (running === undefined) return;
      try {
        running.replica.apply(decodeSnapshot(message.snapshot));
      } catch (err) {
        running.logger.error(
          { err: describeError(err) },
          'bad snapshot from the primary: keeping the previous one',
        );
      }
    } else if (isMessage<MetricsMessage>(message, protocol.metrics)) {
      answerMetrics(message.id);
    } else if (isMessage<ShutdownMessage>(message, protocol.shutdown)) {
      void shutdown(0, message.graceMs ?? 0);
    } else {
      hooks.message?.(message);
    }
  };
  // The primary went away: nothing will push state (or write the proxy's reports) any more.
  const orphaned = (): void => void shutdown(0, ORPHAN_GRACE_MS);
  if (parentPort !== null) {
    parentPort.on('message', onMessage);
    parentPort.on('close', orphaned);
  } else {
    process.on('message', onMessage);
    process.on('disconnect', orphaned);
  }
  process.on('unhandledRejection', (err) => {
    running?.logger.error({ err: describeError(err) }, `unhandled rejection in ${tier} worker`);
  });
  sendToPrimary({ type: protocol.hello });
}
