// Runs the real `kdig` (knot-dnsutils) for zone transfer tests: AXFR/IXFR with or without a TSIG key,
// and returns the records, the message count kdig reports and any error line. kdig fails on a bad
// TSIG on the first message of a transfer but does not check later ones (BIND's dig does: the
// transfer test uses it for that). A missing kdig is an error, never a silent skip.
import { execFile } from 'node:child_process';
import type { DigTarget } from './dig.js';

export interface KdigRecord {
  readonly name: string;
  readonly ttl: number;
  readonly type: string;
  readonly data: string;
}

export interface KdigResult {
  readonly records: readonly KdigRecord[];
  /** From ";; Received N B (M messages, R records)"; undefined when absent. */
  readonly messages: number | undefined;
  /** Text of the first ";; ERROR:" or ";; WARNING:" line, '' when there is none. */
  readonly error: string;
  /** The header status of a single reply (NOERROR, REFUSED, …), '' for transfers. */
  readonly status: string;
  readonly raw: string;
}

export interface TsigArg {
  readonly name: string;
  readonly secret: string;
}

export function parseKdig(raw: string): KdigResult {
  const records: KdigRecord[] = [];
  let messages: number | undefined;
  let error = '';
  let status = '';
  for (const line of raw.split('\n')) {
    const received = /^;; Received \d+ B \((\d+) messages?, \d+ records?\)/.exec(line);
    if (received !== null) messages = Number(received[1]);
    const bad = /^;; (ERROR|WARNING): (.*)$/.exec(line);
    if (bad !== null && error === '') error = bad[2]!;
    const st = /status: (\S+);/.exec(line);
    if (st !== null) status = st[1]!;
    if (line.startsWith(';') || line.trim() === '') continue;
    const m = /^(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (m !== null && m[3] === 'IN')
      records.push({ name: m[1]!, ttl: Number(m[2]), type: m[4]!, data: m[5]!.trim() });
  }
  return { records, messages, error, status, raw };
}

/** `kdig @host -p port ARGS [-y hmac-sha256:name:secret]`, one try, short timeout. */
export function kdig(target: DigTarget, args: readonly string[], tsig?: TsigArg): Promise<KdigResult> {
  const argv = [`@${target.host}`, '-p', String(target.port), '+time=3', '+retry=0', ...args];
  if (tsig !== undefined) argv.push('-y', `hmac-sha256:${tsig.name}:${tsig.secret}`);
  return new Promise((resolve, reject) => {
    execFile('kdig', argv, { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('kdig not found: install knot-dnsutils (tests need the real kdig)'));
        return;
      }
      resolve(parseKdig(`${stdout}\n${stderr}`));
    });
  });
}
