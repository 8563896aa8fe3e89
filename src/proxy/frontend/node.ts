// node:http and node:http2 requests adapted to the engine's one request interface (engine/request.ts),
// and node:http's parse errors answered like Meridian's own front-end. The adapter is one small
// object per request (node:http is the fallback path; the llhttp front-end needs no adapter).
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import type { Logger } from '../../infra/logger.js';
import { describeError } from '../../core/errors.js';
import { writeProxyError } from '../error-response.js';
import type { ProxyRequest, ProxyResponse } from '../engine/request.js';
import { responseOnSocket } from './http1/socket-response.js';

export class NodeRequest implements ProxyRequest {
  framingError: string | undefined = undefined;
  readonly body: Readable | null;

  constructor(readonly message: IncomingMessage | Http2ServerRequest) {
    this.body = hasBody(message) ? message : null;
  }

  get method(): string {
    return this.message.method ?? 'GET';
  }
  get url(): string {
    return this.message.url ?? '/';
  }
  get httpVersionMajor(): number {
    return this.message.httpVersionMajor;
  }
  get httpVersionMinor(): number {
    return this.message.httpVersionMinor;
  }
  get headers(): IncomingHttpHeaders {
    return this.message.headers;
  }
  get rawHeaders(): readonly string[] {
    return this.message.rawHeaders;
  }
  header(lowerName: string): string | undefined {
    const value = this.message.headers[lowerName];
    return Array.isArray(value) ? value.join(lowerName === 'cookie' ? '; ' : ', ') : value;
  }
  get remoteAddress(): string | undefined {
    return this.message.socket.remoteAddress;
  }
}

function hasBody(req: IncomingMessage | Http2ServerRequest): boolean {
  if (req.httpVersionMajor === 2) return (req as Http2ServerRequest).stream.endAfterHeaders !== true;
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** What the node front-end needs from the engine. */
export interface NodeEngine {
  handle(req: ProxyRequest, res: ProxyResponse, proto: 'http' | 'https'): void;
  /** The client's framing broke in a request being answered: answer it with a 400 (never a 502). */
  rejectBrokenRequest(res: ProxyResponse, reason: string): boolean;
}

/** The request being answered on each node:http connection (for parse errors in its body). */
const answering = new WeakMap<Duplex, { req: NodeRequest; res: ServerResponse }>();

/** A node:http or HTTP/2 request handler feeding the engine. */
export function nodeRequestHandler(
  engine: NodeEngine,
  proto: 'http' | 'https',
  /** The listener speaks HTTP/2 (by ALPN); else an `HTTP/2.0` request line is an HTTP/1 error. */
  http2: boolean,
): (message: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void {
  return (message, res) => {
    const response = res as unknown as ProxyResponse;
    const major = message.httpVersionMajor;
    if (major !== 1 && !(http2 && major === 2)) {
      // node:http accepts `HTTP/0.9` and `HTTP/2.0` request lines; RFC 9112 wants a 505.
      rejectVersion(response, major, message.httpVersionMinor);
      return;
    }
    const req = new NodeRequest(message);
    if (message.httpVersionMajor === 1 && req.body !== null)
      answering.set(message.socket, { req, res: res as ServerResponse });
    engine.handle(req, response, proto);
  };
}

function rejectVersion(res: ProxyResponse, major: number, minor: number): void {
  writeProxyError(
    res,
    {
      code: 'E_VERSION_NOT_SUPPORTED',
      message: `HTTP/${major}.${minor} is not supported here; use HTTP/1.1`,
    },
    { requestId: randomUUID(), close: true },
  );
}

/** node:http's parse errors and header timeouts: the same JSON answers as Meridian's front-end. */
export function nodeClientError(
  engine: NodeEngine,
  err: Error & { code?: string; reason?: string },
  socket: Duplex,
  logger: Logger,
): void {
  logger.debug({ err: describeError(err), code: err.code }, 'client error');
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const reason = err.reason ?? err.code ?? 'unknown';
  const current = answering.get(socket);
  if (current !== undefined && !(current.req.message as IncomingMessage).complete) {
    // The body of the request being answered broke: the engine answers it, then the connection closes.
    answering.delete(socket);
    current.req.framingError = reason;
    if (engine.rejectBrokenRequest(current.res, reason)) return;
  }
  const res = responseOnSocket(socket);
  const requestId = randomUUID();
  if (err.code === 'HPE_HEADER_OVERFLOW')
    writeProxyError(
      res,
      { code: 'E_HEADERS_TOO_LARGE', message: 'the request headers are too large' },
      { requestId, close: true },
    );
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    writeProxyError(
      res,
      { code: 'E_REQUEST_TIMEOUT', message: 'the request headers did not arrive in time' },
      { requestId, close: true },
    );
  else if (err.code === 'HPE_INVALID_VERSION')
    writeProxyError(
      res,
      { code: 'E_VERSION_NOT_SUPPORTED', message: `unsupported HTTP version: ${reason}` },
      { requestId, close: true },
    );
  else
    writeProxyError(
      res,
      { code: 'E_BAD_REQUEST', message: `malformed HTTP request: ${reason}` },
      { requestId, close: true },
    );
}
