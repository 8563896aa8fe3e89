// Batched UDP I/O through the native addon in ./native (recvmmsg/sendmmsg, one JS call per batch
// of up to 64 datagrams instead of one callback, rinfo object and sendto per datagram). The addon
// is optional: loadUdpBatch() returns undefined when it is not built or cannot load, and the server
// then uses node:dgram.
//
// Per batch the wrapper hands each datagram to the handler as a Buffer view of the addon's input slot
// (no copy) — valid only during the call, the slot is reused by the next batch — with the sender's
// address formatted exactly as node:dgram's rinfo.address, and copies the reply into the output slot.
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
    options: { family: 4 | 6; host: string; port: number; reusePort: boolean },
    onBatch: (count: number) => void,
  ): NativeHandle;
  close(handle: NativeHandle): void;
  stats(handle: NativeHandle): NativeStats;
  ref(handle: NativeHandle): void;
  unref(handle: NativeHandle): void;
  ifIndexToName(index: number): string | undefined;
}

export interface UdpBatchStats extends NativeStats {
  /** Replies larger than a slot: not sent. */
  readonly oversizeReplies: number;
  /** Handler calls that threw: nothing sent for them. */
  readonly handlerErrors: number;
}

export type PacketHandler = (msg: Buffer, client: string, transport: 'udp') => Buffer | undefined;

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

// ------------------------------------------------------------------------------ client addresses

const V4_CACHE_LIMIT = 65536;
const V6_CACHE_LIMIT = 16384;
const v4Names = new Map<number, string>();
const v6Names = new Map<string, string>();

/**
 * An IPv6 address as text, exactly as libuv's uv_inet_ntop (and so node:dgram's rinfo.address)
 * writes it: lower-case hex, the first longest run of two or more zero words as '::', and the last
 * 32 bits as a dotted quad for IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) forms.
 */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  const w = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 8; i++) w[i] = (bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!;
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 1;
      } else curLen++;
    } else if (curBase !== -1) {
      if (bestBase === -1 || curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase !== -1 && (bestBase === -1 || curLen > bestLen)) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestBase !== -1 && bestLen < 2) bestBase = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      const o = offset + 12;
      out += `${bytes[o]}.${bytes[o + 1]}.${bytes[o + 2]}.${bytes[o + 3]}`;
      return out;
    }
    out += w[i]!.toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) out += ':';
  return out;
}

export interface BatchedUdpSocketOptions {
  readonly logger?: Logger;
}

/** A UDP socket served in batches by the addon. Throws (like dgram's bind errors) when binding fails. */
export class BatchedUdpSocket {
  readonly port: number;
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
  ) {
    const family = ipFamily(host) ?? 4; // not an IP at all: the addon throws EINVAL
    const handle = native.bind({ family, host, port, reusePort }, (n) => this.onBatch(n));
    this.handle = handle;
    this.port = handle.port;
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
    return new BatchedUdpSocket(native, host, port, reusePort, onPacket, options.logger);
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

  /** The sender of slot i as node:dgram would give it. */
  private clientAddress(i: number): string {
    const a = this.addresses;
    const o = i * this.stride;
    const family = a[o];
    if (family === 4) {
      const key = ((a[o + 8]! << 24) | (a[o + 9]! << 16) | (a[o + 10]! << 8) | a[o + 11]!) >>> 0;
      let name = v4Names.get(key);
      if (name === undefined) {
        name = `${a[o + 8]}.${a[o + 9]}.${a[o + 10]}.${a[o + 11]}`;
        if (v4Names.size >= V4_CACHE_LIMIT) v4Names.clear();
        v4Names.set(key, name);
      }
      return name;
    }
    if (family === 6) {
      const key = a.toString('latin1', o + 4, o + 24); // scope id + address
      let name = v6Names.get(key);
      if (name === undefined) {
        name = formatIPv6(a, o + 8);
        // Link-local senders carry their interface, as in rinfo.address (fe80::1%eth0).
        const scope = a.readUInt32BE(o + 4);
        if (scope !== 0 && a[o + 8] === 0xfe && (a[o + 9]! & 0xc0) === 0x80)
          name += `%${this.native.ifIndexToName(scope) ?? String(scope)}`;
        if (v6Names.size >= V6_CACHE_LIMIT) v6Names.clear();
        v6Names.set(key, name);
      }
      return name;
    }
    return '';
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
