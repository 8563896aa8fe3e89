// Entry file of a node:cluster DNS worker. It answers queries only: the state comes from the
// primary over IPC (snapshots applied to a ReplicaStateStore), the geo databases are opened here.
// Metrics live in this worker's registry; prom-client's AggregatorRegistry (created here too, see
// prom-client issue #747) answers the primary's clusterMetrics() requests.
import cluster from 'node:cluster';
import { AggregatorRegistry, Registry } from 'prom-client';
import { describeError, isMeridianError } from '../core/errors.js';
import { createLogger, type Logger } from '../log/logger.js';
import { ReplicaStateStore, decodeSnapshot } from '../state/snapshot-codec.js';
import {
  MSG_FAILED,
  MSG_GEO_RECHECK,
  MSG_HELLO,
  MSG_INIT,
  MSG_READY,
  MSG_SHUTDOWN,
  MSG_SNAPSHOT,
  isMessage,
} from './ipc.js';
import type {
  FailedMessage,
  GeoRecheckMessage,
  HelloMessage,
  InitMessage,
  ReadyMessage,
  ShutdownMessage,
  SnapshotMessage,
} from './ipc.js';
import { createRuntime, type Runtime } from './runtime.js';
import { DnsListeners } from './server.js';

interface WorkerState {
  readonly logger: Logger;
  readonly replica: ReplicaStateStore;
  runtime?: Runtime;
  listeners?: DnsListeners;
}

let state: WorkerState | undefined;
let shuttingDown = false;

function send(message: HelloMessage | ReadyMessage | FailedMessage): void {
  if (process.send !== undefined && process.connected) process.send(message);
}

async function init(msg: InitMessage): Promise<void> {
  const logger = createLogger(msg.logLevel).child({ component: 'dns', worker: cluster.worker?.id });
  const replica = new ReplicaStateStore({
    initial: decodeSnapshot(msg.snapshot),
    onListenerError: (err) => logger.warn({ err: describeError(err) }, 'snapshot listener failed'),
  });
  const current: WorkerState = { logger, replica };
  state = current;
  const registry = new Registry();
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  current.runtime = await createRuntime({
    config: msg.config,
    geoPaths: msg.geoPaths,
    snapshot: () => replica.current(),
    logger,
    registries: [registry],
    startedAt: msg.startedAt,
    serving: true,
  });
  const runtime = current.runtime;
  current.listeners = await DnsListeners.start(msg.listen, {
    handler: (m, client, transport) => runtime.responder.handle(m, client, transport),
    logger,
    tcpIdleTimeoutMs: msg.config.tcpIdleTimeoutMs,
  });
  send({ type: MSG_READY, addresses: current.listeners.addresses() });
}

async function shutdown(code: number): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  try {
    await state?.listeners?.close();
    state?.runtime?.close();
  } finally {
    process.exit(code);
  }
}

function onMessage(message: unknown): void {
  if (isMessage<InitMessage>(message, MSG_INIT)) {
    init(message).catch((err: unknown) => {
      send({
        type: MSG_FAILED,
        code: isMeridianError(err) ? err.code : 'E_INTERNAL',
        message: describeError(err),
      });
      void shutdown(1);
    });
  } else if (isMessage<SnapshotMessage>(message, MSG_SNAPSHOT)) {
    if (state === undefined) return;
    try {
      state.replica.apply(decodeSnapshot(message.snapshot));
    } catch (err) {
      state.logger.error(
        { err: describeError(err) },
        'bad snapshot from the primary: keeping the previous one',
      );
    }
  } else if (isMessage<ShutdownMessage>(message, MSG_SHUTDOWN)) {
    void shutdown(0);
  } else if (isMessage<GeoRecheckMessage>(message, MSG_GEO_RECHECK)) {
    const logger = state?.logger;
    state?.runtime?.locator?.reloadNow().catch((err: unknown) => {
      logger?.warn({ err: describeError(err) }, 'geo re-check failed: keeping the loaded databases');
    });
  }
}

if (cluster.isWorker) {
  process.on('message', onMessage);
  // The primary went away: nothing will push state any more.
  process.on('disconnect', () => void shutdown(0));
  process.on('unhandledRejection', (err) => {
    state?.logger.error({ err: describeError(err) }, 'unhandled rejection in DNS worker');
  });
  send({ type: MSG_HELLO });
}
