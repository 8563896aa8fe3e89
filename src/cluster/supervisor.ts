// The primary's side of a clustered tier: starts one worker per slot from the tier's entry file (a
// node:cluster process or a worker thread, launch.ts), runs the hello → init → ready handshake,
// pushes every state snapshot to the workers that got their init, aggregates their metrics on
// request, replaces a worker that dies, and stops them all. What a tier adds (the
// contents of its init, its own messages, state it pushes besides snapshots) comes in through
// SupervisorHooks; what it serves from the primary stays in the tier.
import { AggregatorRegistry } from 'prom-client';
import { MeridianError, describeError, type ErrorCode } from '../core/errors.js';
import type { Snapshot } from '../core/types.js';
import type { Logger } from '../infra/logger.js';
import { encodeSnapshot, type SnapshotJson } from '../storage/snapshot-codec.js';
import type { StateStore } from '../storage/state-store.js';
import { isMessage } from './ipc.js';
import type { WorkerMetrics } from './metrics.js';
import type { WorkerTrouble } from '../core/types.js';
import {
  launchProcess,
  launchThread,
  type LaunchOptions,
  type WorkerHandle,
  type WorkerKind,
} from './launch.js';
import type {
  FailedMessage,
  HelloMessage,
  MetricsDoneMessage,
  MetricsMessage,
  Protocol,
  ReadyMessage,
  ShutdownMessage,
  WorkerInit,
} from './ipc.js';

const START_TIMEOUT_MS = 30_000;
const RESPAWN_DELAY_MS = 1_000;
/** Added to the shutdown's grace period before a worker that has not exited is killed. */
const STOP_SLACK_MS = 5_000;
const SAFETY_NET_MS = 1_000;
/** A worker that has not answered a metrics request by then is left out of the scrape. */
const METRICS_TIMEOUT_MS = 5_000;

/** A worker's place: a restarted worker takes its predecessor's slot (and so its reporter id). */
export interface Slot {
  /** 1-based. */
  readonly n: number;
  /** Absent between a worker's death and its replacement. */
  readonly worker: WorkerHandle | undefined;
}

interface SlotState {
  readonly n: number;
  worker: WorkerHandle | undefined;
  /** How logs and errors name the slot's latest worker. */
  name: number;
}

export interface SupervisorOptions {
  /** 'DNS' or 'proxy': names the workers in logs and errors. */
  readonly tier: string;
  readonly protocol: Protocol;
  /** The tier's worker entry as compiled: `new URL('./worker.js', import.meta.url)`. */
  readonly entry: URL;
  readonly workers: number;
  readonly store: StateStore;
  readonly logger: Logger;
  /**
   * The number logs and errors give a worker: its slot (the proxy's, which its reporter id carries) or
   * its node:cluster or thread id (the DNS tier's, which the worker's own logs carry).
   */
  readonly naming: 'slot' | 'cluster-id';
  /** After a failed restart, try again this much later; without it the slot stays empty. */
  readonly restartRetryMs?: number;
  /**
   * V8 flags for the workers (`--name=value` or `--name`). One the operator already gave, or
   * negated (`--no-name`), on the node command line or in NODE_OPTIONS (which workers inherit), is
   * left out, so theirs wins.
   */
  readonly v8Flags?: readonly string[];
  /** Processes (node:cluster, the default) or worker threads of this process. */
  readonly kind?: WorkerKind;
  /** Thread workers: the young generation's size, MB (the threads' stand-in for v8Flags). */
  readonly threadYoungGenerationMb?: number;
  /** Live workers and restarts, for the node's /metrics (src/cluster/metrics.ts). */
  readonly metrics?: WorkerMetrics;
  /** Told when a serving worker dies or its replacement fails to start (the node raises an alert). */
  readonly onTrouble?: (trouble: WorkerTrouble) => void;
}

export interface SupervisorHooks<Init extends WorkerInit> {
  /** The init for the worker in `slot`, which said hello; `snapshot` is the store's current one. */
  init(slot: Slot, snapshot: SnapshotJson): Init;
  /** A worker's message that is none of the shared ones (the proxy's health reports). */
  message?(slot: Slot, worker: WorkerHandle, message: unknown): void;
  /** With each safety-net check (every second until stop): re-push tier state its events missed. */
  tick?(): void;
}

/** A V8/node flag's name without value, `no-` or `_`/`-` spelling: `--no-foo_bar=1` → `foo-bar`. */
function flagName(flag: string): string {
  return flag
    .split('=')[0]!
    .replace(/^--(no-)?/, '')
    .replaceAll('_', '-');
}

/** The tier's worker flags less those the operator gave, or negated, in `given`. @internal */
export function workerFlags(v8Flags: readonly string[], given: readonly string[]): string[] {
  const names = new Set(given.map(flagName));
  return v8Flags.filter((flag) => !names.has(flagName(flag)));
}

/** `Out`: the tier's own primary → worker messages. */
export class Supervisor<Init extends WorkerInit, Address, Out extends { readonly type: string }> {
  private readonly slotStates: SlotState[];
  /** Workers that were sent the init (they get every snapshot from then on). */
  private readonly initialised = new Set<WorkerHandle>();
  private readonly launch: () => WorkerHandle;
  /** Each slot's latest ready message's addresses. */
  private readonly slotAddresses = new Map<number, readonly Address[]>();
  private metricsId = 0;
  private readonly metricsWaiters = new Map<number, (message: MetricsDoneMessage) => void>();
  private stopping = false;
  private lastPushed: Snapshot | undefined;
  private pushQueued = false;
  private unsubscribe: () => void = () => undefined;
  private safetyNet: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: SupervisorOptions,
    private readonly hooks: SupervisorHooks<Init>,
  ) {
    this.slotStates = Array.from({ length: options.workers }, (_, i) => ({
      n: i + 1,
      worker: undefined,
      name: i + 1,
    }));
    const launch: LaunchOptions = {
      entry: options.entry,
      tier: options.tier,
      execArgv: workerFlags(options.v8Flags ?? [], [
        ...process.execArgv,
        ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/),
      ]),
      ...(options.threadYoungGenerationMb === undefined
        ? {}
        : { youngGenerationMb: options.threadYoungGenerationMb }),
    };
    this.launch = options.kind === 'thread' ? () => launchThread(launch) : () => launchProcess(launch);
  }

  get slots(): readonly Slot[] {
    return this.slotStates;
  }

  /**
   * Every address a worker reported bound, once each: process workers share their sockets and all
   * report the same; thread workers may each hold only some (the DNS tier's TCP is one thread's).
   */
  addresses(): Address[] {
    const seen = new Map<string, Address>();
    for (const list of this.slotAddresses.values())
      for (const address of list) seen.set(JSON.stringify(address), address);
    return [...seen.values()];
  }

  /** The workers that got their init and are still connected, in slot order. */
  workers(): WorkerHandle[] {
    return this.slotStates
      .map((s) => s.worker)
      .filter((w): w is WorkerHandle => w !== undefined && this.initialised.has(w) && w.isConnected());
  }

  /**
   * The workers' metrics, aggregated (counters summed, gauges as prom-client's aggregator says) in
   * Prometheus' text format; '' when no worker answered. A worker that does not answer within
   * METRICS_TIMEOUT_MS is left out and logged.
   */
  async metrics(): Promise<string> {
    const { tier, protocol, logger } = this.options;
    const replies = await Promise.all(
      this.workers().map(
        (w) =>
          new Promise<readonly unknown[]>((resolve) => {
            const id = ++this.metricsId;
            const timer = setTimeout(() => {
              this.metricsWaiters.delete(id);
              logger.warn({ worker: w.id }, `${tier} worker did not answer a metrics request`);
              resolve([]);
            }, METRICS_TIMEOUT_MS);
            timer.unref();
            this.metricsWaiters.set(id, (message) => {
              clearTimeout(timer);
              this.metricsWaiters.delete(id);
              if (message.error !== undefined)
                logger.warn({ worker: w.id, err: message.error }, `${tier} worker metrics failed`);
              resolve(message.metrics ?? []);
            });
            const request: MetricsMessage = { type: protocol.metrics, id };
            this.sendAny(w, request);
          }),
      ),
    );
    // prom-client's JSON form is what AggregatorRegistry.aggregate takes (typed loosely there).
    const perWorker = replies.filter((r) => r.length > 0) as Parameters<
      typeof AggregatorRegistry.aggregate
    >[0];
    if (perWorker.length === 0) return '';
    return AggregatorRegistry.aggregate(perWorker).metrics();
  }

  send(worker: WorkerHandle, message: Out): void {
    this.sendAny(worker, message);
  }

  /** To every worker that got its init; nothing goes to workers being stopped. */
  broadcast(message: Out): void {
    if (!this.stopping) for (const w of this.initialised) this.sendAny(w, message);
  }

  /** Forks every slot's worker and resolves once all are ready; on a failure the caller stops. */
  async start(): Promise<void> {
    this.unsubscribe = this.options.store.onChange(() => this.schedulePush());
    // Safety net: a snapshot replaced without a change event (e.g. a resync) still reaches the workers.
    this.safetyNet = setInterval(() => {
      if (this.stopping) return;
      if (this.options.store.current() !== this.lastPushed) this.push();
      this.hooks.tick?.();
    }, SAFETY_NET_MS);
    this.safetyNet.unref();
    await Promise.all(this.slotStates.map((slot) => this.fork(slot)));
  }

  /**
   * Asks every worker to shut down (within `graceMs`, for a tier that sends one) and kills those that
   * have not exited `STOP_SLACK_MS` later.
   */
  async stop(graceMs?: number): Promise<void> {
    this.stopping = true;
    const { tier, protocol, logger } = this.options;
    const shutdown: ShutdownMessage =
      graceMs === undefined ? { type: protocol.shutdown } : { type: protocol.shutdown, graceMs };
    await Promise.all(
      this.slotStates.map(
        (slot) =>
          new Promise<void>((resolve) => {
            const w = slot.worker;
            if (w === undefined || w.isDead()) return resolve();
            const timer = setTimeout(
              () => {
                logger.warn({ worker: slot.name }, `${tier} worker did not stop in time: killing it`);
                w.kill('SIGKILL');
              },
              (graceMs ?? 0) + STOP_SLACK_MS,
            );
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            this.sendAny(w, shutdown);
            if (!w.isConnected()) w.kill();
          }),
      ),
    );
    // The proxy's workers send final reports while they stop: keep following the store until then.
    this.unsubscribe();
    for (const waiter of this.metricsWaiters.values())
      waiter({ type: protocol.metricsDone, id: -1, metrics: [] });
    clearInterval(this.safetyNet);
  }

  private sendAny(worker: WorkerHandle, message: { readonly type: string }): void {
    try {
      worker.send(message);
    } catch {
      // The worker is going away; its exit handler deals with it.
    }
  }

  private push(): void {
    const snapshot = this.options.store.current();
    this.lastPushed = snapshot;
    if (this.initialised.size === 0) return;
    const message = { type: this.options.protocol.snapshot, snapshot: encodeSnapshot(snapshot) };
    for (const w of this.initialised) this.sendAny(w, message);
  }

  /** Change events come in bursts: one push per turn of the event loop. */
  private schedulePush(): void {
    if (this.pushQueued) return;
    this.pushQueued = true;
    setImmediate(() => {
      this.pushQueued = false;
      if (!this.stopping) this.push();
    });
  }

  private fork(slot: SlotState): Promise<WorkerHandle> {
    const { tier, protocol, logger } = this.options;
    const worker = this.launch();
    slot.worker = worker;
    const name = this.options.naming === 'slot' ? slot.n : worker.id;
    slot.name = name;
    // A process worker's IPC channel failing, or an exception a thread worker did not catch.
    worker.on('error', (err: Error) =>
      logger.warn({ err: describeError(err), worker: name }, `${tier} worker error`),
    );
    return new Promise<WorkerHandle>((resolve, reject) => {
      let started = false;
      const timer = setTimeout(() => {
        reject(
          new MeridianError(
            'E_UNAVAILABLE',
            `${tier} worker ${name} did not start within ${START_TIMEOUT_MS} ms`,
          ),
        );
        worker.kill('SIGKILL');
      }, START_TIMEOUT_MS);
      worker.on('message', (message: unknown) => {
        if (isMessage<HelloMessage>(message, protocol.hello)) {
          const snapshot = this.options.store.current();
          this.lastPushed = snapshot;
          this.initialised.add(worker);
          this.sendAny(worker, this.hooks.init(slot, encodeSnapshot(snapshot)));
        } else if (isMessage<ReadyMessage<Address>>(message, protocol.ready)) {
          clearTimeout(timer);
          started = true;
          this.slotAddresses.set(slot.n, message.addresses);
          this.options.metrics?.setRunning(this.slotAddresses.size);
          resolve(worker);
        } else if (isMessage<FailedMessage>(message, protocol.failed)) {
          clearTimeout(timer);
          reject(new MeridianError(message.code as ErrorCode, `${tier} worker ${name}: ${message.message}`));
        } else if (isMessage<MetricsDoneMessage>(message, protocol.metricsDone)) {
          this.metricsWaiters.get(message.id)?.(message);
        } else {
          this.hooks.message?.(slot, worker, message);
        }
      });
      worker.once('exit', (code: number | null, signal: string | null) => {
        clearTimeout(timer);
        this.initialised.delete(worker);
        if (slot.worker === worker) {
          slot.worker = undefined;
          this.slotAddresses.delete(slot.n);
          this.options.metrics?.setRunning(this.slotAddresses.size);
        }
        if (!started) {
          reject(
            new MeridianError(
              'E_UNAVAILABLE',
              `${tier} worker ${name} exited (${signal ?? code}) while starting`,
            ),
          );
          return;
        }
        if (this.stopping) return;
        this.options.metrics?.died();
        logger.error({ worker: name, code, signal }, `${tier} worker died: starting a new one`);
        this.options.onTrouble?.({
          tier,
          worker: name,
          what: 'died',
          reason: signal !== null ? `signal ${signal}` : `exit code ${String(code)}`,
        });
        setTimeout(() => this.respawn(slot), RESPAWN_DELAY_MS).unref();
      });
    });
  }

  private respawn(slot: SlotState): void {
    if (this.stopping) return;
    this.fork(slot).catch((err: unknown) => {
      const { tier, logger, restartRetryMs } = this.options;
      logger.error({ worker: slot.name, err: describeError(err) }, `${tier} worker restart failed`);
      if (this.stopping) return;
      this.options.onTrouble?.({
        tier,
        worker: slot.name,
        what: 'restart-failed',
        reason: err instanceof Error ? err.message : String(err),
        retryMs: restartRetryMs,
      });
      if (restartRetryMs !== undefined) setTimeout(() => this.respawn(slot), restartRetryMs).unref();
    });
  }
}
