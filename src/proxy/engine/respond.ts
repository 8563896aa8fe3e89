// The response side of an exchange: the backend's status and headers go to the client (hop-by-hop
// dropped, X-Request-ID, a new affinity cookie, the policy verdict's RateLimit-* headers, the debug
// or fallback header), the body through the client's bandwidth pacer when a policy sets one; a 101
// joins the client's and the backend's connections into a tunnel.
import type { Duplex } from 'node:stream';
import type { PolicyEngine } from '../policy/engine.js';
import type { Exchange } from './exchange.js';
import { appendSetCookie, downstreamHeaderList, downstreamHeaders, rawHeadersToObject } from './headers.js';

export const FALLBACK_HEADER = 'x-meridian-fallback';
export const DEBUG_HEADER = 'x-meridian-backend';

/**
 * Starts the client's response. `extra` is the debug header's value (a local backend) or the
 * answering peer region's id (a fallback); `close` asks an HTTP/1 client to close (shutting down).
 */
export function writeResponseHead(
  ex: Exchange,
  status: number,
  raw: Buffer[],
  extra: { readonly name: string; readonly value: string } | undefined,
  close: boolean,
  policies: PolicyEngine | undefined,
): void {
  const policyHeaders = ex.policyHeaders;
  ex.status = status;
  if (ex.req.httpVersionMajor !== 1) {
    // HTTP/2 compatibility responses take a header object.
    const out = downstreamHeaders(rawHeadersToObject(raw));
    out['x-request-id'] = ex.requestId;
    if (ex.setCookie !== undefined) appendSetCookie(out, ex.setCookie);
    if (extra !== undefined) out[extra.name] = extra.value;
    if (policyHeaders !== undefined)
      for (const [name, value] of Object.entries(policyHeaders)) out[name.toLowerCase()] = value;
    ex.res.writeHead(status, out);
  } else {
    const out = downstreamHeaderList(raw);
    out.push('x-request-id', ex.requestId);
    if (ex.setCookie !== undefined) out.push('set-cookie', ex.setCookie);
    if (extra !== undefined) out.push(extra.name, extra.value);
    if (policyHeaders !== undefined)
      for (const name in policyHeaders) out.push(name, policyHeaders[name] as string);
    if (close) out.push('connection', 'close');
    ex.res.writeHead(status, out);
  }
  // Bandwidth limits: the body goes through the client's pacer (shared by all its responses).
  if (ex.policyReq !== undefined && policies !== undefined) {
    const paced = policies.pace(ex.policyReq);
    if (paced !== undefined) {
      ex.paced = paced;
      paced.on('error', () => ex.res.destroy());
      paced.pipe(ex.res as unknown as NodeJS.WritableStream);
    }
  }
}

/** Joins the client's connection and the backend's after a 101; both close together. */
export function openTunnel(
  client: Duplex,
  upstream: Duplex,
  head: Buffer,
  raw: Buffer[] | string[] | null,
  requestId: string,
  tunnels: Set<Duplex>,
): void {
  if (client.destroyed) {
    upstream.destroy();
    return;
  }
  let text = 'HTTP/1.1 101 Switching Protocols\r\n';
  if (raw !== null) {
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = String(raw[i]);
      if (name.toLowerCase() === 'x-request-id') continue;
      text += `${name}: ${String(raw[i + 1])}\r\n`;
    }
  }
  text += `x-request-id: ${requestId}\r\n\r\n`;
  const closeBoth = (): void => {
    client.destroy();
    upstream.destroy();
    tunnels.delete(client);
  };
  upstream.on('error', closeBoth);
  client.on('error', closeBoth);
  client.on('close', closeBoth);
  upstream.on('close', closeBoth);
  tunnels.add(client);
  client.write(text);
  if (head.length > 0) upstream.write(head);
  upstream.pipe(client);
  client.pipe(upstream);
}
