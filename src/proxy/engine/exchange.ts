// One client request across its attempts: what admission decided (session key, target, headers for
// the backend), what the policy gate added (RateLimit-* headers, the pacer), and the state of the
// attempts (backends tried, the retry budget slot, who answered). Plain data, no behaviour beyond
// "may this request be sent again".
import type { Readable, Transform } from 'node:stream';
import type { TraceContext } from '../../infra/tracing/trace-context.js';
import type { PolicyRequest } from '../policy/engine.js';
import type { ProxyRequest, ProxyResponse, UpgradeSocket } from './request.js';
import type { Upstream } from './upstreams.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

export class ClientGone extends Error {
  override readonly name = 'ClientGone';
  readonly code = 'E_CLIENT_GONE';
}

/** Accounts for an exchange once its response has closed (the engine). */
export interface ExchangeOwner {
  finish(ex: Exchange): void;
}

export class Exchange {
  readonly start = performance.now();
  owner: ExchangeOwner | undefined;
  /** Normalised origin-form target (what policies see and the backend receives). */
  target: string;
  tried: Set<string> | undefined;
  /** The backend a retry goes to, picked when the retryable answer arrived. */
  retryTarget: string | undefined;
  attempts = 0;
  retryCounted = false;
  /** The upstream whose answer (or failure) the client got; 'none' when the proxy answered itself. */
  answeredBy = 'none';
  status = 0;
  /** Aborts the attempt in progress (undici's onConnect callback). */
  abort: ((err: Error) => void) | undefined;
  clientGone = false;
  done = false;
  /** The backend switched protocols: the connection is a tunnel now, not a response. */
  tunnelled = false;
  /** Peer proxies to try, when the request is being sent to another region. */
  peers: readonly Upstream[] | undefined;
  /** Headers of the policy verdict (RateLimit-*), added to the response. */
  policyHeaders: Readonly<Record<string, string>> | undefined;
  /** The request as the policies saw it, for bandwidth pacing when the response starts. */
  policyReq: PolicyRequest | undefined;
  /** The bandwidth pacer the body goes through (piped into the response). */
  paced: Transform | undefined;
  /** The W3C trace this request continues or starts (undefined with `tracing.propagate` off). */
  trace: TraceContext | undefined;
  /** The policy gate's verdict ('none': no policies), and the rule of a rejection. */
  policyAction: 'none' | 'pass' | 'reject' = 'none';
  policyRule: string | undefined;

  constructor(
    readonly req: ProxyRequest,
    readonly res: ProxyResponse,
    readonly method: string,
    readonly requestId: string,
    /** The affinity key: the client's session (cookie or header) or address. */
    readonly key: string,
    /** The key is an existing session (it may stay on a draining backend). */
    readonly sticky: boolean,
    /** The session key the client sent, if any (policies key on it). */
    readonly affinityKey: string | undefined,
    readonly clientIp: string,
    readonly setCookie: string | undefined,
    /** Headers for the backend: a flat name/value list (HTTP/1 fast path) or an object. */
    readonly headers: string[] | Record<string, string>,
    /** The request body stream, or null. */
    readonly body: Readable | null,
    /** Set for an upgrade request (WebSocket): the client's connection. */
    readonly upgrade: (UpgradeSocket & { readonly protocol: string }) | undefined,
  ) {
    this.target = req.url;
  }

  /** Safe to send again: idempotent or body-less, and no body byte consumed yet. */
  replayable(): boolean {
    if (this.body === null) return true;
    if (!IDEMPOTENT.has(this.method)) return false;
    return !this.body.readableDidRead && !this.body.destroyed;
  }
}
