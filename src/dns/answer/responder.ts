// The authoritative answer logic: one received message in, one reply (or nothing) out. Synchronous:
// it reads only the in-memory zone data, the state snapshot (through the steering engine) and the
// geo database. Every query is independent — an exception answers SERVFAIL for that query only.
import type { DnsConfig } from '../../config/dns-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import { MeridianError, describeError, invalid } from '../../core/errors.js';
import { ipFamily, ipToBytes, parseCidr } from '../../core/ip.js';
import { LogLimiter } from '../../infra/log-limiter.js';
import type { Logger } from '../../infra/logger.js';
import type { SteeringEngine } from '../steering/engine.js';
import type { ClientSubnet, Decision } from '../steering/types.js';
import type { DnsMetrics, Transport } from '../metrics.js';
import { parseQuery } from '../wire/query.js';
import type { RateLimiter } from './rrl.js';
import type { Zone, ZoneNode, ZoneSet } from './zones.js';
import {
  CLASS_IN,
  Encoder,
  FLAG_AA,
  FLAG_QR,
  FLAG_TC,
  RCODE,
  RCODE_NAME,
  TYPE,
  characterStrings,
  ecsAddressText,
  ecsProblem,
  headerOnlyReply,
  parseQueryFast,
  qtypeLabel,
} from '../wire/codec.js';
import type { EcsOption, ParsedQuery, Question, Rr } from '../wire/codec.js';

export interface ExplainQuery {
  readonly name: string;
  /** The client (resolver) address. */
  readonly client: string;
  /** An EDNS Client Subnet such as 192.0.2.0/24. */
  readonly ecs?: string;
  readonly type: 'A' | 'AAAA';
}

export interface ExplainResult {
  readonly query: {
    readonly name: string;
    readonly type: 'A' | 'AAAA';
    readonly family: 4 | 6;
    readonly zone: string;
    /** The balanced name that answers (differs from `name` for a wildcard). */
    readonly balancedName: string;
    readonly client: string;
    readonly ecs?: ClientSubnet;
  };
  readonly decision: Decision;
}

export interface ResponderOptions {
  readonly config: DeepReadonly<DnsConfig>;
  readonly zones: ZoneSet;
  readonly engine: SteeringEngine;
  readonly logger: Logger;
  readonly metrics?: DnsMetrics | undefined;
  readonly rrl?: RateLimiter | undefined;
  readonly now?: () => number;
  /** Encoded replies kept for repeated queries (0 = none; config dns.answerCacheSize). Default 20000. */
  readonly answerCacheSize?: number;
}

/**
 * An encoded reply for one query shape. Valid while the steering engine's generation is unchanged;
 * served with the new query's ID and QNAME bytes (its original case) patched in.
 */
interface CachedAnswer {
  /** The key bytes (see `cacheKey`). */
  readonly key: Buffer;
  readonly reply: Buffer;
  readonly rcode: number;
  readonly generation: number;
  readonly truncated: boolean;
  /** For the answers metric: the first region answered and the client country, when steered. */
  readonly region: string | undefined;
  readonly country: string | undefined;
}

interface Answer {
  rcode: number;
  aa: boolean;
  readonly answers: Rr[];
  readonly authority: Rr[];
  readonly additional: Rr[];
  scope: number;
  /** Set by a steered answer (for the answers metric of cached replies). */
  region?: string | undefined;
  country?: string | undefined;
  truncated?: boolean;
}

const MAX_CNAME_CHAIN = 8;
const RFC8482_HINFO = characterStrings([Buffer.from('RFC8482'), Buffer.alloc(0)]);

export class Responder {
  private readonly config: DeepReadonly<DnsConfig>;
  readonly zones: ZoneSet;
  private readonly engine: SteeringEngine;
  private readonly logger: Logger;
  private readonly metrics: DnsMetrics | undefined;
  private readonly rrl: RateLimiter | undefined;
  private readonly now: () => number;
  private readonly encoder = new Encoder();
  private readonly addressBytes = new Map<string, Buffer>();
  private readonly errorLog = new LogLimiter(10, 10_000);
  private readonly answerCacheSize: number;
  /** Hash of the key (30 bits) → entry; the entry's key bytes confirm a match. */
  private answerCache = new Map<number, CachedAnswer>();
  private answerCacheHits = 0;
  /** Scratch space for building answer-cache keys. */
  private readonly keyScratch = Buffer.allocUnsafe(65_535 + 64);
  /**
   * Admission filter: a hash of each recently missed key, by its low 16 bits. A reply is cached
   * only when its key was missed before, so a stream of names asked once (a scan, random
   * subdomains) does not churn the cache and promote thousands of entries into the old heap.
   */
  private readonly seenOnce = new Uint32Array(65_536);
  private keyLength = 0;

  constructor(options: ResponderOptions) {
    this.config = options.config;
    this.zones = options.zones;
    this.engine = options.engine;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.rrl = options.rrl;
    this.now = options.now ?? Date.now;
    this.answerCacheSize = options.answerCacheSize ?? 20_000;
  }

  /**
   * Answers one message. `client` is the packet's source address. Returns the reply bytes, or
   * undefined to send nothing (no readable header, a response rather than a query, rate limited).
   */
  handle(msg: Buffer, client: string, transport: Transport): Buffer | undefined {
    const t0 = this.metrics === undefined ? 0 : performance.now();
    let q: ParsedQuery | undefined;
    let rcode: number = RCODE.SERVFAIL;
    let reply: Buffer | undefined;
    try {
      // Without a 12-byte header there is nothing to answer; a response (QR=1) is never answered,
      // so two servers cannot be made to bounce packets at each other.
      if (msg.length < 12 || (msg[2]! & 0x80) !== 0) return undefined;
      const opcode = (msg[2]! >> 3) & 0x0f;
      if (opcode !== 0) {
        rcode = RCODE.NOTIMP;
        q = parseQueryFast(msg);
        reply = q === undefined ? headerOnlyReply(msg, rcode) : this.simple(q, rcode, transport);
        return reply;
      }
      q = parseQuery(msg);
      if (q === undefined) return undefined;
      const result = this.answerQuery(msg, q, client, transport);
      rcode = result.rcode;
      reply = result.reply;
      return reply;
    } catch (err) {
      rcode = RCODE.SERVFAIL;
      const now = Date.now();
      if (this.errorLog.allow(now)) {
        this.logger.error(
          { err: describeError(err), client, transport, suppressed: this.errorLog.suppressed },
          'internal error answering a DNS query: SERVFAIL',
        );
        this.errorLog.suppressed = 0;
      }
      try {
        reply = q === undefined ? headerOnlyReply(msg, rcode) : this.simple(q, rcode, transport);
      } catch {
        reply = headerOnlyReply(msg, rcode);
      }
      return reply;
    } finally {
      if (this.metrics !== undefined && reply !== undefined) {
        this.metrics.query(q?.question?.qtype, rcode, transport, (performance.now() - t0) / 1000);
      }
      const sampleRate = this.config.queryLog.sampleRate;
      if (sampleRate > 0 && reply !== undefined && Math.random() < sampleRate) {
        this.logger.info(
          {
            log: 'query',
            client,
            transport,
            qname: q?.question?.name,
            qtype: qtypeLabel(q?.question?.qtype),
            rcode: RCODE_NAME[rcode] ?? String(rcode),
            size: reply.length,
          },
          'dns query',
        );
      }
    }
  }

  /** Answer-cache hits so far and entries held now. */
  answerCacheStats(): { hits: number; entries: number } {
    return { hits: this.answerCacheHits, entries: this.answerCache.size };
  }

  /** A reply with no records: FORMERR, NOTIMP, REFUSED, SERVFAIL, BADVERS. */
  private simple(q: ParsedQuery, rcode: number, transport: Transport, ecs?: EcsOption): Buffer {
    return this.encode(
      q,
      { rcode, aa: false, answers: [], authority: [], additional: [], scope: 0 },
      transport,
      ecs,
    );
  }

  private answerQuery(
    msg: Buffer,
    q: ParsedQuery,
    client: string,
    transport: Transport,
  ): { rcode: number; reply: Buffer | undefined } {
    const question = q.question;
    if (q.malformed !== undefined || question === undefined || q.qdcount !== 1) {
      return { rcode: RCODE.FORMERR, reply: this.simple(q, RCODE.FORMERR, transport) };
    }
    const opt = q.opt;
    let ecs: EcsOption | undefined;
    if (opt !== undefined) {
      if (opt.version > 0) return { rcode: RCODE.BADVERS, reply: this.simple(q, RCODE.BADVERS, transport) };
      if (opt.duplicateEcs) return { rcode: RCODE.FORMERR, reply: this.simple(q, RCODE.FORMERR, transport) };
      if (opt.ecs !== undefined) {
        if (ecsProblem(opt.ecs) !== undefined)
          return { rcode: RCODE.FORMERR, reply: this.simple(q, RCODE.FORMERR, transport) };
        ecs = opt.ecs;
      }
    }
    this.metrics?.ecs(ecs !== undefined);
    if (transport === 'udp' && this.rrl !== undefined) {
      const verdict = this.rrl.check(client, this.now());
      if (verdict !== 'pass') {
        this.metrics?.rateLimited(verdict);
        if (verdict === 'drop') return { rcode: RCODE.NOERROR, reply: undefined };
        this.metrics?.truncated.inc();
        return { rcode: RCODE.NOERROR, reply: this.truncatedReply(q, ecs) };
      }
    }
    if (question.qclass !== CLASS_IN || !question.plain) {
      return { rcode: RCODE.REFUSED, reply: this.simple(q, RCODE.REFUSED, transport, ecs) };
    }
    if (question.qtype === TYPE.AXFR || question.qtype === TYPE.IXFR) {
      // No zone transfers to anyone: the zone data lives in the configuration.
      return { rcode: RCODE.REFUSED, reply: this.simple(q, RCODE.REFUSED, transport, ecs) };
    }
    // Repeated queries (same name, type, flags, EDNS options and, unless an ECS address decides,
    // the same client) get the reply encoded last time, while the steering generation holds.
    let keyHash = -1;
    if (this.answerCacheSize > 0 && q.parser === 'fast') {
      keyHash = this.cacheKey(
        msg,
        question.nameWire.length,
        ecs !== undefined && ecs.sourcePrefix > 0,
        client,
        transport,
      );
      const hit = this.answerCache.get(keyHash >>> 2);
      if (
        hit !== undefined &&
        hit.generation === this.engine.generation(this.now()) &&
        this.sameKey(hit.key)
      ) {
        this.answerCacheHits++;
        if (hit.region !== undefined) this.metrics?.answer(hit.region, hit.country);
        if (hit.truncated) this.metrics?.truncated.inc();
        return { rcode: hit.rcode, reply: patchCached(hit.reply, msg, question.nameWire.length) };
      }
    }
    // Taken before resolving, so a change in between can only make the entry look stale.
    const generation = keyHash !== -1 && this.admit(keyHash) ? this.engine.generation(this.now()) : -1;
    const ans: Answer = {
      rcode: RCODE.NOERROR,
      aa: true,
      answers: [],
      authority: [],
      additional: [],
      scope: 0,
    };
    this.resolve(ans, question.name, question.qtype, 0, client, ecs);
    const reply = this.encode(q, ans, transport, ecs);
    if (generation !== -1) {
      if (this.answerCache.size >= this.answerCacheSize) this.answerCache = new Map();
      this.answerCache.set(keyHash >>> 2, {
        key: Buffer.from(this.keyScratch.subarray(0, this.keyLength)),
        reply,
        rcode: ans.rcode,
        generation,
        truncated: ans.truncated === true,
        region: ans.region,
        country: ans.country,
      });
    }
    return { rcode: ans.rcode, reply };
  }

  /**
   * Builds the answer-cache key in `keyScratch` (its length in `keyLength`) and returns its hash:
   * transport, the client address when no ECS address decides, then the message from its flags on
   * with the QNAME's ASCII letters lower-cased (names match case-insensitively; every other byte —
   * flags, type, class, EDNS options — must match exactly). Entries are found by the hash and
   * confirmed byte for byte, so no key string is built per query.
   */
  private cacheKey(
    msg: Buffer,
    qnameLength: number,
    ecsDecides: boolean,
    client: string,
    transport: Transport,
  ): number {
    const k = this.keyScratch;
    k[0] = transport === 'udp' ? 0x75 : 0x74;
    let p = 1;
    if (!ecsDecides) p += k.write(client, 1, 'latin1');
    k[p++] = 0x7c; // '|'
    const bodyStart = p;
    p += msg.copy(k, p, 2);
    const nameStart = bodyStart + 10;
    const nameEnd = nameStart + qnameLength;
    for (let i = nameStart; i < nameEnd; i++) {
      const c = k[i] as number;
      if (c >= 0x41 && c <= 0x5a) k[i] = c | 0x20;
    }
    this.keyLength = p;
    // FNV-1a; | 1 so that 0 marks an empty admission-filter slot.
    let h = 0x811c9dc5;
    for (let i = 0; i < p; i++) h = Math.imul(h ^ (k[i] as number), 0x01000193);
    return (h | 1) >>> 0;
  }

  /** Whether `key` equals the key built last. */
  private sameKey(key: Buffer): boolean {
    return key.length === this.keyLength && key.compare(this.keyScratch, 0, this.keyLength) === 0;
  }

  /** Whether the key with this hash was missed before (then its reply is worth caching). */
  private admit(hash: number): boolean {
    const slot = hash & 0xffff;
    if (this.seenOnce[slot] === hash) return true;
    this.seenOnce[slot] = hash;
    return false;
  }

  private resolve(
    ans: Answer,
    name: string,
    qtype: number,
    depth: number,
    client: string,
    ecs: EcsOption | undefined,
  ): void {
    const lk = this.zones.lookup(name);
    switch (lk.kind) {
      case 'refused':
        if (depth === 0) {
          ans.rcode = RCODE.REFUSED;
          ans.aa = false;
        }
        return;
      case 'nxdomain':
        ans.rcode = RCODE.NXDOMAIN;
        ans.authority.push(lk.zone.negativeSoa);
        return;
      case 'referral': {
        const cut = lk.cut;
        if (qtype === TYPE.DS && cut.name === name) {
          // DS belongs to the parent side of the cut: we are authoritative for it (and have none).
          ans.authority.push(lk.zone.negativeSoa);
          return;
        }
        if (depth === 0) ans.aa = false;
        const ns = cut.rrsets.get(TYPE.NS);
        if (ns !== undefined) {
          for (const rr of ns.rrs) ans.authority.push(rr);
          this.addGlue(ans, ns.targets);
        }
        return;
      }
      case 'node':
        this.answerNode(
          ans,
          lk.zone,
          lk.node,
          lk.wildcard ? name : undefined,
          name,
          qtype,
          depth,
          client,
          ecs,
        );
        return;
    }
  }

  private answerNode(
    ans: Answer,
    zone: Zone,
    node: ZoneNode,
    synthesizedOwner: string | undefined,
    name: string,
    qtype: number,
    depth: number,
    client: string,
    ecs: EcsOption | undefined,
  ): void {
    const cname = node.rrsets.get(TYPE.CNAME);
    if (cname !== undefined && qtype !== TYPE.CNAME) {
      for (const rr of cname.rrs) ans.answers.push(ownedBy(rr, synthesizedOwner));
      const target = cname.targets[0];
      if (target !== undefined && depth < MAX_CNAME_CHAIN && target !== name) {
        this.resolve(ans, target, qtype, depth + 1, client, ecs);
      }
      return;
    }
    if (qtype === TYPE.ANY) {
      // RFC 8482: one RRset, never the whole node.
      const first = node.rrsets.get(TYPE.SOA) ?? node.rrsets.values().next().value;
      if (first !== undefined) {
        for (const rr of first.rrs) ans.answers.push(ownedBy(rr, synthesizedOwner));
      } else if (node.balanced !== undefined || node.hasChildren) {
        ans.answers.push({
          owner: name,
          type: TYPE.HINFO,
          ttl: zone.negativeSoa.ttl,
          rdata: [RFC8482_HINFO],
        });
      }
      if (ans.answers.length === 0) ans.authority.push(zone.negativeSoa);
      return;
    }
    if (node.balanced !== undefined && (qtype === TYPE.A || qtype === TYPE.AAAA)) {
      this.steer(ans, zone, node, name, qtype, client, ecs);
      return;
    }
    const set = node.rrsets.get(qtype);
    if (set === undefined) {
      ans.authority.push(zone.negativeSoa);
      return;
    }
    for (const rr of set.rrs) ans.answers.push(ownedBy(rr, synthesizedOwner));
    if (qtype === TYPE.NS) this.addGlue(ans, set.targets);
  }

  private steer(
    ans: Answer,
    zone: Zone,
    node: ZoneNode,
    name: string,
    qtype: number,
    client: string,
    ecs: EcsOption | undefined,
  ): void {
    const family = qtype === TYPE.A ? 4 : 6;
    const useEcs = ecs !== undefined && ecs.sourcePrefix > 0;
    const decision = this.engine.decide(
      useEcs
        ? {
            name: node.balanced!,
            family,
            sourceIp: client,
            ecs: {
              family: ecs.family === 1 ? 4 : 6,
              address: ecsAddressText(ecs),
              sourcePrefix: ecs.sourcePrefix,
            },
            now: this.now(),
          }
        : { name: node.balanced!, family, sourceIp: client, now: this.now() },
    );
    if (decision.outcome !== 'addresses' || decision.addresses.length === 0) {
      ans.authority.push(zone.negativeSoa);
      return;
    }
    const ttl = decision.ttl;
    for (const address of decision.addresses) {
      ans.answers.push({ owner: name, type: qtype, ttl, rdata: [this.bytesOf(address)] });
    }
    if (useEcs && decision.scopePrefix > ans.scope) ans.scope = decision.scopePrefix;
    ans.region = decision.regions[0] ?? 'none';
    ans.country = decision.location.country;
    this.metrics?.answer(ans.region, ans.country);
  }

  private bytesOf(address: string): Buffer {
    let b = this.addressBytes.get(address);
    if (b === undefined) {
      const bytes = ipToBytes(address);
      if (bytes === undefined)
        throw new MeridianError('E_INTERNAL', `steering returned a bad address ${address}`);
      b = Buffer.from(bytes);
      if (this.addressBytes.size > 10_000) this.addressBytes.clear();
      this.addressBytes.set(address, b);
    }
    return b;
  }

  /** A/AAAA of in-bailiwick name servers, for NS answers and referrals. */
  private addGlue(ans: Answer, targets: readonly string[]): void {
    for (const t of targets) {
      const n = this.zones.get(t);
      if (n === undefined) continue;
      const a = n.rrsets.get(TYPE.A);
      const aaaa = n.rrsets.get(TYPE.AAAA);
      if (a !== undefined) for (const rr of a.rrs) ans.additional.push(rr);
      if (aaaa !== undefined) for (const rr of aaaa.rrs) ans.additional.push(rr);
    }
  }

  private flags(q: ParsedQuery, rcode: number, aa: boolean, tc: boolean): number {
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

  private questionOf(q: ParsedQuery): Question | undefined {
    const question = q.question;
    return question !== undefined && question.nameWire.length <= 255 ? question : undefined;
  }

  private encode(q: ParsedQuery, ans: Answer, transport: Transport, ecs: EcsOption | undefined): Buffer {
    const question = this.questionOf(q);
    const full = this.encoder.encode({
      id: q.id,
      flags: this.flags(q, ans.rcode, ans.aa, false),
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
      flags: this.flags(q, ans.rcode, ans.aa, true),
      question,
      answers: [],
      authority: [],
      additional: [],
      opt: this.optFor(q, ans.rcode, ecs, ans.scope),
    });
  }

  /** The RRL "slip" reply: empty, TC=1, so a real client retries over TCP. */
  private truncatedReply(q: ParsedQuery, ecs: EcsOption | undefined): Buffer {
    return this.encoder.encode({
      id: q.id,
      flags: this.flags(q, RCODE.NOERROR, false, true),
      question: this.questionOf(q),
      answers: [],
      authority: [],
      additional: [],
      opt: this.optFor(q, RCODE.NOERROR, ecs, 0),
    });
  }

  /** The steering decision for a balanced name, computed afresh, with the normalised query. */
  explain(query: ExplainQuery): ExplainResult {
    const name = query.name.toLowerCase().replace(/\.$/, '');
    if (query.type !== 'A' && query.type !== 'AAAA') throw invalid('type', 'expected A or AAAA');
    const lk = this.zones.lookup(name);
    if (lk.kind !== 'node' || lk.node.balanced === undefined) {
      throw new MeridianError('E_NOT_FOUND', `${query.name} is not a balanced name in any zone`, {
        field: 'name',
      });
    }
    const clientFamily = ipFamily(query.client);
    if (clientFamily === undefined)
      throw invalid('client', `expected an IP address, got ${JSON.stringify(query.client)}`);
    let ecs: ClientSubnet | undefined;
    if (query.ecs !== undefined) {
      const cidr = parseCidr(query.ecs);
      if (cidr === undefined) {
        throw invalid(
          'ecs',
          `expected a CIDR with zero host bits such as 192.0.2.0/24, got ${JSON.stringify(query.ecs)}`,
        );
      }
      // SOURCE /0 means "do not use my address": the resolver's address is used, as for a query.
      if (cidr.prefix > 0)
        ecs = {
          family: cidr.family,
          address: cidr.text.slice(0, cidr.text.indexOf('/')),
          sourcePrefix: cidr.prefix,
        };
    }
    const family = query.type === 'A' ? 4 : 6;
    const now = this.now();
    const decision = this.engine.explain(
      ecs === undefined
        ? { name: lk.node.balanced, family, sourceIp: query.client, now }
        : { name: lk.node.balanced, family, sourceIp: query.client, ecs, now },
    );
    return {
      query: {
        name,
        type: query.type,
        family,
        zone: lk.zone.name,
        balancedName: lk.node.name,
        client: query.client,
        ...(ecs === undefined ? {} : { ecs }),
      },
      decision,
    };
  }
}

/** A cached reply for a new query: its ID and its QNAME bytes (original case) copied in. */
function patchCached(cached: Buffer, msg: Buffer, qnameLength: number): Buffer {
  const out = Buffer.allocUnsafe(cached.length);
  cached.copy(out);
  out[0] = msg[0]!;
  out[1] = msg[1]!;
  msg.copy(out, 12, 12, 12 + qnameLength);
  return out;
}

/** A record as answered: renamed to the query name when a wildcard synthesized it. */
function ownedBy(rr: Rr, synthesizedOwner: string | undefined): Rr {
  return synthesizedOwner === undefined ? rr : { ...rr, owner: synthesizedOwner };
}
