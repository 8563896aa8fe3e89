// The last step of the answer pipeline: an Answer (records and rcode, built by resolve/steer) becomes
// reply bytes. Owns the header flags, the OPT record (ECS echoed with its scope), the UDP size limit
// and truncation (TC=1 with empty sections when the reply does not fit).
import type { DnsConfig } from '../../config/dns-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import type { DnsMetrics, Transport } from '../metrics.js';
import { FLAG_AA, FLAG_QR, FLAG_TC, RCODE } from '../wire/constants.js';
import { Encoder } from '../wire/encoder.js';
import type { Rr } from '../wire/encoder.js';
import type { EcsOption, ParsedQuery, Question } from '../wire/reader.js';

/** The reply being built for one query. */
export interface Answer {
  rcode: number;
  aa: boolean;
  readonly answers: Rr[];
  readonly authority: Rr[];
  readonly additional: Rr[];
  /** ECS SCOPE PREFIX-LENGTH to send back (the widest of the steered answers'). */
  scope: number;
  /** Set by a steered answer (for the answers metric of cached replies). */
  region?: string | undefined;
  country?: string | undefined;
  truncated?: boolean;
}

/** An authoritative NOERROR answer with nothing in it yet. */
export function emptyAnswer(): Answer {
  return { rcode: RCODE.NOERROR, aa: true, answers: [], authority: [], additional: [], scope: 0 };
}

export class ReplyEncoder {
  private readonly encoder = new Encoder();

  constructor(
    private readonly config: DeepReadonly<DnsConfig>,
    private readonly metrics: DnsMetrics | undefined,
  ) {}

  /** A reply with no records: FORMERR, NOTIMP, REFUSED, SERVFAIL, BADVERS. */
  simple(q: ParsedQuery, rcode: number, transport: Transport, ecs?: EcsOption): Buffer {
    return this.encode(
      q,
      { rcode, aa: false, answers: [], authority: [], additional: [], scope: 0 },
      transport,
      ecs,
    );
  }

  /** The reply for `ans`; over UDP, truncated (TC=1, no records) when it exceeds the client's limit. */
  encode(q: ParsedQuery, ans: Answer, transport: Transport, ecs: EcsOption | undefined): Buffer {
    const question = questionOf(q);
    const full = this.encoder.encode({
      id: q.id,
      flags: flags(q, ans.rcode, ans.aa, false),
      question,
      answers: ans.answers,
      authority: ans.authority,
      additional: ans.additional,
      opt: this.optFor(q, ans.rcode, ecs, ans.scope),
    });
    if (transport === 'tcp') return full;
    const limit =
      q.opt === undefined ? 512 : Math.min(Math.max(q.opt.udpSize, 512), this.config.udpPayloadSize);
    if (full.length <= limit) return full;
    ans.truncated = true;
    this.metrics?.truncated.inc();
    return this.encoder.encode({
      id: q.id,
      flags: flags(q, ans.rcode, ans.aa, true),
      question,
      answers: [],
      authority: [],
      additional: [],
      opt: this.optFor(q, ans.rcode, ecs, ans.scope),
    });
  }

  /** The RRL "slip" reply: empty, TC=1, so a real client retries over TCP. */
  truncatedReply(q: ParsedQuery, ecs: EcsOption | undefined): Buffer {
    return this.encoder.encode({
      id: q.id,
      flags: flags(q, RCODE.NOERROR, false, true),
      question: questionOf(q),
      answers: [],
      authority: [],
      additional: [],
      opt: this.optFor(q, RCODE.NOERROR, ecs, 0),
    });
  }

  private optFor(q: ParsedQuery, rcode: number, ecs: EcsOption | undefined, scope: number) {
    if (q.opt === undefined) return undefined;
    return {
      udpSize: this.config.udpPayloadSize,
      extRcode: (rcode >> 4) & 0xff,
      dnssecOk: q.opt.dnssecOk,
      ecs,
      scope: ecs !== undefined && ecs.sourcePrefix > 0 ? scope : 0,
    };
  }
}

function flags(q: ParsedQuery, rcode: number, aa: boolean, tc: boolean): number {
  // QR; opcode and RD echoed; AA; TC; RA and Z clear; CD echoed; AD clear; low 4 RCODE bits.
  return (
    FLAG_QR |
    (q.flags & 0x7900) |
    (aa ? FLAG_AA : 0) |
    (tc ? FLAG_TC : 0) |
    (q.flags & 0x0010) |
    (rcode & 0x0f)
  );
}

function questionOf(q: ParsedQuery): Question | undefined {
  const question = q.question;
  return question !== undefined && question.nameWire.length <= 255 ? question : undefined;
}
