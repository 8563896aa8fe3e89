// The worker's side of a clustered tier, for the tier's entry file: says hello, builds the replica
// from the init and starts the tier, applies every snapshot the primary pushes, reports ready or
// failed, and exits once told to or once the primary goes away. What the tier runs and the
// messages only it knows come in through WorkerHooks.
import { describeError, isMeridianError } from '../core/errors.js';
import type { Logger } from '../infra/logger.js';
import { decodeSnapshot, type ReplicaStateStore } from '../storage/snapshot-codec.js';
import { isMessage } from './ipc.js';
import type {
  FailedMessage,
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
  /** Closes what start opened (so far), finishing in-flight work within `graceMs` where there is any. */
  close(graceMs: number): Promise<void>;
}

export function sendToPrimary<M extends { readonly type: string }>(message: M): void {
  try {
    if (process.send !== undefined && process.connected) process.send(message);
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

  process.on('message', (message: unknown) => {
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
    } else if (isMessage<ShutdownMessage>(message, protocol.shutdown)) {
      void shutdown(0, message.graceMs ?? 0);
    } else {
      hooks.message?.(message);
    }
  });
  // The primary went away: nothing will push state (or write the proxy's reports) any more.
  process.on('disconnect', () => void shutdown(0, ORPHAN_GRACE_MS));
  process.on('unhandledRejection', (err) => {
    running?.logger.error({ err: describeError(err) }, `unhandled rejection in ${tier} worker`);
  });
  sendToPrimary({ type: protocol.hello });
}
