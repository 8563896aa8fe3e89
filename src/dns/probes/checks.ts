// One DNS-side probe against one target: HTTP(S) GET (undici) with an expected status and an
// optional body match, a TCP connect (node:net), or a DNS query over UDP (dns2's client). Each
// resolves to a pass or a failure with a short reason; none throws and each is bounded by the
// check's timeout.
import { isIPv6, Socket } from 'node:net';
import dns2 from 'dns2';
import { request } from 'undici';
import { parseStatusRanges, statusMatches } from '../../config/health-schema.js';
import type { ProbeCheckConfig } from '../../config/region-health-schema.js';

export interface ProbeResult {
  readonly ok: boolean;
  /** Why it failed (or what passed, for logs). */
  readonly detail: string;
}

/** Bytes of the body read for `bodyContains`; the rest is discarded. */
const MAX_BODY_BYTES = 64 * 1024;

type HttpCheck = Extract<ProbeCheckConfig, { type: 'http' | 'https' }>;
type TcpCheck = Extract<ProbeCheckConfig, { type: 'tcp' }>;
type DnsCheck = Extract<ProbeCheckConfig, { type: 'dns' }>;

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

const bracketed = (host: string): string => (isIPv6(host) ? `[${host}]` : host);

/** The target a check runs against: its fixed `host`, else the region address given. */
export function targetHost(check: ProbeCheckConfig, address: string): string {
  return check.host ?? address;
}

async function httpProbe(check: HttpCheck, host: string): Promise<ProbeResult> {
  const port = check.port ?? (check.type === 'https' ? 443 : 80);
  const url = `${check.type}://${bracketed(host)}:${port}${check.path}`;
  const ranges = parseStatusRanges(check.expectedStatus) ?? [];
  const signal = AbortSignal.timeout(check.timeoutMs);
  try {
    const res = await request(url, {
      method: 'GET',
      headers: check.hostHeader === undefined ? {} : { host: check.hostHeader },
      signal,
      headersTimeout: check.timeoutMs,
      bodyTimeout: check.timeoutMs,
    });
    let body = '';
    if (check.bodyContains === undefined) {
      // Frees the connection without keeping the body.
      await res.body.dump();
      // A timeout while the body was read ends dump() quietly: the check must still fail.
      signal.throwIfAborted();
    } else {
      // Read to the end (bounded by the timeout); keep only the first 64 KiB.
      for await (const chunk of res.body) {
        if (body.length < MAX_BODY_BYTES) body += (chunk as Buffer).toString('utf8');
      }
    }
    if (!statusMatches(ranges, res.statusCode)) {
      return { ok: false, detail: `GET ${url}: status ${res.statusCode}, expected ${check.expectedStatus}` };
    }
    if (check.bodyContains !== undefined && !body.includes(check.bodyContains)) {
      return { ok: false, detail: `GET ${url}: body does not contain ${JSON.stringify(check.bodyContains)}` };
    }
    return { ok: true, detail: `GET ${url}: ${res.statusCode}` };
  } catch (err) {
    return { ok: false, detail: `GET ${url}: ${errorText(err)}` };
  }
}

function tcpProbe(check: TcpCheck, host: string): Promise<ProbeResult> {
  const where = `tcp ${bracketed(host)}:${check.port}`;
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (result: ProbeResult): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => done({ ok: false, detail: `${where}: no connection within ${check.timeoutMs} ms` }),
      check.timeoutMs,
    );
    socket.once('connect', () => done({ ok: true, detail: `${where}: connected` }));
    socket.once('error', (err) => done({ ok: false, detail: `${where}: ${errorText(err)}` }));
    socket.connect({ host, port: check.port });
  });
}

async function dnsProbe(check: DnsCheck, host: string): Promise<ProbeResult> {
  const where = `dns ${check.name} ${check.qtype} @${bracketed(host)}:${check.port}`;
  const resolve = dns2.UDPClient({
    dns: host,
    port: check.port,
    socketType: isIPv6(host) ? 'udp6' : 'udp4',
    timeout: check.timeoutMs,
    retryOverTCP: false,
  });
  try {
    const reply = await resolve(check.name, check.qtype, 1, { recursive: false });
    if (reply.header.rcode !== 0) return { ok: false, detail: `${where}: rcode ${reply.header.rcode}` };
    if (check.expectAnswer && reply.answers.length === 0) return { ok: false, detail: `${where}: no answer` };
    return { ok: true, detail: `${where}: NOERROR, ${reply.answers.length} answer(s)` };
  } catch (err) {
    return { ok: false, detail: `${where}: ${errorText(err)}` };
  }
}

/** Runs one check against one host. Never rejects. */
export function runProbe(check: ProbeCheckConfig, host: string): Promise<ProbeResult> {
  switch (check.type) {
    case 'http':
    case 'https':
      return httpProbe(check, host);
    case 'tcp':
      return tcpProbe(check, host);
    case 'dns':
      return dnsProbe(check, host);
  }
}
