// The transfer layer in front of the query responder: AXFR (RFC 5936) and IXFR (RFC 1995) over TCP
// to the networks a zone allows, TSIG (RFC 8945) on requests and every reply message, TSIG-signed
// ordinary queries (a secondary's SOA refresh), and incoming NOTIFY (we are the primary: REFUSED).
// Every other message goes straight to the responder; the check that decides costs a scan of the
// question (message.ts `needsTransferLayer`), so the query hot path is unchanged.
//
// IXFR: a client already at our serial (or newer) gets the single current SOA (RFC 1995 §2); one
// whose serial the change history (history.ts, kept from `zonesCompiled`) reaches back to gets the
// differences; anyone else the whole zone in AXFR form (RFC 1995 §4 allows it). Over UDP an IXFR
// gets the current SOA only, which tells the client to come back over TCP.
import type { DnsConfig } from '../../config/dns-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import { MeridianError, describeError } from '../../core/errors.js';
import { cidrContains, parseCidr, type Cidr } from '../../core/ip.js';
import { LogLimiter } from '../../infra/log-limiter.js';
import type { Logger } from '../../infra/logger.js';
import type { Transport } from '../metrics.js';
import type { SteeringEngine } from '../steering/engine.js';
import { Steerer, type ClientAddress } from '../answer/steer.js';
import type { Zone, ZoneSet } from '../answer/zones.js';
import { addressFromText, addressText } from '../wire/address.js';
import { CLASS_ANY, CLASS_IN, FLAG_AA, FLAG_QR, FLAG_RD, RCODE, TYPE } from '../wire/constants.js';
import { Encoder, headerOnlyReply, type Rr } from '../wire/encoder.js';
import type { Question } from '../wire/reader.js';
import { zoneRecords } from './contents.js';
import { ZoneHistory } from './history.js';
import {
  OPCODE_NOTIFY,
  RCODE_NOTAUTH,
  needsTransferLayer,
  readTransferMessage,
  withoutTsig,
  type TransferMessage,
} from './message.js';
import {
  TsigSigner,
  appendUnsignedError,
  serverTime,
  tsigKeyring,
  verifyRequest,
  type TsigKey,
} from './tsig.js';

/** Answers one message (the query responder's signature). */
export type AnswerFn = (msg: Buffer, client: ClientAddress, transport: Transport) => Buffer | undefined;

export interface ZoneTransfersOptions {
  readonly config: DeepReadonly<DnsConfig>;
  /** The zones compiled now (a function, so a recompiled set is seen at the next request). */
  readonly zones: () => ZoneSet;
  /** The steering engine now (a function: it is replaced with the zones). */
  readonly engine: () => SteeringEngine;
  /** The query responder, for everything that is not a transfer. */
  readonly answer: AnswerFn;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** Reply messages of a transfer are kept under this size (RFC 5936 leaves it to the server; 16 KiB as BIND). */
const MESSAGE_TARGET = 16_384;
const NO_ADDRESS = new Uint8Array(0);

/** RFC 1982 serial arithmetic: whether `a` is the same as or newer than `b`. */
export function serialAtLeast(a: number, b: number): boolean {
  return a === b || (a - b) >>> 0 < 0x80000000;
}

function questionOf(m: TransferMessage): Question {
  let plain = true;
  for (let i = 0; m.question.wire[i] !== 0; i += 1 + m.question.wire[i]!) {
    if (m.question.wire.subarray(i + 1, i + 1 + m.question.wire[i]!).includes(0x2e)) plain = false;
  }
  return {
    nameWire: m.question.wire,
    name: m.question.name,
    plain,
    qtype: m.question.qtype,
    qclass: m.question.qclass,
  };
}

export class ZoneTransfers {
  private readonly encoder = new Encoder();
  private readonly keys: ReadonlyMap<string, TsigKey>;
  private steerer: Steerer | undefined;
  private readonly defaultClient: ClientAddress;
  private readonly allowCache = new WeakMap<object, Cidr[]>();
  private readonly now: () => number;
  private readonly history = new ZoneHistory();
  /** Refusals and bad signatures come from strangers too (scanners probe AXFR): bounded logging. */
  private readonly refusalLog = new LogLimiter(10, 10_000);

  constructor(private readonly options: ZoneTransfersOptions) {
    this.now = options.now ?? Date.now;
    this.keys = tsigKeyring(options.config.tsigKeys);
    const client = options.config.transfer.defaultClient;
    this.defaultClient = client === undefined ? NO_ADDRESS : (addressFromText(client) ?? NO_ADDRESS);
  }

  /** A steerer over the current engine (no metrics: a transfer's steered answers are not client answers). */
  private steererNow(): Steerer {
    const engine = this.options.engine();
    if (this.steerer?.engine !== engine) this.steerer = new Steerer(engine, undefined, this.now);
    return this.steerer;
  }

  /** The zones were recompiled: keep the differences for IXFR. */
  zonesCompiled(previous: ZoneSet | undefined, next: ZoneSet): void {
    if (previous !== undefined) this.history.record(previous, next);
  }

  /** One reply (UDP, and TCP messages that are not transfers): the transfer layer's, else the responder's. */
  handle(msg: Buffer, client: ClientAddress, transport: Transport): Buffer | undefined {
    const replies = this.respond(msg, client, transport);
    if (replies === undefined) return this.options.answer(msg, client, transport);
    return replies[0];
  }

  /** TCP: the reply messages (several for a transfer); undefined when the responder should answer. */
  handleTcp(msg: Buffer, client: ClientAddress): readonly Buffer[] | undefined {
    return this.respond(msg, client, 'tcp');
  }

  /** `replies` with a SERVFAIL (logged, bounded) instead of an exception: a failed transfer still gets a reply. */
  private respond(msg: Buffer, client: ClientAddress, transport: Transport): Buffer[] | undefined {
    try {
      return this.replies(msg, client, transport);
    } catch (err) {
      if (this.refusalLog.allow(this.now())) {
        this.options.logger.error(
          { err: describeError(err), client: addressText(client), transport },
          'internal error in the zone transfer layer: SERVFAIL',
        );
      }
      return [headerOnlyReply(msg, RCODE.SERVFAIL)];
    }
  }

  private replies(msg: Buffer, client: ClientAddress, transport: Transport): Buffer[] | undefined {
    if (!needsTransferLayer(msg) || (msg[2]! & 0x80) !== 0) return undefined;
    const m = readTransferMessage(msg);
    if (m === undefined) return undefined; // the responder answers FORMERR
    const nowSeconds = Math.floor(this.now() / 1000);
    let signer: TsigSigner | undefined;
    if (m.tsig !== undefined) {
      const verdict = verifyRequest(msg, m.tsig, this.keys, nowSeconds);
      if (!verdict.ok) {
        this.logRefusal(
          {
            client: addressText(client),
            key: m.tsig.keyName,
            tsigError: verdict.error,
            zone: m.question.name,
          },
          'DNS request with a bad TSIG signature: NOTAUTH',
        );
        const reply = this.reply(m, RCODE_NOTAUTH, []);
        if (verdict.key !== undefined) {
          return [
            new TsigSigner(verdict.key, verdict.mac, () => nowSeconds).sign(
              reply,
              verdict.error,
              serverTime(nowSeconds),
            ),
          ];
        }
        return [appendUnsignedError(reply, m.tsig, verdict.error, nowSeconds)];
      }
      signer = new TsigSigner(verdict.key, verdict.mac, () => Math.floor(this.now() / 1000));
    }
    const sign = (b: Buffer): Buffer => (signer === undefined ? b : signer.sign(b));
    if (m.opcode === OPCODE_NOTIFY) {
      // We are the primary of our zones: their data changes through Meridian, not through a peer's NOTIFY.
      return [sign(this.reply(m, RCODE.REFUSED, []))];
    }
    if (m.opcode !== 0) return signer === undefined ? undefined : [sign(this.reply(m, RCODE.NOTIMP, []))];
    const qtype = m.question.qtype;
    if (qtype === TYPE.AXFR || qtype === TYPE.IXFR) {
      return this.transfer(m, client, transport, signer).map(sign);
    }
    if (m.tsig === undefined) return undefined;
    // A signed ordinary query (e.g. a secondary's SOA check): answered by the responder, then signed.
    const reply = this.options.answer(withoutTsig(msg, m.tsig, m.id), client, transport);
    return reply === undefined ? [] : [sign(reply)];
  }

  private transfer(
    m: TransferMessage,
    client: ClientAddress,
    transport: Transport,
    signer: TsigSigner | undefined,
  ): Buffer[] {
    const zones = this.options.zones();
    const zone = zones.zones.find((z) => z.name === m.question.name);
    const log = {
      client: addressText(client),
      zone: m.question.name,
      qtype: m.question.qtype === TYPE.AXFR ? 'AXFR' : 'IXFR',
      transport,
    };
    if (zone === undefined) {
      this.logRefusal(log, 'zone transfer for a zone we do not serve: NOTAUTH');
      return [this.reply(m, RCODE_NOTAUTH, [])];
    }
    if (m.question.qclass !== CLASS_IN && m.question.qclass !== CLASS_ANY)
      return [this.reply(m, RCODE.REFUSED, [])];
    const denied = this.denied(zone, client, signer);
    if (denied !== undefined) {
      this.logRefusal({ ...log, reason: denied }, 'zone transfer refused');
      return [this.reply(m, RCODE.REFUSED, [])];
    }
    const soa = zone.soa.rrs[0]!;
    if (m.question.qtype === TYPE.IXFR) {
      const upToDate = m.clientSerial !== undefined && serialAtLeast(m.clientSerial, zone.serial);
      if (upToDate || transport === 'udp') {
        this.options.logger.debug(
          { ...log, serial: zone.serial, clientSerial: m.clientSerial },
          'IXFR: current SOA only',
        );
        return [this.reply(m, RCODE.NOERROR, [soa])];
      }
      const chain =
        m.clientSerial === undefined ? undefined : this.history.since(zone.name, m.clientSerial, zone.serial);
      if (chain !== undefined) {
        // RFC 1995 §4: current SOA, then per change the old SOA, deletions, the new SOA, additions;
        // the current SOA again at the end.
        const records: Rr[] = [soa];
        for (const d of chain) records.push(d.fromSoa, ...d.deleted, d.toSoa, ...d.added);
        records.push(soa);
        const messages = this.split(m, records);
        this.options.logger.info(
          {
            ...log,
            serial: zone.serial,
            clientSerial: m.clientSerial,
            changes: chain.length,
            records: records.length,
          },
          'incremental zone transfer served',
        );
        return messages;
      }
    } else if (transport === 'udp') {
      return [this.reply(m, RCODE.REFUSED, [])]; // AXFR is TCP only (RFC 5936 §4.2)
    }
    const records = zoneRecords(zones, zone, this.steererNow(), this.defaultClient);
    records.push(soa);
    const messages = this.split(m, records);
    this.options.logger.info(
      {
        ...log,
        serial: zone.serial,
        clientSerial: m.clientSerial,
        records: records.length,
        messages: messages.length,
        tsig: signer !== undefined,
      },
      'zone transfer served',
    );
    return messages;
  }

  private logRefusal(fields: Record<string, unknown>, message: string): void {
    if (!this.refusalLog.allow(this.now())) return;
    this.options.logger.warn({ ...fields, suppressed: this.refusalLog.suppressed }, message);
    this.refusalLog.suppressed = 0;
  }

  /** Why `client` may not transfer `zone`, or undefined when it may. */
  private denied(zone: Zone, client: ClientAddress, signer: TsigSigner | undefined): string | undefined {
    const transfer = zone.transfer;
    if (transfer === undefined) return 'the zone allows no transfers';
    let allow = this.allowCache.get(transfer);
    if (allow === undefined) {
      allow = transfer.allow.map((text) => parseCidr(text)).filter((c): c is Cidr => c !== undefined);
      this.allowCache.set(transfer, allow);
    }
    if (!allow.some((cidr) => cidrContains(cidr, client))) return 'client address not in transfer.allow';
    const keyName = transfer.tsigKey?.toLowerCase().replace(/\.$/, '');
    if (keyName !== undefined && signer?.keyName !== keyName) return `not signed with TSIG key ${keyName}`;
    return undefined;
  }

  /** The records in as many messages as needed, each under MESSAGE_TARGET bytes, question in each. */
  private split(m: TransferMessage, records: readonly Rr[]): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    let batch = 256;
    while (i < records.length) {
      let n = Math.min(batch, records.length - i);
      for (;;) {
        const message = this.reply(m, RCODE.NOERROR, records.slice(i, i + n));
        if ((this.encoder.overflowed || message.length > MESSAGE_TARGET) && n > 1) {
          n = Math.max(1, n >> 1);
          batch = n;
          continue;
        }
        if (this.encoder.overflowed) {
          throw new MeridianError(
            'E_INTERNAL',
            `zone ${m.question.name}: a record does not fit in a DNS message`,
          );
        }
        out.push(message);
        i += n;
        break;
      }
    }
    return out;
  }

  private reply(m: TransferMessage, rcode: number, answers: readonly Rr[]): Buffer {
    const authoritative = rcode === RCODE.NOERROR ? FLAG_AA : 0;
    return this.encoder.encode({
      id: m.id,
      flags: FLAG_QR | (m.opcode << 11) | authoritative | (m.flags & FLAG_RD) | (rcode & 0x0f),
      question: questionOf(m),
      answers,
      authority: [],
      additional: [],
      opt: undefined,
    });
  }
}
