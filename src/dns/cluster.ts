// Cluster mode: the primary forks workers that answer queries (they share the UDP sockets and
// take turns on TCP connections through node:cluster — Node 20 cannot share a UDP port between
// unrelated processes), and pushes every state snapshot to them over IPC. The primary keeps an
// answering unit without sockets for `explain`.
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry } from 'prom-client';
import type { DnsConfig } from '../config/dns-schema.js';
import type { DeepReadonly } from '../config/load.js';
import { MeridianError, describeError } from '../core/errors.js';
import type { ErrorCode } from '../core/errors.js';
import type { Snapshot } from '../core/types.js';
import type { Logger } from '../log/logger.js';
import { encodeSnapshot } from '../state/snapshot-codec.js';
import type { StateStore } from '../state/store.js';
import type { DnsService } from './index.js';
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
import type { FailedMessage, HelloMessage, InitMessage, PrimaryMessage, ReadyMessage } from './ipc.js';
import { createRuntime } from './runtime.js';
import { pickFreePort, type BoundAddress, type ListenSpec } from './server.js';

export interface ClusterOptions {
  readonly config: DeepReadonly<DnsConfig>;
  readonly geoPaths: readonly string[];
  readonly specs: readonly ListenSpec[];
  readonly store: StateStore;
  readonly logger: Logger;
  readonly startedAt: number;
  readonly workers: number;
  /** The primary's own explain unit watches the same files, so it alone reports reload failures. */
  readonly onGeoReloadError?: (path: string, err: unknown) => void;
}

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
const RESPAWN_DELAY_MS = 1_000;

/** How to run the worker entry: the .ts source through tsx, or the compiled .js. */
function workerExec(): { exec: string; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  return {
    exec: fileURLToPath(new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url)),
    execArgv: fromSource ? ['--import', 'tsx'] : [],
  };
}

function sendTo(worker: Worker, message: PrimaryMessage): void {
  try {
    if (worker.isConnected()) worker.send(message);
  } catch {
    // The worker is going away; its exit handler deals with it.
  }
}

export async function startCluster(options: ClusterOptions): Promise<DnsService> {
  const { config, store, logger, startedAt } = options;
  const explainUnit = await createRuntime({
    config,
    geoPaths: options.geoPaths,
    snapshot: () => store.current(),
    logger,
    registries: [],
    startedAt,
    serving: false,
    ...(options.onGeoReloadError === undefined ? {} : { onGeoReloadError: options.onGeoReloadError }),
  });
  const listen: ListenSpec[] = [];
  for (const spec of options.specs)
    listen.push(spec.port === 0 ? { host: spec.host, port: await pickFreePort(spec.host) } : spec);

  const aggregator = new AggregatorRegistry();
  const { exec, execArgv } = workerExec();
  /** Workers that were sent the init (they get every snapshot from then on). */
  const initialised = new Set<Worker>();
  const all = new Set<Worker>();
  let addresses: BoundAddress[] = [];
  let closing = false;
  let lastPushed: Snapshot | undefined;

  const initMessage = (): InitMessage => {
    const snapshot = store.current();
    lastPushed = snapshot;
    return {
      type: MSG_INIT,
      config,
      geoPaths: options.geoPaths,
      listen,
      startedAt,
      logLevel: logger.level,
      snapshot: encodeSnapshot(snapshot),
    };
  };

  const push = (): void => {
    const snapshot = store.current();
    lastPushed = snapshot;
    if (initialised.size === 0) return;
    const message = { type: MSG_SNAPSHOT, snapshot: encodeSnapshot(snapshot) } as const;
    for (const w of initialised) sendTo(w, message);
  };
  let pushQueued = false;
  const schedulePush = (): void => {
    if (pushQueued) return;
    pushQueued = true;
    setImmediate(() => {
      pushQueued = false;
      if (!closing) push();
    });
  };
  const unsubscribe = store.onChange(schedulePush);
  // Safety net: a snapshot replaced without a change event (e.g. a resync) still reaches the workers.
  const periodic = setInterval(() => {
    if (store.current() !== lastPushed) push();
  }, 1000);
  periodic.unref();

  const fork = (): Promise<Worker> => {
    cluster.setupPrimary({ exec, execArgv, args: [] });
    const worker = cluster.fork();
    all.add(worker);
    worker.on('error', (err) => logger.warn({ err: err.message, worker: worker.id }, 'DNS worker IPC error'));
    return new Promise<Worker>((resolve, reject) => {
      let started = false;
      const timer = setTimeout(() => {
        reject(
          new MeridianError(
            'E_UNAVAILABLE',
            `DNS worker ${worker.id} did not start within ${START_TIMEOUT_MS} ms`,
          ),
        );
        worker.kill();
      }, START_TIMEOUT_MS);
      worker.on('message', (message: unknown) => {
        if (isMessage<HelloMessage>(message, MSG_HELLO)) {
          initialised.add(worker);
          sendTo(worker, initMessage());
        } else if (isMessage<ReadyMessage>(message, MSG_READY)) {
          clearTimeout(timer);
          started = true;
          addresses = message.addresses;
          resolve(worker);
        } else if (isMessage<FailedMessage>(message, MSG_FAILED)) {
          clearTimeout(timer);
          reject(new MeridianError(message.code as ErrorCode, `DNS worker ${worker.id}: ${message.message}`));
        }
      });
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        all.delete(worker);
        initialised.delete(worker);
        if (!started) {
          reject(
            new MeridianError(
              'E_UNAVAILABLE',
              `DNS worker ${worker.id} exited (${signal ?? code}) while starting`,
            ),
          );
          return;
        }
        if (closing) return;
        logger.error({ worker: worker.id, code, signal }, 'DNS worker died: starting a new one');
        setTimeout(() => {
          if (closing) return;
          fork().catch((err: unknown) =>
            logger.error({ err: describeError(err) }, 'DNS worker restart failed'),
          );
        }, RESPAWN_DELAY_MS).unref();
      });
    });
  };

  const stopAll = async (): Promise<void> => {
    closing = true;
    unsubscribe();
    clearInterval(periodic);
    await Promise.all(
      [...all].map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            const timer = setTimeout(() => {
              w.kill('SIGKILL');
            }, STOP_TIMEOUT_MS);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            sendTo(w, { type: MSG_SHUTDOWN });
            if (!w.isConnected()) w.kill();
          }),
      ),
    );
    explainUnit.close();
  };

  try {
    await Promise.all(Array.from({ length: options.workers }, () => fork()));
  } catch (err) {
    await stopAll();
    throw err;
  }
  logger.info({ workers: options.workers, addresses }, 'DNS listening (cluster)');

  return {
    clustered: true,
    addresses: () => addresses.map((a) => ({ ...a })),
    explain: (q) => explainUnit.responder.explain(q),
    dnsMetrics: () => aggregator.clusterMetrics(),
    recheckGeo: async () => {
      for (const w of initialised) sendTo(w, { type: MSG_GEO_RECHECK });
      await explainUnit.locator?.reloadNow();
    },
    close: async () => {
      if (closing) return;
      await stopAll();
    },
  };
}
