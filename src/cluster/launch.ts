// How a clustered tier's workers run: as node:cluster processes (each its own heap, its own copy of
// everything, isolated from a sibling's crash) or as worker threads of the primary's process (one
// copy of the node binary's pages and of the mapped geo files, one process's memory; a crash in
// native code takes the whole node down). The supervisor talks to either through WorkerHandle.
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker as ThreadWorker, isMainThread, workerData } from 'node:worker_threads';

export type WorkerKind = 'process' | 'thread';

/** A worker as the supervisor sees it. Events: 'message' (message), 'error' (err), 'exit' (code, signal). */
export interface WorkerHandle extends EventEmitter {
  /** node:cluster id or thread id. */
  readonly id: number;
  /** The OS process the worker runs in (the primary's own, for a thread). */
  readonly pid: number | undefined;
  send(message: unknown): void;
  isConnected(): boolean;
  isDead(): boolean;
  /** SIGTERM by default; a thread is terminated whatever the signal. */
  kill(signal?: NodeJS.Signals): void;
}

export interface LaunchOptions {
  /** The tier's worker entry as compiled: `new URL('./worker.js', import.meta.url)`. */
  readonly entry: URL;
  /** Names the tier in the thread's workerData, so the entry knows it runs as this tier's worker. */
  readonly tier: string;
  /** Process workers: node/V8 flags (already filtered against the operator's own). */
  readonly execArgv: readonly string[];
  /** Thread workers: V8's young generation for the thread's heap, MB (V8 flags are per process). */
  readonly youngGenerationMb?: number;
}

const fromSource = import.meta.url.endsWith('.ts');

/** The entry to run: the .ts source through tsx when this runs from source, else the .js. */
function entryFile(entry: URL): string {
  const file = fileURLToPath(entry);
  return fromSource ? file.replace(/\.js$/, '.ts') : file;
}

class ProcessHandle extends EventEmitter implements WorkerHandle {
  constructor(private readonly worker: ClusterWorker) {
    super();
    worker.on('message', (message: unknown) => this.emit('message', message));
    worker.on('error', (err) => this.emit('error', err));
    worker.once('exit', (code, signal) => this.emit('exit', code, signal));
  }
  get id(): number {
    return this.worker.id;
  }
  get pid(): number | undefined {
    return this.worker.process.pid;
  }
  send(message: unknown): void {
    if (this.worker.isConnected()) this.worker.send(message as object);
  }
  isConnected(): boolean {
    return this.worker.isConnected();
  }
  isDead(): boolean {
    return this.worker.isDead();
  }
  kill(signal?: NodeJS.Signals): void {
    this.worker.kill(signal);
  }
}

class ThreadHandle extends EventEmitter implements WorkerHandle {
  private exited = false;
  constructor(private readonly thread: ThreadWorker) {
    super();
    thread.on('message', (message: unknown) => this.emit('message', message));
    // An exception the thread did not catch: it ends, and 'exit' follows.
    thread.on('error', (err) => this.emit('error', err));
    thread.once('exit', (code) => {
      this.exited = true;
      this.emit('exit', code, null);
    });
  }
  get id(): number {
    return this.thread.threadId;
  }
  get pid(): number {
    return process.pid;
  }
  send(message: unknown): void {
    if (!this.exited) this.thread.postMessage(message);
  }
  isConnected(): boolean {
    return !this.exited;
  }
  isDead(): boolean {
    return this.exited;
  }
  kill(): void {
    void this.thread.terminate();
  }
}

export function launchProcess(options: LaunchOptions): WorkerHandle {
  const tsx = fromSource ? import.meta.resolve('tsx') : undefined;
  const execArgv = processWorkerArgv(process.execArgv, options.execArgv, tsx);
  cluster.setupPrimary({ exec: entryFile(options.entry), execArgv, args: [] });
  return new ProcessHandle(cluster.fork());
}

/** `--inspect`, `--inspect-brk=9229`, `--debug-port`…: one port per process, the primary's. */
const INSPECTOR_FLAG = /^--(inspect|debug)(-[a-z]+)*(=|$)/;

/**
 * A process worker's node flags: the primary's own (`node --max-old-space-size=2048 …` and the
 * like reach the workers, as with node:cluster's default) except the inspector's, then the tier's
 * (already filtered against the operator's). From source, tsx's loader by its resolved path comes
 * first, in place of the primary's own import of tsx (a bare `tsx` resolves from the working
 * directory). @internal
 */
export function processWorkerArgv(
  primary: readonly string[],
  tierFlags: readonly string[],
  tsx: string | undefined,
): string[] {
  const inherited: string[] = [];
  for (let i = 0; i < primary.length; i++) {
    const flag = primary[i] as string;
    if (INSPECTOR_FLAG.test(flag)) continue;
    const [name = flag, inline] = flag.startsWith('--') ? flag.split(/=(.*)/s, 2) : [flag];
    if (name === '--import' || name === '--loader' || name === '--experimental-loader') {
      const value = inline ?? primary[i + 1];
      if (inline === undefined) i++;
      if (value === undefined || (tsx !== undefined && isTsx(value))) continue;
      inherited.push(`${name}=${value}`);
      continue;
    }
    inherited.push(flag);
  }
  return [...(tsx === undefined ? [] : ['--import', tsx]), ...inherited, ...tierFlags];
}

function isTsx(specifier: string): boolean {
  return (
    specifier === 'tsx' || specifier.startsWith('tsx/') || /[/\\]node_modules[/\\]tsx[/\\]/.test(specifier)
  );
}

export function launchThread(options: LaunchOptions): WorkerHandle {
  const file = entryFile(options.entry);
  const init = {
    workerData: { meridianTier: options.tier },
    ...(options.youngGenerationMb === undefined
      ? {}
      : { resourceLimits: { maxYoungGenerationSizeMb: options.youngGenerationMb } }),
  };
  // From source, tsx's loader is registered inside the thread before the entry is imported
  // (`--import` in a thread's execArgv runs too late for its entry in Node 20).
  const thread = fromSource
    ? new ThreadWorker(
        `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})` +
          `.then((tsx) => { tsx.register(); return import(${JSON.stringify(pathToFileURL(file).href)}); })`,
        { ...init, eval: true },
      )
    : new ThreadWorker(file, init);
  return new ThreadHandle(thread);
}

/**
 * True in a process or thread that the supervisor started as `tier`'s worker. A node:cluster worker
 * process runs one tier's entry only, so any is; a thread carries the tier's name in its workerData.
 */
export function isTierWorker(tier: string): boolean {
  if (cluster.isWorker) return true;
  return (
    !isMainThread &&
    typeof workerData === 'object' &&
    workerData !== null &&
    (workerData as { meridianTier?: unknown }).meridianTier === tier
  );
}
