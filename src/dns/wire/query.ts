// Turns a received message into a ParsedQuery: the one-pass reader in wire.ts for the plain shape
// (almost every real query), dns2's Packet.parse for everything else (compressed QNAMEs, several
// questions or additional records, records in the answer/authority sections, garbage).
import dns2 from 'dns2';
import { EDNS_ECS, TYPE } from './constants.js';
import { parseQueryFast } from './reader.js';
import type { EcsOption, OptInfo, ParsedQuery, Question } from './reader.js';

const { Packet } = dns2;

interface Dns2Opt {
  type: number;
  name?: string;
  class?: number;
  ttl?: number;
  rdata?: {
    ednsCode?: number;
    family?: number;
    sourcePrefixLength?: number;
    scopePrefixLength?: number;
    ip?: string;
  }[];
}

/** Wire form of a dns2-decoded name (labels were decoded byte by byte as latin1). */
function nameToWire(name: string): { wire: Buffer; ok: boolean } {
  const labels = name === '' ? [] : name.split('.');
  const parts: Buffer[] = [];
  let ok = true;
  for (const l of labels) {
    const bytes = Buffer.from(l, 'latin1');
    if (bytes.length === 0 || bytes.length > 63) ok = false;
    parts.push(Buffer.from([bytes.length & 0x3f]), bytes);
  }
  parts.push(Buffer.from([0]));
  return { wire: Buffer.concat(parts), ok };
}

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

function ecsFromDns2(o: NonNullable<Dns2Opt['rdata']>[number]): EcsOption {
  const family = o.family ?? 0;
  const sourcePrefix = o.sourcePrefixLength ?? 0;
  const want = Math.ceil(sourcePrefix / 8);
  let full: Buffer;
  if (family === 1 && typeof o.ip === 'string') {
    full = Buffer.from(o.ip.split('.').map((x) => Number(x) & 0xff));
  } else if (family === 2 && typeof o.ip === 'string') {
    full = Buffer.alloc(16);
    o.ip.split(':').forEach((h, i) => {
      if (i < 8) full.writeUInt16BE(parseInt(h, 16) & 0xffff, i * 2);
    });
  } else {
    full = Buffer.alloc(0);
  }
  // dns2 pads the address to the family's length, so an over-long ADDRESS cannot be seen here;
  // only the plain-shape reader checks the exact length (a gap limited to queries that also carry
  // records dns2 must parse, e.g. a second additional record).
  return {
    family,
    sourcePrefix,
    scopePrefix: o.scopePrefixLength ?? 0,
    address: full.subarray(0, Math.min(want, full.length)),
  };
}

/** Parses with dns2 and describes the result in the same shape as the fast reader. */
export function parseQueryDns2(msg: Buffer): ParsedQuery | undefined {
  if (msg.length < 12) return undefined;
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  const qdcount = msg.readUInt16BE(4);
  const base = { id, flags, opcode: (flags >> 11) & 0x0f, qdcount, parser: 'dns2' as const };
  let packet: InstanceType<typeof Packet>;
  try {
    packet = Packet.parse(msg);
  } catch (err) {
    return {
      ...base,
      question: undefined,
      opt: undefined,
      malformed: `unparseable: ${(err as Error).message}`,
    };
  }
  const q0 = packet.questions[0];
  let question: Question | undefined;
  if (q0 !== undefined && typeof q0.name === 'string') {
    const { wire, ok } = nameToWire(q0.name);
    question = {
      nameWire: wire,
      name: lowerAscii(q0.name),
      plain: ok && wire.length <= 255,
      qtype: q0.type,
      qclass: q0.class,
    };
  }
  let malformed: string | undefined;
  if (packet.errors.length > 0) malformed = packet.errors.map((e) => e.message).join('; ');
  else if (qdcount !== 1) malformed = `QDCOUNT is ${qdcount}`;
  const opts = (packet.additionals as unknown as Dns2Opt[]).filter((r) => r.type === TYPE.OPT);
  let opt: OptInfo | undefined;
  const first = opts[0];
  if (first !== undefined) {
    if (opts.length > 1) malformed ??= `${opts.length} OPT records`;
    if (first.name !== undefined && first.name !== '') malformed ??= 'OPT owner is not the root';
    const ttl = first.ttl ?? 0;
    const ecsList = (first.rdata ?? []).filter((o) => o.ednsCode === EDNS_ECS);
    const ecs0 = ecsList[0];
    opt = {
      udpSize: first.class ?? 512,
      extRcode: (ttl >>> 24) & 0xff,
      version: (ttl >>> 16) & 0xff,
      dnssecOk: (ttl & 0x8000) !== 0,
      ecs: ecs0 === undefined ? undefined : ecsFromDns2(ecs0),
      duplicateEcs: ecsList.length > 1,
    };
  }
  if (opt === undefined && malformed !== undefined) {
    // A malformed message may still carry an OPT we could not reach; echoing EDNS is not required then.
  }
  return { ...base, question, opt, malformed };
}

/** Undefined only when there is not even a 12-byte header to answer. */
export function parseQuery(msg: Buffer): ParsedQuery | undefined {
  return parseQueryFast(msg) ?? parseQueryDns2(msg);
}
