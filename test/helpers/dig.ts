// Runs the real `dig` (bind9-dnsutils) with execFile and parses its output for tests. A missing dig
// is an error, never a silent skip.
import { execFile } from 'node:child_process';

export interface DigRecord {
  readonly name: string;
  readonly ttl: number;
  readonly class: string;
  readonly type: string;
  readonly data: string;
}

export interface DigResult {
  /** NOERROR, NXDOMAIN, REFUSED, FORMERR, BADVERS, …; '' when no reply came. */
  readonly status: string;
  readonly opcode: string;
  readonly id: number;
  readonly flags: readonly string[];
  readonly question: { readonly name: string; readonly class: string; readonly type: string } | undefined;
  readonly answer: readonly DigRecord[];
  readonly authority: readonly DigRecord[];
  readonly additional: readonly DigRecord[];
  readonly edns:
    { readonly version: number; readonly flags: readonly string[]; readonly udp: number } | undefined;
  readonly ecs: { readonly address: string; readonly source: number; readonly scope: number } | undefined;
  readonly msgSize: number | undefined;
  readonly raw: string;
}

export interface DigTarget {
  readonly host: string;
  readonly port: number;
}

function parseRecord(line: string): DigRecord | undefined {
  const m = /^(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
  if (m === null) return undefined;
  return { name: m[1]!, ttl: Number(m[2]), class: m[3]!, type: m[4]!, data: m[5]!.trim() };
}

export function parseDig(raw: string): DigResult {
  let status = '';
  let opcode = '';
  let id = -1;
  let flags: string[] = [];
  let question: DigResult['question'];
  const answer: DigRecord[] = [];
  const authority: DigRecord[] = [];
  const additional: DigRecord[] = [];
  let edns: DigResult['edns'];
  let ecs: DigResult['ecs'];
  let msgSize: number | undefined;
  let section: 'question' | 'answer' | 'authority' | 'additional' | undefined;
  for (const line of raw.split('\n')) {
    let m = /->>HEADER<<- opcode: (\S+), status: (\S+), id: (\d+)/.exec(line);
    if (m !== null) {
      // A retry (e.g. dig falling back to TCP after TC) prints a second reply: the last one wins.
      opcode = m[1]!;
      status = m[2]!;
      id = Number(m[3]);
      answer.length = 0;
      authority.length = 0;
      additional.length = 0;
      edns = undefined;
      ecs = undefined;
      continue;
    }
    m = /^;; flags:([^;]*);/.exec(line);
    if (m !== null) {
      flags = m[1]!.trim().split(/\s+/).filter(Boolean);
      continue;
    }
    m = /^; EDNS: version: (\d+), flags:([^;]*); udp: (\d+)/.exec(line);
    if (m !== null) {
      edns = { version: Number(m[1]), flags: m[2]!.trim().split(/\s+/).filter(Boolean), udp: Number(m[3]) };
      continue;
    }
    m = /^; CLIENT-SUBNET: (\S+)\/(\d+)\/(\d+)/.exec(line);
    if (m !== null) {
      ecs = { address: m[1]!, source: Number(m[2]), scope: Number(m[3]) };
      continue;
    }
    m = /^;; MSG SIZE\s+rcvd: (\d+)/.exec(line);
    if (m !== null) {
      msgSize = Number(m[1]);
      continue;
    }
    if (line.startsWith(';; QUESTION SECTION')) section = 'question';
    else if (line.startsWith(';; ANSWER SECTION')) section = 'answer';
    else if (line.startsWith(';; AUTHORITY SECTION')) section = 'authority';
    else if (line.startsWith(';; ADDITIONAL SECTION')) section = 'additional';
    else if (line.trim() === '' || line.startsWith(';;')) section = line.trim() === '' ? undefined : section;
    else if (section === 'question' && line.startsWith(';')) {
      const q = line.slice(1).trim().split(/\s+/);
      question = { name: q[0] ?? '', class: q[1] ?? '', type: q[2] ?? '' };
    } else if (section !== undefined && section !== 'question' && !line.startsWith(';')) {
      const rr = parseRecord(line);
      if (rr !== undefined)
        (section === 'answer' ? answer : section === 'authority' ? authority : additional).push(rr);
    }
  }
  return { status, opcode, id, flags, question, answer, authority, additional, edns, ecs, msgSize, raw };
}

/** `dig @host -p port ARGS`, one try, short timeout. Resolves also when no reply came (status ''). */
export function dig(
  target: DigTarget,
  args: readonly string[],
  options: { timeoutSeconds?: number } = {},
): Promise<DigResult> {
  const t = options.timeoutSeconds ?? 2;
  const argv = [`@${target.host}`, '-p', String(target.port), `+time=${t}`, '+tries=1', '+retry=0', ...args];
  return new Promise((resolve, reject) => {
    execFile('dig', argv, { timeout: (t + 5) * 1000 }, (err, stdout, stderr) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('dig not found: install bind9-dnsutils (tests need the real dig)'));
        return;
      }
      // dig exits 9 when no reply came; the parse then has status ''.
      resolve(parseDig(`${stdout}\n${stderr}`));
    });
  });
}

/** Addresses (or other RDATA) of the answer records of one type, sorted. */
export function answerData(r: DigResult, type: string): string[] {
  return r.answer
    .filter((rr) => rr.type === type)
    .map((rr) => rr.data)
    .sort();
}
