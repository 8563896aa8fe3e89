// The authoritative answer logic: one received message in, one reply (or nothing) out. Synchronous:
// it reads only the in-memory zone data, the state snapshot (through the steering engine) and the
// geo database. Every query is independent — an exception answers SERVFAIL for that query only.
//
// The pipeline, one file per step: header and EDNS checks (here) → rrl.ts → answer-cache.ts →
// resolve.ts (zones) → steer.ts (balanced names) → dnssec/signer.ts (DO queries to signed zones) →
// encode.ts. explain.ts answers `explain` beside it.
import type { DnsConfig } from '../../config/dns-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import { describeError } from '../../core/errors.js';
import { LogLimiter } from '../../infra/log-limiter.js';
import type { Logger } from '../../infra/logger.js';
import type { SteeringEngine } from '../steering/engine.js';
import type { DnsMetrics, Transport } from '../metrics.js';
import { addressText } from '../wire/address.js';
import { parseQuery } from '../wire/query.js';
import { RCODE, RCODE_NAME, TYPE, CLASS_IN, qtypeLabel } from '../wire/constants.js';
import { ecsProblem, parseQueryFast } from '../wire/reader.js';
import { headerOnlyReply } from '../wire/encoder.js';
import type { EcsOption, ParsedQuery } from '../wire/reader.js';
import { AnswerCache, patchCached } from './answer-cache.js';
import { ReplyEncoder, emptyAnswer } from './encode.js';
import { explain, type ExplainQuery, type ExplainResult } from './explain.js';
import { ZoneResolver } from './resolve.js';
import type { RateLimiter } from './rrl.js';
import { Steerer, type ClientAddress } from './steer.js';
import type { ZoneSet } from './zones.js';
import { Signer } from '../dnssec/signer.js';
import type { DnsSpans } from './trace-span.js';

export type { ExplainQuery, ExplainResult } from './explain.js';

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
  /** Span export for the queries the query log samples (dns.tracing.otlp); undefined = off. */
  readonly spans?: DnsSpans | undefined;
}

interface Outcome {
  readonly rcode: number;
  readonly reply: Buffer | undefined;
  /** The query's ECS option, once validated. */
  readonly ecs?: EcsOption | undefined;
  /** A steered answer's region and the client's country (the query log's span reports them). */
  readonly region?: string | undefined;
  readonly country?: string | undefined;
  readonly cached?: boolean;
}

export class Responder {
  private readonly config: DeepReadonly<DnsConfig>;
  readonly zones: ZoneSet;
  readonly engine: SteeringEngine;
  private readonly logger: Logger;
  private readonly metrics: DnsMetrics | undefined;
  private readonly spans: DnsSpans | undefined;
  private readonly rrl: RateLimiter | undefined;
  private readonly now: () => number;
  private readonly errorLog = new LogLimiter(10, 10_000);
  private readonly cache: AnswerCache;
  private readonly encoder: ReplyEncoder;
  private readonly resolver: ZoneResolver;
  private readonly currentGeneration = (): number => this.engine.generation(this.now());
  /** Signs answers to DO queries when a zone is signed (undefined: no zone is). */
  private readonly signer: Signer | undefined;
  /** DO replies also go stale when the signer's epoch moves (key phases, hourly: dnssec/signer.ts). */
  private readonly signedGeneration = (): number => {
    const now = this.now();
    return this.engine.generation(now) * 0x1000000 + (this.signer!.epoch(now) & 0xffffff);
  };

  constructor(options: ResponderOptions) {
    this.config = options.config;
    this.zones = options.zones;
    this.engine = options.engine;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.spans = options.spans;
    this.rrl = options.rrl;
    this.now = options.now ?? Date.now;
    this.cache = new AnswerCache(options.answerCacheSize ?? 20_000);
    this.encoder = new ReplyEncoder(this.config, this.metrics);
    this.resolver = new ZoneResolver(this.zones, new Steerer(this.engine, this.metrics, this.now), this.now);
    const signer = new Signer({ zones: this.zones, now: this.now, metrics: this.metrics });
    this.signer = signer.active ? signer : undefined;
  }

  /**
   * Answers one message. `client` is the packet's source address as bytes (wire/address.ts). Returns the reply bytes, or
   * undefined to send nothing (no readable header, a response rather than a query, rate limited).
   */
  handle(msg: Buffer, client: ClientAddress, transport: Transport): Buffer | undefined {
    const t0 = this.metrics === undefined && this.spans === undefined ? 0 : performance.now();
    let q: ParsedQuery | undefined;
    let rcode: number = RCODE.SERVFAIL;
    let reply: Buffer | undefined;
    let result: Outcome | undefined;
    try {
      // Without a 12-byte header there is nothing to answer; a response (QR=1) is never answered,
      // so two servers cannot be made to bounce packets at each other.
      if (msg.length < 12 || (msg[2]! & 0x80) !== 0) return undefined;
      const opcode = (msg[2]! >> 3) & 0x0f;
      if (opcode !== 0) {
        rcode = RCODE.NOTIMP;
        q = parseQueryFast(msg);
        reply = q === undefined ? headerOnlyReply(msg, rcode) : this.encoder.simple(q, rcode, transport);
        return reply;
      }
      q = parseQuery(msg);
      if (q === undefined) return undefined;
      result = this.answerQuery(msg, q, client, transport);
      rcode = result.rcode;
      reply = result.reply;
      return reply;
    } catch (err) {
      rcode = RCODE.SERVFAIL;
      const now = Date.now();
      if (this.errorLog.allow(now)) {
        this.logger.error(
          {
            err: describeError(err),
            client: addressText(client),
            transport,
            suppressed: this.errorLog.suppressed,
          },
          'internal error answering a DNS query: SERVFAIL',
        );
        this.errorLog.suppressed = 0;
      }
      try {
        reply = q === undefined ? headerOnlyReply(msg, rcode) : this.encoder.simple(q, rcode, transport);
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
        const entry = {
          log: 'query',
          client: addressText(client),
          transport,
          qname: q?.question?.name,
          qtype: qtypeLabel(q?.question?.qtype),
          rcode: RCODE_NAME[rcode] ?? String(rcode),
          size: reply.length,
        };
        const traceId = this.spans?.record(
          {
            ...entry,
            ecs: result?.ecs,
            region: result?.region,
            country: result?.country,
            cached: result?.cached === true,
          },
          t0,
          performance.now(),
        );
        this.logger.info(traceId === undefined ? entry : { ...entry, traceId }, 'dns query');
      }
    }
  }

  /** Answer-cache hits so far and entries held now. */
  answerCacheStats(): { hits: number; entries: number } {
    return this.cache.stats();
  }

  /** The steering decision for a balanced name, computed afresh, with the normalised query. */
  explain(query: ExplainQuery): ExplainResult {
    return explain(this.zones, this.engine, query, this.now());
  }

  private answerQuery(msg: Buffer, q: ParsedQuery, client: ClientAddress, transport: Transport): Outcome {
    const question = q.question;
    const refuse = (code: number, ecs?: EcsOption): Outcome => ({
      rcode: code,
      reply: this.encoder.simple(q, code, transport, ecs),
    });
    if (q.malformed !== undefined || question === undefined || q.qdcount !== 1) return refuse(RCODE.FORMERR);
    const opt = q.opt;
    let ecs: EcsOption | undefined;
    if (opt !== undefined) {
      if (opt.version > 0) return refuse(RCODE.BADVERS);
      if (opt.duplicateEcs) return refuse(RCODE.FORMERR);
      if (opt.ecs !== undefined) {
        if (ecsProblem(opt.ecs) !== undefined) return refuse(RCODE.FORMERR);
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
        return { rcode: RCODE.NOERROR, reply: this.encoder.truncatedReply(q, ecs) };
      }
    }
    if (question.qclass !== CLASS_IN || !question.plain) return refuse(RCODE.REFUSED, ecs);
    // No zone transfers to anyone: the zone data lives in the configuration.
    if (question.qtype === TYPE.AXFR || question.qtype === TYPE.IXFR) return refuse(RCODE.REFUSED, ecs);
    // RFC 9824 §3.5: NXNAME is a marker in compact denial proofs, never a question.
    if (question.qtype === TYPE.NXNAME) return refuse(RCODE.FORMERR, ecs);
    const signing = this.signer !== undefined && opt !== undefined && opt.dnssecOk;
    // The DNSKEY RRset follows the keys' timeline, signed or not.
    const keyBound = signing || (this.signer !== undefined && question.qtype === TYPE.DNSKEY);

    // Repeated queries (same name, type, flags, EDNS options and, unless an ECS address decides,
    // the same client) get the reply encoded last time, while the steering generation holds.
    let keyHash = -1;
    if (this.cache.enabled && q.parser === 'fast') {
      const ecsDecides = ecs !== undefined && ecs.sourcePrefix > 0;
      keyHash = this.cache.key(msg, question.nameWire.length, ecsDecides, client, transport);
      const hit = this.cache.get(keyHash, keyBound ? this.signedGeneration : this.currentGeneration);
      if (hit !== undefined) {
        if (hit.region !== undefined) this.metrics?.answer(hit.region, hit.country);
        if (hit.truncated) this.metrics?.truncated.inc();
        return {
          rcode: hit.rcode,
          reply: patchCached(hit.reply, msg, question.nameWire.length),
          ecs,
          region: hit.region,
          country: hit.country,
          cached: true,
        };
      }
    }
    // Taken before resolving, so a change in between can only make the entry look stale.
    const generation =
      keyHash !== -1 && this.cache.admit(keyHash)
        ? keyBound
          ? this.signedGeneration()
          : this.engine.generation(this.now())
        : -1;
    const ans = emptyAnswer();
    this.resolver.resolve(ans, question.name, question.qtype, 0, client, ecs);
    if (signing) this.signer.sign(ans, question.name, question.qtype);
    const reply = this.encoder.encode(q, ans, transport, ecs);
    if (generation !== -1) {
      this.cache.set(keyHash, {
        reply,
        rcode: ans.rcode,
        generation,
        truncated: ans.truncated === true,
        region: ans.region,
        country: ans.country,
      });
    }
    return { rcode: ans.rcode, reply, ecs, region: ans.region, country: ans.country, cached: false };
  }
}
