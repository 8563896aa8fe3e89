// Admission: turns a request from any front-end into an Exchange — request id, client address
// (X-Forwarded-For only from trusted proxies), session key (affinity cookie or header, else the
// client address; a new cookie is issued when the cookie is missing), the W3C trace it continues
// or starts, headers for the backend — and refuses what no backend should see: an HTTP/1.1 request
// without Host, two Host lines, a request target that cannot be normalised or whose absolute-form
// authority contradicts Host (all 400). Ordinary and upgrade requests are admitted by the same code.
import { randomBytes } from 'node:crypto';
import type { DeepReadonly } from '../../config/load.js';
import type { ProxyConfig } from '../../config/proxy-schema.js';
import { unmapIPv4 } from '../../core/ip.js';
import { traceContextOf } from '../../infra/tracing/trace-context.js';
import type { ProxyError } from '../error-response.js';
import { Exchange } from './exchange.js';
import {
  affinityCookie,
  readCookie,
  requestIdOf,
  TrustedProxies,
  upstreamHeaderList,
  upstreamHeaders,
  validCookieValue,
} from './headers.js';
import type { ProxyRequest, ProxyResponse, UpgradeSocket } from './request.js';
import { normaliseTarget } from './target.js';

export class Admission {
  private readonly trusted: TrustedProxies;
  /** Whether a new trace is recorded (exported); undefined when trace headers are not handled. */
  private readonly sampleNewTrace: (() => boolean) | undefined;

  constructor(private readonly config: DeepReadonly<ProxyConfig>) {
    this.trusted = new TrustedProxies(config.trustedProxies);
    const tracing = config.tracing;
    if (tracing.propagate) {
      const rate = tracing.otlp?.sampleRate ?? 0;
      this.sampleNewTrace = rate >= 1 ? () => true : rate <= 0 ? () => false : () => Math.random() < rate;
    }
  }

  admit(
    req: ProxyRequest,
    res: ProxyResponse,
    proto: 'http' | 'https',
    upgrade: UpgradeSocket | undefined,
  ): Exchange {
    // Single fields through `req.header`: on the HTTP/1 front-end no header object is built.
    const requestId = requestIdOf(req.header('x-request-id'));
    const trace =
      this.sampleNewTrace === undefined
        ? undefined
        : traceContextOf(req.header('traceparent'), req.header('tracestate'), this.sampleNewTrace);
    const peer = unmapIPv4(req.remoteAddress ?? '');
    const trusted = this.trusted.contains(peer);

    // Session key. `affinityKey` is the one the client sent (cookie or header), if any.
    const affinity = this.config.affinity;
    let affinityKey: string | undefined;
    let key: string | undefined;
    let sticky = true;
    let setCookie: string | undefined;
    if (affinity.mode === 'cookie') {
      const value = readCookie(req.header('cookie'), affinity.cookieName);
      if (value !== undefined && validCookieValue(value)) key = affinityKey = value;
      else if (upgrade === undefined) {
        // A new session: its cookie comes with the response (an upgrade has no response to carry it).
        key = randomBytes(12).toString('base64url');
        sticky = false;
        setCookie = affinityCookie(affinity.cookieName, key, affinity.cookieMaxAgeSeconds, proto === 'https');
      }
    } else if (affinity.mode === 'header') {
      const value = req.header(affinity.header);
      if (value !== undefined && value !== '') key = affinityKey = value;
    }
    const clientIp = trusted ? this.trusted.clientAddress(peer, req.header('x-forwarded-for')) : peer;
    key ??= clientIp;

    const ex = new Exchange(
      req,
      res,
      req.method,
      requestId,
      key,
      sticky,
      affinityKey,
      clientIp,
      setCookie,
      req.httpVersionMajor === 1 && !trusted
        ? upstreamHeaderList(req.rawHeaders, peer, proto, requestId, trace)
        : upstreamHeaders(req.headers, { peer, trusted, proto, requestId, trace }),
      upgrade === undefined ? req.body : null,
      upgrade === undefined
        ? undefined
        : {
            socket: upgrade.socket,
            head: upgrade.head,
            protocol: req.header('upgrade') ?? 'websocket',
          },
    );
    ex.trace = trace;
    return ex;
  }

  /** What is wrong with the request, if anything; on success `ex.target` is the normalised target. */
  refusal(ex: Exchange, secure: boolean): ProxyError | undefined {
    const req = ex.req;
    const host = req.header('host');
    if (req.httpVersionMajor === 1) {
      // RFC 9112 §3.2 (node:http's own check is off, so every HTTP/1 front-end answers alike).
      if (host === undefined && req.httpVersionMinor === 1)
        return { code: 'E_BAD_REQUEST', message: 'an HTTP/1.1 request needs a Host header' };
      if (host !== undefined && hasTwoHosts(req.rawHeaders))
        return { code: 'E_BAD_REQUEST', message: 'a request must carry one Host header, not several' };
    }
    const normalised = normaliseTarget(req.url, host, secure);
    if (typeof normalised !== 'string') return { code: 'E_BAD_REQUEST', message: normalised.invalid };
    ex.target = normalised;
    return undefined;
  }
}

function hasTwoHosts(raw: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    if (seen) return true;
    seen = true;
  }
  return false;
}
