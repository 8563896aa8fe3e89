// The request and response objects of Meridian's HTTP/1.1 front-end: the subset of node:http's
// IncomingMessage / ServerResponse the proxy engine uses, without a stream per message (a request
// gets a Readable only when it has a body). The response frames its body itself: the backend's
// Content-Length when given, else chunked for HTTP/1.1 clients, else close-delimited.
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { isFieldName } from '../../engine/headers.js';
import type { ProxyRequest } from '../../engine/request.js';

/** The request behind a response: what framing the response needs to know. */
export interface ResponseRequest {
  readonly method: string;
  readonly httpVersionMinor: number;
}

/** A request as llhttp delivered it; it is the engine's ProxyRequest as is (no adapter). */
export class Http1Request implements ProxyRequest {
  readonly httpVersionMajor = 1;
  /** The request body, when the request has one (Content-Length > 0 or chunked); else null. */
  body: Readable | null = null;
  /** The whole request, body included, has been received. */
  complete = false;
  /** The body's remaining bytes are read and dropped (the response ended first). */
  dumped = false;
  /** Expect: 100-continue was asked (answered when the request is handed to the handler). */
  expectContinue = false;
  /** Why the body's framing broke after the request was handed over (the client's fault). */
  framingError: string | undefined = undefined;
  private headerObject: IncomingHttpHeaders | undefined;

  constructor(
    readonly socket: Socket,
    /** The peer's address, read once per connection (each read is a call into the socket). */
    readonly remoteAddress: string | undefined,
    readonly method: string,
    readonly url: string,
    readonly httpVersionMinor: number,
    /** Header names and values in arrival order, as node:http's `rawHeaders`. */
    readonly rawHeaders: string[],
  ) {}

  /** Lower-cased names; duplicates joined as node:http joins them. Built on first use. */
  get headers(): IncomingHttpHeaders {
    return (this.headerObject ??= headersOf(this.rawHeaders));
  }

  header(lowerName: string): string | undefined {
    const built = this.headerObject;
    if (built === undefined) return headerValue(this.rawHeaders, lowerName);
    const value = built[lowerName];
    return Array.isArray(value) ? value.join(', ') : value;
  }
}

/** Headers where node:http keeps the first of several values (RFC 9110 singletons). */
const FIRST_WINS = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** node:http's IncomingMessage#headers from raw headers. */
export function headersOf(raw: readonly string[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    const prior = out[name];
    if (prior === undefined) out[name] = name === 'set-cookie' ? [value] : value;
    else if (name === 'set-cookie') (prior as string[]).push(value);
    else if (FIRST_WINS.has(name)) continue;
    else out[name] = `${prior as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return out;
}

/**
 * `headersOf(raw)[lowerName]` without building the object: a scan of the raw list, which costs
 * less than the object whenever a request's handful of well-known fields are all that is read
 * (about 0.25 against 1.5 µs for a browser's dozen headers). Repeated fields are joined by the
 * same rules; `set-cookie`, an array there, comes joined with ', '. `lowerName` must be lower case.
 */
export function headerValue(raw: readonly string[], lowerName: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!isFieldName(raw[i] as string, lowerName)) continue;
    const value = raw[i + 1] as string;
    if (out === undefined) {
      if (FIRST_WINS.has(lowerName)) return value;
      out = value;
    } else out = `${out}${lowerName === 'cookie' ? '; ' : ', '}${value}`;
  }
  return out;
}

function isList(headers: OutgoingHttpHeaders | readonly string[]): headers is readonly string[] {
  return Array.isArray(headers);
}

/** What a response needs from its connection. */
export interface ResponseOwner {
  readonly socket: Socket;
  /** `date: <now>` for responses without one (refreshed once a second). */
  dateHeader(): string;
  /** The keep-alive header lines of a persistent response ('' for none). */
  readonly keepAliveHeaders: string;
  /** The response is complete (`closeAfter`: the connection ends after it). */
  responseDone(res: Http1Response, closeAfter: boolean): void;
  /** The response was cut short: the connection must go (HTTP/1 has no other way to abort). */
  responseAborted(res: Http1Response): void;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** Bodies up to this size go out in one string write with the head (one syscall, no writev). */
const SMALL_CHUNK = 16 * 1024;

export class Http1Response extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  destroyed = false;
  private head: string | undefined;
  private bodiless: boolean;
  private chunked = false;
  private closeAfter: boolean;
  private closed = false;
  private sawLength = false;
  private sawDate = false;

  constructor(
    private readonly owner: ResponseOwner,
    readonly req: ResponseRequest,
    keepAlive: boolean,
  ) {
    super();
    this.bodiless = req.method === 'HEAD';
    this.closeAfter = !keepAlive;
  }

  get writableNeedDrain(): boolean {
    return this.owner.socket.writableNeedDrain;
  }

  /**
   * Sets the status and headers (a flat name/value list, or node's header object). Throws on a
   * header name or value that could split the response, as node:http does.
   */
  writeHead(status: number, headers: OutgoingHttpHeaders | readonly string[]): this {
    if (this.headersSent) throw new Error('response headers already sent');
    this.statusCode = status;
    this.head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    this.sawLength = false;
    this.sawDate = false;
    if (isList(headers)) {
      for (let i = 0; i + 1 < headers.length; i += 2) this.addHeader(headers[i] as string, headers[i + 1]);
    } else {
      for (const name in headers) {
        const value = headers[name];
        if (value === undefined) continue;
        if (Array.isArray(value)) for (const v of value) this.addHeader(name, v);
        else this.addHeader(name, value);
      }
    }
    let text = this.head;
    const length = this.sawLength;
    if (status < 200 || status === 204 || status === 304) this.bodiless = true;
    else if (!this.bodiless && !length) {
      // No length: chunked for HTTP/1.1, the end of the connection for HTTP/1.0.
      if (this.req.httpVersionMinor >= 1) {
        this.chunked = true;
        text += 'transfer-encoding: chunked\r\n';
      } else this.closeAfter = true;
    }
    if (!this.sawDate) text += this.owner.dateHeader();
    text += this.closeAfter ? 'connection: close\r\n' : this.owner.keepAliveHeaders;
    this.head = text + '\r\n';
    this.headersSent = true;
    return this;
  }

  /** Appends one header line to the head being built (a method, not a closure: this runs per header). */
  private addHeader(name: string, value: unknown): void {
    const v = typeof value === 'string' ? value : String(value);
    if (!TOKEN.test(name)) throw new TypeError(`invalid response header name ${JSON.stringify(name)}`);
    if (INVALID_VALUE.test(v)) throw new TypeError(`invalid character in response header ${name}`);
    const c = name.length;
    // The framing headers are ours to set; `connection: close` from the engine is honoured.
    if (c === 14 && name.toLowerCase() === 'content-length') this.sawLength = true;
    else if (c === 10 && name.toLowerCase() === 'connection') {
      if (v.toLowerCase() === 'close') this.closeAfter = true;
      return;
    } else if (c === 17 && name.toLowerCase() === 'transfer-encoding') return;
    else if (c === 4 && name.toLowerCase() === 'date') this.sawDate = true;
    this.head += `${name}: ${v}\r\n`;
  }

  write(chunk: Buffer | string): boolean {
    if (this.writableEnded || this.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode, []);
    const socket = this.owner.socket;
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.bodiless || data.length === 0) return this.flushHead();
    const head = this.head;
    this.head = undefined;
    if (data.length <= SMALL_CHUNK) {
      let text = head ?? '';
      if (this.chunked) text += `${data.length.toString(16)}\r\n${data.toString('latin1')}\r\n`;
      else text += data.toString('latin1');
      return socket.write(text, 'latin1');
    }
    socket.cork();
    if (head !== undefined) socket.write(head, 'latin1');
    if (this.chunked) socket.write(`${data.length.toString(16)}\r\n`, 'latin1');
    let ok = socket.write(data);
    if (this.chunked) ok = socket.write('\r\n', 'latin1');
    socket.uncork();
    return ok;
  }

  end(chunk?: Buffer | string): this {
    if (this.writableEnded || this.destroyed) return this;
    if (chunk !== undefined && chunk.length > 0) {
      // A complete body in one call (the proxy's own JSON answers): the head and body in one write.
      if (!this.headersSent) this.writeHead(this.statusCode, []);
      this.write(chunk);
    }
    if (!this.headersSent) this.writeHead(this.statusCode, []);
    if (this.chunked && !this.bodiless) {
      const tail = '0\r\n\r\n';
      const head = this.head;
      this.head = undefined;
      this.owner.socket.write(head === undefined ? tail : head + tail, 'latin1');
    } else this.flushHead();
    this.writableEnded = true;
    this.writableFinished = !this.owner.socket.destroyed;
    this.owner.responseDone(this, this.closeAfter);
    this.emit('finish');
    this.emitClose();
    return this;
  }

  /** Cuts the response (and with it the connection). */
  destroy(_err?: Error): this {
    if (this.destroyed || this.writableFinished) return this;
    this.destroyed = true;
    this.owner.responseAborted(this);
    this.emitClose();
    return this;
  }

  /** The connection closed under this response (or before it started). */
  abort(): void {
    if (this.writableFinished || this.destroyed) return;
    this.destroyed = true;
    this.emitClose();
  }

  private flushHead(): boolean {
    const head = this.head;
    if (head === undefined) return !this.owner.socket.writableNeedDrain;
    this.head = undefined;
    return this.owner.socket.write(head, 'latin1');
  }

  private emitClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}
