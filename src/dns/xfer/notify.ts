// NOTIFY (RFC 1996) to each zone's `transfer.notify` secondaries whenever its serial changes — also
// at start, since the serial may have changed while we were down. One UDP socket per family; each
// (zone, target) is retried with doubling delays until a reply with our ID comes back or the
// attempts run out, and a newer serial replaces the pending one. Signed with the zone's TSIG key
// when it has one (the reply's signature is checked too). Runs in one process only: the single DNS
// process, or the cluster primary — never in the answering workers.
import { randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import type { DnsConfig } from '../../config/dns-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import { parseHostPort } from '../../config/primitives.js';
import { describeError } from '../../core/errors.js';
import { ipFamily } from '../../core/ip.js';
import type { Logger } from '../../infra/logger.js';
import type { Zone, ZoneSet } from '../answer/zones.js';
import { CLASS_IN, FLAG_AA, RCODE_NAME, TYPE } from '../wire/constants.js';
import { Encoder } from '../wire/encoder.js';
import { canonicalWire, OPCODE_NOTIFY, readTransferMessage } from './message.js';
import { TsigSigner, tsigKeyring, verifyReply, type TsigKey } from './tsig.js';

export interface NotifierOptions {
  readonly config: DeepReadonly<DnsConfig>;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** What became of one NOTIFY (for logs and tests). */
export interface NotifyOutcome {
  readonly zone: string;
  readonly target: string;
  readonly serial: number;
  /** The reply's RCODE name, or 'timeout' when every attempt went unanswered. */
  readonly result: string;
  readonly attempts: number;
}

interface Pending {
  readonly zone: Zone;
  readonly target: string;
  readonly host: string;
  readonly port: number;
  attempts: number;
  id: number;
  requestMac: Buffer | undefined;
  timer: NodeJS.Timeout | undefined;
}

export class Notifier {
  private readonly keys: ReadonlyMap<string, TsigKey>;
  private readonly encoder = new Encoder();
  private readonly pending = new Map<string, Pending>();
  private readonly sockets = new Map<4 | 6, Socket>();
  private readonly now: () => number;
  private readonly listeners: ((outcome: NotifyOutcome) => void)[] = [];
  private closed = false;
  /** Until `activate`, the latest change waits here: NOTIFY only once our listeners answer. */
  private held: { previous: ZoneSet | undefined; next: ZoneSet } | undefined;
  private active = false;

  constructor(private readonly options: NotifierOptions) {
    this.keys = tsigKeyring(options.config.tsigKeys);
    this.now = options.now ?? Date.now;
  }

  /** Called with `onOutcome` for every finished NOTIFY (answered or given up). */
  onOutcome(listener: (outcome: NotifyOutcome) => void): void {
    this.listeners.push(listener);
  }

  /**
   * The zone set was (re)compiled: NOTIFY every target of each zone that is new or whose serial
   * changed. `previous` is undefined at start.
   */
  zonesCompiled(previous: ZoneSet | undefined, next: ZoneSet): void {
    if (this.closed) return;
    if (!this.active) {
      this.held = { previous: this.held?.previous ?? previous, next };
      return;
    }
    for (const zone of next.zones) {
      const targets = zone.transfer?.notify ?? [];
      if (targets.length === 0) continue;
      const before = previous?.zones.find((z) => z.name === zone.name);
      if (before !== undefined && before.serial === zone.serial) continue;
      for (const target of targets) this.start(zone, target);
    }
  }

  /** The listeners answer now: send what was held back, and everything from here on. */
  activate(): void {
    this.active = true;
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) this.zonesCompiled(held.previous, held.next);
  }

  close(): void {
    this.closed = true;
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }

  private start(zone: Zone, target: string): void {
    const hp = parseHostPort(target);
    if (hp === undefined) return; // the schema accepted only host:port
    const key = `${zone.name}|${target}`;
    const old = this.pending.get(key);
    if (old !== undefined) clearTimeout(old.timer);
    const p: Pending = {
      zone,
      target,
      host: hp.host,
      port: hp.port,
      attempts: 0,
      id: 0,
      requestMac: undefined,
      timer: undefined,
    };
    this.pending.set(key, p);
    this.attempt(key, p);
  }

  private attempt(key: string, p: Pending): void {
    if (this.closed || this.pending.get(key) !== p) return;
    const settings = this.options.config.transfer;
    if (p.attempts >= settings.notifyAttempts) {
      this.pending.delete(key);
      this.options.logger.warn(
        { zone: p.zone.name, target: p.target, serial: p.zone.serial, attempts: p.attempts },
        'NOTIFY unanswered: giving up (the secondary still refreshes on the SOA refresh timer)',
      );
      this.finish({
        zone: p.zone.name,
        target: p.target,
        serial: p.zone.serial,
        result: 'timeout',
        attempts: p.attempts,
      });
      return;
    }
    p.attempts++;
    p.id = randomInt(0, 0x10000);
    const message = this.message(p);
    try {
      this.socket(p.host).send(message, p.port, p.host);
    } catch (err) {
      this.options.logger.warn(
        { zone: p.zone.name, target: p.target, err: describeError(err) },
        'NOTIFY send failed',
      );
    }
    const delay = settings.notifyRetryMs * 2 ** (p.attempts - 1);
    p.timer = setTimeout(() => this.attempt(key, p), delay);
    p.timer.unref();
  }

  /** NOTIFY for the zone's SOA, with the SOA in ANSWER (RFC 1996 §3.7), signed when the zone has a key. */
  private message(p: Pending): Buffer {
    const zone = p.zone;
    const unsigned = this.encoder.encode({
      id: p.id,
      flags: (OPCODE_NOTIFY << 11) | FLAG_AA,
      question: {
        nameWire: canonicalWire(zone.name),
        name: zone.name,
        plain: true,
        qtype: TYPE.SOA,
        qclass: CLASS_IN,
      },
      answers: zone.soa.rrs,
      authority: [],
      additional: [],
      opt: undefined,
    });
    const keyName = zone.transfer?.tsigKey?.toLowerCase().replace(/\.$/, '');
    const key = keyName === undefined ? undefined : this.keys.get(keyName);
    if (key === undefined) {
      p.requestMac = undefined;
      return unsigned;
    }
    const signer = new TsigSigner(key, undefined, () => Math.floor(this.now() / 1000));
    const signed = signer.sign(unsigned);
    p.requestMac = signer.lastMac;
    return signed;
  }

  private socket(host: string): Socket {
    const family = ipFamily(host) === 6 ? 6 : 4;
    let s = this.sockets.get(family);
    if (s === undefined) {
      const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
      socket.on('message', (msg, rinfo) => this.onReply(msg, rinfo.address, rinfo.port));
      socket.on('error', (err) => this.options.logger.debug({ err: err.message }, 'NOTIFY socket error'));
      socket.unref();
      this.sockets.set(family, socket);
      s = socket;
    }
    return s;
  }

  private onReply(msg: Buffer, address: string, port: number): void {
    const m = readTransferMessage(msg);
    if (m === undefined || (m.flags & 0x8000) === 0 || m.opcode !== OPCODE_NOTIFY) return;
    for (const [key, p] of this.pending) {
      if (p.id !== m.id || p.port !== port || m.question.name !== p.zone.name) continue;
      if (ipFamily(address) !== undefined && address.replace(/^::ffff:/, '') !== p.host) continue;
      const zoneKey = p.zone.transfer?.tsigKey?.toLowerCase().replace(/\.$/, '');
      const tsigKey = zoneKey === undefined ? undefined : this.keys.get(zoneKey);
      if (tsigKey !== undefined && p.requestMac !== undefined) {
        if (m.tsig === undefined || !verifyReply(msg, m.tsig, tsigKey, p.requestMac)) {
          this.options.logger.warn(
            { zone: p.zone.name, target: p.target },
            'NOTIFY reply without a valid TSIG: ignored',
          );
          return;
        }
      }
      clearTimeout(p.timer);
      this.pending.delete(key);
      const result = RCODE_NAME[m.rcode] ?? String(m.rcode);
      const log = {
        zone: p.zone.name,
        target: p.target,
        serial: p.zone.serial,
        result,
        attempts: p.attempts,
      };
      if (m.rcode === 0) this.options.logger.info(log, 'NOTIFY acknowledged');
      else this.options.logger.warn(log, 'NOTIFY answered with an error');
      this.finish({
        zone: p.zone.name,
        target: p.target,
        serial: p.zone.serial,
        result,
        attempts: p.attempts,
      });
      return;
    }
  }

  private finish(outcome: NotifyOutcome): void {
    for (const l of this.listeners) l(outcome);
  }
}
