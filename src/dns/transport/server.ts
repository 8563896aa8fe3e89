// Sockets: UDP and TCP on every listen address.
//
// UDP goes through the native batching addon (udp-batch.ts: recvmmsg/sendmmsg, one JS call per batch
// of datagrams) when `udpBatching` is on and the addon is built; otherwise through node:dgram.
// The dgram path uses a plain `dgram` socket rather than dns2's UDPServer: dns2 emits
// `requestError` without the packet or the sender when it cannot parse a message, so a FORMERR
// (RFC 8906) could not be sent, and its reply path re-encodes through its slow bit-level writer.
// The handler gets the raw bytes and calls dns2's Packet.parse itself when the plain-shape reader
// does not apply.
// TCP framing (RFC 7766: 2-byte length, pipelining) uses dns2's Packet.readStream on a net.Server,
// so the responder sees the same raw bytes on both transports. The client address reaches the
// handler as bytes (wire/address.ts): straight from the addon, parsed once from node:dgram's
// rinfo text or once per TCP connection.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { closeSync } from 'node:fs';
import { createServer, type Server as TcpServer, type Socket as TcpSocket } from 'node:net';
import dns2 from 'dns2';
import { MeridianError, describeError } from '../../core/errors.js';
import { ipFamily } from '../../core/ip.js';
import type { Logger } from '../../infra/logger.js';
import type { Transport } from '../metrics.js';
import { addressFromText, type AddressBytes } from '../wire/address.js';
import { BatchedUdpSocket, loadUdpBatch, udpBatchLoadError, type UdpBatchStats } from './udp-batch.js';

const { Packet } = dns2;

/** `client`: the sender's address bytes, owned by the callee (a copy, safe to keep). */
export type MessageHandler = (msg: Buffer, client: AddressBytes, transport: Transport) => Buffer | undefined;

/** TCP only, asked first: several reply messages (a zone transfer), or undefined to use the handler. */
export type MultiMessageHandler = (msg: Buffer, client: AddressBytes) => readonly Buffer[] | undefined;

/** A sender whose address could not be read: never located, never matches a network. */
const NO_ADDRESS = new Uint8Array(0);

export interface ListenSpec {
  readonly host: string;
  readonly port: number;
}

export interface BoundAddress {
  readonly transport: 'udp' | 'tcp';
  readonly host: string;
  readonly port: number;
}

export interface ListenerOptions {
  readonly handler: MessageHandler;
  readonly tcpMultiHandler?: MultiMessageHandler;
  readonly logger: Logger;
  readonly tcpIdleTimeoutMs: number;
  /** Concurrent TCP connections per listener. */
  readonly maxTcpConnections?: number;
  /** Serve UDP through the batching addon when it loads (else node:dgram). Default false. */
  readonly udpBatching?: boolean;
  /**
   * Batched sockets only: bind with SO_REUSEPORT, so that every cluster worker binds its own socket
   * on the shared port. Default false (a second server on the port then fails with EADDRINUSE).
   */
  readonly reusePort?: boolean;
  /**
   * With `reusePort`: the number of workers binding the port. Above 1, each datagram goes to one of
   * their sockets at random instead of by the sender's flow hash (BatchedUdpSocketOptions).
   */
  readonly reusePortGroup?: number;
  /**
   * TCP on a socket of our own with SO_REUSEPORT (through the addon; required then), so that every
   * worker thread has its own listener on the shared port: threads cannot share a node:net
   * listener, and Node 20's listen cannot set SO_REUSEPORT. Default false.
   */
  readonly tcpReusePort?: boolean;
}

/** Which UDP implementation serves the listeners. */
export type UdpEngine = 'batched' | 'dgram';

type UdpEndpoint = UdpSocket | BatchedUdpSocket;

function bindUdp(host: string, port: number): Promise<UdpSocket> {
  const family = ipFamily(host);
  if (family === undefined)
    return Promise.reject(new MeridianError('E_CONFIG', `dns.listen: ${host} is not an IP address`));
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
    const onError = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ address: host, port }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

function listenTcp(server: TcpServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host, port, ipv6Only: ipFamily(host) === 6 }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** listenTcp on a SO_REUSEPORT socket the addon opened (ListenerOptions.tcpReusePort). */
async function listenTcpReusePort(server: TcpServer, host: string, port: number): Promise<void> {
  const native = loadUdpBatch();
  const family = ipFamily(host);
  if (native === undefined || family === undefined)
    throw new MeridianError(
      'E_UNAVAILABLE',
      `TCP ${host}:${port} with SO_REUSEPORT needs the UDP batching addon`,
    );
  const fd = native.tcpListen({ family, host, port, backlog: 511 });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    closeSync(fd); // not adopted by the server
    throw err;
  }
}

function closeTcp(server: TcpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Binds a batched UDP socket; its handler answers from the moment it is bound. Rejects like bindUdp. */
// eslint-disable-next-line @typescript-eslint/require-await -- async turns the addon's throws into rejections
async function bindBatched(host: string, port: number, options: ListenerOptions): Promise<BatchedUdpSocket> {
  if (ipFamily(host) === undefined)
    throw new MeridianError('E_CONFIG', `dns.listen: ${host} is not an IP address`);
  const { handler, logger } = options;
  const onPacket = (msg: Buffer, client: AddressBytes): Buffer | undefined => handler(msg, client, 'udp');
  return BatchedUdpSocket.bind(host, port, options.reusePort ?? false, onPacket, {
    logger,
    spreadAcross: options.reusePortGroup ?? 0,
  });
}

function udpPort(socket: UdpEndpoint): number {
  return socket instanceof BatchedUdpSocket ? socket.port : socket.address().port;
}

function closeUdp(socket: UdpEndpoint): Promise<void> {
  if (socket instanceof BatchedUdpSocket) {
    socket.close();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

/**
 * Picks a port free for both UDP and TCP on `host` (for listen specs with port 0 in cluster mode,
 * where each worker must bind the same concrete port). The sockets are closed again, so another
 * process could take the port before the workers bind it; acceptable for tests on loopback.
 */
export async function pickFreePort(host: string): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = await bindUdp(host, 0);
    const port = udp.address().port;
    const tcp = createServer();
    try {
      await listenTcp(tcp, host, port);
      await closeTcp(tcp);
      await closeUdp(udp);
      return port;
    } catch {
      await closeUdp(udp);
    }
  }
  throw new MeridianError('E_UNAVAILABLE', `no port free for both UDP and TCP on ${host}`);
}

/** RFC 7766 framing: the 2-byte length, then the message. */
function frame(reply: Buffer): Buffer {
  const framed = Buffer.allocUnsafe(reply.length + 2);
  framed.writeUInt16BE(reply.length, 0);
  reply.copy(framed, 2);
  return framed;
}

class Listener {
  readonly tcpSockets = new Set<TcpSocket>();
  constructor(
    readonly host: string,
    readonly udp: UdpEndpoint,
    readonly tcp: TcpServer,
  ) {}
}

/** UDP and TCP listeners on every address, all feeding one handler. */
export class DnsListeners {
  private constructor(
    private readonly listeners: Listener[],
    private readonly logger: Logger,
    /** The UDP implementation in use. */
    readonly udpEngine: UdpEngine,
  ) {}

  static async start(specs: readonly ListenSpec[], options: ListenerOptions): Promise<DnsListeners> {
    const logger = options.logger;
    let udpEngine: UdpEngine = 'dgram';
    if (options.udpBatching === true) {
      if (loadUdpBatch() !== undefined) udpEngine = 'batched';
      else
        logger.warn(
          { err: udpBatchLoadError() },
          'dns.udpBatching is on but the native UDP batching addon is not built: using node:dgram ' +
            '(run npm ci / npm rebuild to build it)',
        );
    }
    logger.info(
      {
        udpEngine,
        ...(udpEngine === 'batched' ? { reusePort: options.reusePort ?? false } : {}),
      },
      udpEngine === 'batched' ? 'DNS UDP: batched I/O (recvmmsg/sendmmsg addon)' : 'DNS UDP: node:dgram',
    );
    const out = new DnsListeners([], logger, udpEngine);
    try {
      for (const spec of specs) out.listeners.push(await DnsListeners.bindPair(spec, options, udpEngine));
    } catch (err) {
      await out.close();
      throw err;
    }
    return out;
  }

  /** UDP first (port 0 picks one), then TCP on the same port; retried when TCP finds it taken. */
  private static async bindPair(
    spec: ListenSpec,
    options: ListenerOptions,
    udpEngine: UdpEngine,
  ): Promise<Listener> {
    for (let attempt = 0; ; attempt++) {
      // The batched socket answers from the moment it is bound (its handler is given at bind).
      const udp =
        udpEngine === 'batched'
          ? await bindBatched(spec.host, spec.port, options)
          : await bindUdp(spec.host, spec.port);
      const port = udpPort(udp);
      const listener = new Listener(spec.host, udp, createServer({ allowHalfOpen: true }));
      try {
        if (options.tcpReusePort === true) await listenTcpReusePort(listener.tcp, spec.host, port);
        else await listenTcp(listener.tcp, spec.host, port);
      } catch (err) {
        await closeUdp(udp);
        if (spec.port === 0 && attempt < 20 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw new MeridianError(
          'E_UNAVAILABLE',
          `cannot listen on TCP ${spec.host}:${port}: ${describeError(err)}`,
          {
            cause: err,
          },
        );
      }
      if (!(udp instanceof BatchedUdpSocket)) DnsListeners.serveUdp(udp, options);
      else if ((options.reusePortGroup ?? 0) > 1 && !udp.spreading)
        options.logger.warn(
          { host: spec.host, port },
          'DNS UDP: the kernel refused the random spread program (SO_ATTACH_REUSEPORT_CBPF): ' +
            'packets go to workers by flow hash, so a few busy senders may load one worker',
        );
      DnsListeners.serveTcp(listener, options);
      return listener;
    }
  }

  private static serveUdp(socket: UdpSocket, options: ListenerOptions): void {
    const { handler, logger } = options;
    socket.on('message', (msg, rinfo) => {
      let reply: Buffer | undefined;
      try {
        reply = handler(msg, addressFromText(rinfo.address) ?? NO_ADDRESS, 'udp');
      } catch (err) {
        logger.error({ err: describeError(err) }, 'DNS handler threw');
        return;
      }
      // No per-packet callback: it costs a request wrap and a tick per reply; a failed send is
      // emitted as an 'error' event instead.
      if (reply !== undefined) socket.send(reply, rinfo.port, rinfo.address);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reply that cannot be sent (e.g. to a spoofed or unreachable source) is routine for a DNS server.
      if (err.syscall === 'send') logger.debug({ err: err.message }, 'UDP send failed');
      else logger.warn({ err: err.message }, 'UDP socket error');
    });
  }

  private static serveTcp(listener: Listener, options: ListenerOptions): void {
    const { handler, logger } = options;
    listener.tcp.maxConnections = options.maxTcpConnections ?? 1024;
    listener.tcp.on('error', (err) => logger.warn({ err: err.message }, 'TCP server error'));
    listener.tcp.on('connection', (socket: TcpSocket) => {
      listener.tcpSockets.add(socket);
      socket.on('close', () => listener.tcpSockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.setNoDelay(true);
      socket.setTimeout(options.tcpIdleTimeoutMs, () => socket.destroy());
      const client = addressFromText(socket.remoteAddress ?? '') ?? NO_ADDRESS;
      const serve = async (): Promise<void> => {
        for (;;) {
          let msg: Buffer;
          try {
            msg = await Packet.readStream(socket);
          } catch {
            // Peer finished (or sent a truncated frame): close our side once replies are flushed.
            if (!socket.destroyed) socket.end();
            return;
          }
          let reply: Buffer | undefined;
          try {
            const replies = options.tcpMultiHandler?.(msg, client);
            if (replies !== undefined) {
              if (socket.destroyed || !socket.writable) return;
              for (const r of replies) socket.write(frame(r));
              continue;
            }
            reply = handler(msg, client, 'tcp');
          } catch (err) {
            logger.error({ err: describeError(err) }, 'DNS handler threw');
          }
          if (reply === undefined) {
            if (msg.length < 12) {
              socket.destroy(); // not DNS: stop reading garbage
              return;
            }
            continue;
          }
          if (socket.destroyed || !socket.writable) return;
          socket.write(frame(reply));
        }
      };
      serve().catch((err: unknown) => {
        logger.debug({ err: describeError(err) }, 'TCP connection ended with an error');
        socket.destroy();
      });
    });
  }

  addresses(): BoundAddress[] {
    const out: BoundAddress[] = [];
    for (const l of this.listeners) {
      out.push({ transport: 'udp', host: l.host, port: udpPort(l.udp) });
      const t = l.tcp.address();
      if (t !== null && typeof t === 'object') out.push({ transport: 'tcp', host: l.host, port: t.port });
    }
    return out;
  }

  /** Counters of the batched UDP sockets (empty with node:dgram), for metrics and tests. */
  udpStats(): UdpBatchStats[] {
    const out: UdpBatchStats[] = [];
    for (const l of this.listeners) if (l.udp instanceof BatchedUdpSocket) out.push(l.udp.stats());
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.listeners.map(async (l) => {
        for (const s of l.tcpSockets) s.destroy();
        await Promise.all([closeUdp(l.udp), closeTcp(l.tcp)]);
      }),
    );
    this.listeners.length = 0;
    this.logger.debug('DNS listeners closed');
  }
}
