// A small UDP DNS client for fault tests and the chaos script: sends A queries (with an ECS option,
// so the answer depends on a chosen client location) at a steady rate and counts what came back.
// dig costs a process per query; measuring the latency of every answer during an outage needs
// thousands of queries, each timed on its own.
import { createSocket, type Socket } from 'node:dgram';

export interface DnsTarget {
  readonly host: string;
  readonly port: number;
}

export interface AReply {
  /** 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, …; -1 when no reply came within the timeout. */
  readonly rcode: number;
  /** A records of the answer section, sorted. */
  readonly addresses: readonly string[];
  /** Milliseconds from send to reply (or to the timeout). */
  readonly ms: number;
}

/** ECS client subnet, e.g. `192.0.2.0/24`. */
function ecsOption(subnet: string): Buffer {
  const [address = '', prefixText = '32'] = subnet.split('/');
  const prefix = Number(prefixText);
  const octets = address.split('.').map(Number);
  const bytes = Buffer.from(octets.slice(0, Math.ceil(prefix / 8)));
  const option = Buffer.alloc(4 + 4 + bytes.length);
  option.writeUInt16BE(8, 0); // EDNS option code: client subnet (RFC 7871)
  option.writeUInt16BE(4 + bytes.length, 2);
  option.writeUInt16BE(1, 4); // family IPv4
  option.writeUInt8(prefix, 6);
  option.writeUInt8(0, 7);
  bytes.copy(option, 8);
  return option;
}

export function encodeAQuery(id: number, name: string, ecs?: string): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(1, 10); // one OPT record
  const labels = name
    .split('.')
    .filter((l) => l !== '')
    .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')]));
  const question = Buffer.concat([...labels, Buffer.from([0, 0, 1, 0, 1])]);
  const options = ecs === undefined ? Buffer.alloc(0) : ecsOption(ecs);
  const opt = Buffer.alloc(11);
  opt.writeUInt16BE(41, 1); // type OPT (name is the root: byte 0)
  opt.writeUInt16BE(1232, 3); // UDP payload size
  opt.writeUInt16BE(options.length, 9);
  return Buffer.concat([header, question, opt, options]);
}

/** Skips a (possibly compressed) name; returns the offset after it. */
function skipName(msg: Buffer, offset: number): number {
  let at = offset;
  for (;;) {
    const len = msg.readUInt8(at);
    if ((len & 0xc0) === 0xc0) return at + 2;
    if (len === 0) return at + 1;
    at += 1 + len;
  }
}

export function decodeAReply(msg: Buffer): { id: number; rcode: number; addresses: string[] } {
  const id = msg.readUInt16BE(0);
  const rcode = msg.readUInt16BE(2) & 0x0f;
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  let at = 12;
  for (let i = 0; i < qd; i++) at = skipName(msg, at) + 4;
  const addresses: string[] = [];
  for (let i = 0; i < an; i++) {
    at = skipName(msg, at);
    const type = msg.readUInt16BE(at);
    const rdlength = msg.readUInt16BE(at + 8);
    at += 10;
    if (type === 1 && rdlength === 4) addresses.push([...msg.subarray(at, at + 4)].join('.'));
    at += rdlength;
  }
  return { id, rcode, addresses: addresses.sort() };
}

/** One socket sending queries and matching replies by id. */
export class DnsProbe {
  private readonly socket: Socket;
  private readonly waiting = new Map<number, (reply: { rcode: number; addresses: string[] }) => void>();
  private nextId = 1;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (msg) => {
      try {
        const reply = decodeAReply(msg);
        const done = this.waiting.get(reply.id);
        if (done !== undefined) {
          this.waiting.delete(reply.id);
          done(reply);
        }
      } catch {
        // a reply this client cannot parse counts as no reply (the query times out)
      }
    });
  }

  static async open(): Promise<DnsProbe> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new DnsProbe(socket);
  }

  query(
    target: DnsTarget,
    name: string,
    options: { ecs?: string; timeoutMs?: number } = {},
  ): Promise<AReply> {
    const id = this.nextId;
    this.nextId = (this.nextId % 65535) + 1;
    const started = performance.now();
    const timeoutMs = options.timeoutMs ?? 2000;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ rcode: -1, addresses: [], ms: performance.now() - started });
      }, timeoutMs);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        resolve({ ...reply, ms: performance.now() - started });
      });
      this.socket.send(encodeAQuery(id, name, options.ecs), target.port, target.host);
    });
  }

  close(): void {
    this.socket.close();
  }
}

export interface LoadCounts {
  sent: number;
  /** Replies with NOERROR and the expected addresses. */
  answered: number;
  /** Replies that came, but with another rcode or other addresses. */
  wrong: number;
  /** No reply within the timeout. */
  failed: number;
  /** Replies slower than `slowMs`. */
  slow: number;
  maxMs: number;
  /** The first few wrong replies, for the failure message. */
  samples: string[];
}

export interface LoadOptions {
  readonly targets: readonly DnsTarget[];
  readonly name: string;
  readonly ecs?: string;
  /** Queries per second over all targets (round robin). */
  readonly qps: number;
  /** The expected A records, sorted. */
  readonly expect: readonly string[];
  readonly slowMs?: number;
  readonly timeoutMs?: number;
}

/** Sends queries at `qps` until `stop()` is called; `stop()` resolves with the counts once every reply is in. */
export async function startDnsLoad(options: LoadOptions): Promise<{ stop(): Promise<LoadCounts> }> {
  const probe = await DnsProbe.open();
  const counts: LoadCounts = { sent: 0, answered: 0, wrong: 0, failed: 0, slow: 0, maxMs: 0, samples: [] };
  const pending = new Set<Promise<void>>();
  const expected = JSON.stringify(options.expect);
  const slowMs = options.slowMs ?? 200;
  const startedAt = performance.now();
  const one = async (target: DnsTarget): Promise<void> => {
    counts.sent++;
    const r = await probe.query(target, options.name, {
      ...(options.ecs === undefined ? {} : { ecs: options.ecs }),
      timeoutMs: options.timeoutMs ?? 2000,
    });
    counts.maxMs = Math.max(counts.maxMs, r.ms);
    if (r.ms > slowMs) counts.slow++;
    if (r.rcode === -1) counts.failed++;
    else if (r.rcode === 0 && JSON.stringify(r.addresses) === expected) counts.answered++;
    else {
      counts.wrong++;
      if (counts.samples.length < 5) {
        const at = Math.round(performance.now() - startedAt);
        counts.samples.push(
          `rcode ${r.rcode} ${JSON.stringify(r.addresses)} from :${target.port} at +${at} ms`,
        );
      }
    }
  };
  let turn = 0;
  const timer = setInterval(() => {
    const target = options.targets[turn++ % options.targets.length];
    if (target === undefined) return;
    const p = one(target);
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }, 1000 / options.qps);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all([...pending]);
      probe.close();
      return counts;
    },
  };
}
