// Batched UDP I/O through the native addon in ./native (recvmmsg/sendmmsg, one JS call per batch
// of up to 64 datagrams instead of one callback, rinfo object and sendto per datagram). The addon
// is optional: loadUdpBatch() returns undefined when it is not built or cannot load, and the server
// then uses node:dgram.
//
// Per batch the wrapper hands each datagram to the handler as a Buffer view of the addon's input slot
// (no copy) — valid only during the call, the slot is reused by the next batch — with the sender's
// address as its own copy of the raw bytes (4 for IPv4, 16 for IPv6, IPv4-mapped unmapped; never
// text), and copies the reply into the output slot.
import { createRequire } from 'node:module';
import { describeError } from '../../core/errors.js';
import { packagePath } from '../../config/install-paths.js';
import { ipFamily } from '../../core/ip.js';
import { LogLimiter } from '../../infra/log-limiter.js';
import type { Logger } from '../../infra/logger.js';

/** The native socket: a plain object wrapping the fd, with the shared memory. */
interface NativeHandle {
  readonly port: number;
  readonly memory: ArrayBuffer;
  /** Whether the random spread program was attached to the port's SO_REUSEPORT group. */
  readonly spreading: boolean;
}

interface NativeLayout {
  readonly input: number;
  readonly output: number;
  readonly inputLengths: number;
  readonly outputLengths: number;
  readonly addresses: number;
  readonly stats: number;
  readonly total: number;
}

export interface NativeStats {
  readonly received: number;
  readonly sent: number;
  /** Datagrams larger than a slot, dropped. */
  readonly truncatedDrops: number;
  /** Replies the kernel refused (skipped). */
  readonly sendErrors: number;
  /** Replies dropped because the send buffer was full. */
  readonly sendDrops: number;
  readonly batches: number;
  readonly recvErrors: number;
  /** Poll wake-ups. */
  readonly wakes: number;
}

export interface UdpBatchModule {
  readonly supported: true;
  readonly batchSize: number;
  readonly slotSize: number;
  readonly addressStride: number;
  readonly layout: NativeLayout;
  readonly statNames: readonly (keyof NativeStats)[];
  bind(
    options: { family: 4 | 6; host: string; port: number; reusePort: boolean; spreadAcross?: number },
    onBatch: (count: number) => void,
  ): NativeHandle;
  close(handle: NativeHandle): void;
  stats(handle: NativeHandle): NativeStats;
  ref(handle: NativeHandle): void;
  unref(handle: NativeHandle): void;
  ifIndexToName(index: number): string | undefined;
  /** A listening TCP socket with SO_REUSEPORT, as a file descriptor for net.Server.listen({ fd }). */
  tcpListen(options: { family: 4 | 6; host: string; port: number; backlog: number }): number;
}

export interface UdpBatchStats extends NativeStats {
  /** Replies larger than a slot: not sent. */
  readonly oversizeReplies: number;
  /** Handler calls that threw: nothing sent for them. */
  readonly handlerErrors: number;
}

/** `client`: the sender's address bytes (a fresh copy per datagram, safe to keep). */
export type PacketHandler = (msg: Buffer, client: Uint8Array, transport: 'udp') => Buffer | undefined;

/**
 * Where node-gyp (the package's install script) puts the addon: under the package root, not next to
 * this module, so the compiled dist/ finds the same file as the sources do.
 */
function addonPath(): string {
  return packagePath('src', 'dns', 'transport', 'native', 'build', 'Release', 'udp_batch.node');
}

let loaded: { module: UdpBatchModule | undefined; error: string | undefined } | undefined;

function validModule(m: unknown): m is UdpBatchModule {
  if (typeof m !== 'object' || m === null) return false;
  const x = m as Record<string, unknown>;
  return (
    x.supported === true &&
    typeof x.bind === 'function' &&
    typeof x.close === 'function' &&
    typeof x.stats === 'function' &&
    typeof x.layout === 'object' &&
    typeof x.batchSize === 'number' &&
    typeof x.slotSize === 'number' &&
    typeof x.addressStride === 'number'
  );
}

/** The addon, or undefined when it is missing, fails to load or does not support this platform. */
export function loadUdpBatch(): UdpBatchModule | undefined {
  if (loaded === undefined) {
    try {
      const m: unknown = createRequire(import.meta.url)(addonPath());
      loaded = validModule(m)
        ? { module: m, error: undefined }
        : { module: undefined, error: 'the addon does not support this platform' };
    } catch (err) {
      loaded = { module: undefined, error: describeError(err) };
    }
  }
  return loaded.module;
}

/** Why loadUdpBatch() returned undefined (for the fallback warning). */
export function udpBatchLoadError(): string | undefined {
  loadUdpBatch();
  return loaded?.error;
}

export interface BatchedUdpSocketOptions {
  readonly logger?: Logger;
  /**
   * With `reusePort`: how many sockets share the port (one per worker). Above 1, the kernel hands
   * each datagram to one of them at random rather than by a hash of the sender's address and port,
   * so that a few busy senders cannot pile onto one worker (best effort: see `spreading`).
   */
  readonly spreadAcross?: number;
}

/** A UDP socket served in batches by the addon. Throws (like dgram's bind errors) when binding fails. */
export class BatchedUdpSocket {
  readonly port: number;
  /** Whether datagrams are spread across the port's sockets at random (`spreadAcross` took effect). */
  readonly spreading: boolean;
  private handle: NativeHandle | undefined;
  private readonly input: Buffer;
  private readonly output: Buffer;
  private readonly inputLengths: Int32Array;
  private readonly outputLengths: Int32Array;
  private readonly addresses: Buffer;
  private readonly nativeStats: Float64Array;
  private readonly slotSize: number;
  private readonly stride: number;
  private oversizeReplies = 0;
  private handlerErrors = 0;
  private readonly errorLog = new LogLimiter(10, 10_000);

  private constructor(
    private readonly native: UdpBatchModule,
    host: string,
    port: number,
    reusePort: boolean,
    private readonly onPacket: PacketHandler,
    private readonly logger: Logger | undefined,
    spreadAcross: number,
  ) {
    const family = ipFamily(host) ?? 4; // not an IP at all: the addon throws EINVAL
    const handle = native.bind({ family, host, port, reusePort, spreadAcross }, (n) => this.onBatch(n));
    this.handle = handle;
    this.port = handle.port;
    this.spreading = handle.spreading;
    const { layout, batchSize } = native;
    this.slotSize = native.slotSize;
    this.stride = native.addressStride;
    const mem = handle.memory;
    this.input = Buffer.from(mem, layout.input, batchSize * this.slotSize);
    this.output = Buffer.from(mem, layout.output, batchSize * this.slotSize);
    this.inputLengths = new Int32Array(mem, layout.inputLengths, batchSize);
    this.outputLengths = new Int32Array(mem, layout.outputLengths, batchSize);
    this.addresses = Buffer.from(mem, layout.addresses, batchSize * this.stride);
    this.nativeStats = new Float64Array(mem, layout.stats, native.statNames.length);
  }

  /**
   * Binds `host` (an IPv4 or IPv6 literal, IPv6 sockets are v6-only) on `port` (0 = any). With
   * `reusePort`, several sockets (e.g. one per cluster worker) may bind the same port and the kernel
   * spreads the packets across them. Throws when the addon is not loaded, and the bind errors
   * (code 'EADDRINUSE', 'EACCES', …, syscall 'bind').
   */
  static bind(
    host: string,
    port: number,
    reusePort: boolean,
    onPacket: PacketHandler,
    options: BatchedUdpSocketOptions = {},
  ): BatchedUdpSocket {
    const native = loadUdpBatch();
    if (native === undefined)
      throw new Error(`the UDP batching addon is not available: ${udpBatchLoadError() ?? 'unknown'}`);
    return new BatchedUdpSocket(
      native,
      host,
      port,
      reusePort,
      onPacket,
      options.logger,
      options.spreadAcross ?? 0,
    );
  }

  get closed(): boolean {
    return this.handle === undefined;
  }

  /** Called by the addon once per received batch; must never throw. */
  private onBatch(count: number): void {
    const { input, output, inputLengths, outputLengths, slotSize, onPacket } = this;
    for (let i = 0; i < count; i++) {
      if (this.handle === undefined) return; // closed by the handler: deliver nothing more
      outputLengths[i] = 0;
      const len = inputLengths[i]!;
      if (len < 0) continue;
      const start = i * slotSize;
      let reply: Buffer | undefined;
      try {
        reply = onPacket(input.subarray(start, start + len), this.clientAddress(i), 'udp');
      } catch (err) {
        this.handlerFailed(err);
        continue;
      }
      if (reply === undefined) continue;
      if (reply.length > slotSize) {
        this.oversizeReplies++;
        continue;
      }
      output.set(reply, start);
      outputLengths[i] = reply.length;
    }
  }

  private handlerFailed(err: unknown): void {
    this.handlerErrors++;
    try {
      if (this.logger !== undefined && this.errorLog.allow(Date.now())) {
        this.logger.error(
          { err: describeError(err), suppressed: this.errorLog.suppressed },
          'DNS handler threw',
        );
        this.errorLog.suppressed = 0;
      }
    } catch {
      // Logging must not break the batch either.
    }
  }

  /**
   * The sender of slot i as bytes: family at +0, the address at +8 (4 or 16 bytes). Copied, as the
   * slot is reused by the next batch; an IPv4-mapped IPv6 sender gives its 4 IPv4 bytes.
   */
  private clientAddress(i: number): Uint8Array {
    const a = this.addresses;
    const o = i * this.stride;
    const family = a[o];
    if (family === 4) return Uint8Array.of(a[o + 8]!, a[o + 9]!, a[o + 10]!, a[o + 11]!);
    if (family !== 6) return new Uint8Array(0);
    const mapped =
      a[o + 18] === 0xff &&
      a[o + 19] === 0xff &&
      a.readUInt32BE(o + 8) === 0 &&
      a.readUInt32BE(o + 12) === 0 &&
      a[o + 16] === 0 &&
      a[o + 17] === 0;
    return mapped ? a.subarray(o + 20, o + 24).slice() : a.subarray(o + 8, o + 24).slice();
  }

  /** Counters: the addon's (kept after close) plus the wrapper's. */
  stats(): UdpBatchStats {
    const out: Record<string, number> = {};
    this.native.statNames.forEach((name, i) => {
      out[name] = this.nativeStats[i] ?? 0;
    });
    return {
      ...(out as unknown as NativeStats),
      oversizeReplies: this.oversizeReplies,
      handlerErrors: this.handlerErrors,
    };
  }

  /** Lets the process exit while the socket is open (as dgram's unref). */
  unref(): this {
    if (this.handle !== undefined) this.native.unref(this.handle);
    return this;
  }

  ref(): this {
    if (this.handle !== undefined) this.native.ref(this.handle);
    return this;
  }

  /** Closes the socket at once (the port is free when this returns); idempotent. */
  close(): void {
    const handle = this.handle;
    if (handle === undefined) return;
    this.handle = undefined;
    this.native.close(handle);
  }
}
