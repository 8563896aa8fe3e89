// The one request and response shape the engine works with. Each front-end adapts to it: the
// llhttp front-end's Http1Request implements it directly (no wrapper on the fast path), node:http
// and HTTP/2 requests are wrapped by frontend/node.ts. The engine never asks which front-end a
// request came from; HTTP/2 is told apart only by `httpVersionMajor` (its responses take a header
// object, not a flat list).
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Duplex, Readable } from 'node:stream';

export interface ProxyRequest {
  readonly method: string;
  /** The request target as received (normalised by the engine before use). */
  readonly url: string;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  /** Lower-cased names; repeated fields joined as node:http joins them. */
  readonly headers: IncomingHttpHeaders;
  /**
   * One header's value as `headers[lowerName]` would give it, repeated fields joined (cookie with
   * '; ', others with ', '). What the request path reads: on the HTTP/1 front-end it scans the raw
   * list instead of building the header object.
   */
  header(lowerName: string): string | undefined;
  /** Header names and values in arrival order and case (HTTP/1; HTTP/2 includes pseudo-headers). */
  readonly rawHeaders: readonly string[];
  /** The peer's address on the socket. */
  readonly remoteAddress: string | undefined;
  /** The request body, when the request has one; else null. */
  readonly body: Readable | null;
  /**
   * Set by the front-end when the client's framing broke after the request was handed over (e.g. a
   * bad chunk size): the failure is the client's, answered with a 400 and never held against a backend.
   */
  readonly framingError: string | undefined;
}

/** The subset of ServerResponse / Http2ServerResponse / Http1Response the engine uses. */
export interface ProxyResponse {
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  writeHead(status: number, headers: OutgoingHttpHeaders | string[]): unknown;
  write(chunk: Buffer): boolean;
  end(chunk?: string): unknown;
  destroy(err?: Error): unknown;
  once(event: 'drain' | 'close', fn: () => void): unknown;
  on(event: 'close', fn: () => void): unknown;
}

/** An upgrade request's connection, handed over by the front-end after the request head. */
export interface UpgradeSocket {
  readonly socket: Duplex;
  /** Bytes the client sent after the request head (already part of the new protocol). */
  readonly head: Buffer;
}
