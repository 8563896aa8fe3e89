// A one-shot HTTP/1.1 response written straight onto a socket that no HTTP server owns any more:
// the front-ends' own error answers (400/408/413/417/431/505, sent before a request exists) and
// upgrade requests (a rejection, or a backend's non-101 answer passed through). It frames the body
// like any Http1Response and closes the connection after it, so every proxy-made answer goes
// through the same writer (src/proxy/error-response.ts).
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Http1Response, type ResponseOwner, type ResponseRequest } from './message.js';

class ClosingOwner implements ResponseOwner {
  readonly keepAliveHeaders = '';

  constructor(readonly socket: Socket) {}

  dateHeader(): string {
    return `date: ${new Date().toUTCString()}\r\n`;
  }

  responseDone(): void {
    this.socket.destroySoon();
  }

  responseAborted(): void {
    this.socket.destroy();
  }
}

/** The request line a bare error answer pretends to follow (HTTP/1.1 framing, a body). */
const ANY_REQUEST: ResponseRequest = { method: 'GET', httpVersionMinor: 1 };

/**
 * A response on `socket` that closes it when done. `req` decides the framing (HEAD: no body;
 * HTTP/1.0: no chunked encoding). When the socket closes first, the response reports 'close'.
 */
export function responseOnSocket(socket: Duplex, req: ResponseRequest = ANY_REQUEST): Http1Response {
  const res = new Http1Response(new ClosingOwner(socket as Socket), req, false);
  socket.once('close', () => res.abort());
  return res;
}
