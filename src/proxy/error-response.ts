// The one writer of the answers the proxy makes itself: policy rejections, upstream failures and
// the front-ends' 400/408/413/417/431/505. Codes and statuses come from the catalogue in
// src/core/errors.ts; the body is always `{ "error": { "code", "message", "requestId"[, "ruleId"] } }`
// with X-Request-ID, no caching, and any headers the caller adds (Retry-After, RateLimit-*).
import type { OutgoingHttpHeaders } from 'node:http';
import { statusOf, type ErrorCode } from '../core/errors.js';

/** A failure the proxy answers for, before or instead of a backend's response. */
export interface ProxyError {
  readonly code: ErrorCode;
  readonly message: string;
  /** The policy rule that rejected the request. */
  readonly ruleId?: string | undefined;
}

/** What the writer needs from a response (node:http, HTTP/2 compatibility, or the llhttp front-end's). */
export interface ErrorResponseTarget {
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  end(chunk?: string): unknown;
  destroy(err?: Error): unknown;
}

export interface ErrorResponseOptions {
  readonly requestId: string;
  /** Extra headers (a policy verdict's Retry-After and RateLimit-*). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** An affinity cookie issued with this request. */
  readonly setCookie?: string | undefined;
  /** Ask the HTTP/1 client to close the connection (shutting down, or the connection is unusable). */
  readonly close?: boolean;
}

/**
 * Answers with the JSON error; returns the status written, or 0 when nothing could be written (the
 * response had already started: then it is cut, as HTTP/1 has no other way to signal the failure).
 */
export function writeProxyError(
  res: ErrorResponseTarget,
  error: ProxyError,
  options: ErrorResponseOptions,
): number {
  if (res.writableEnded) return 0;
  if (res.headersSent) {
    res.destroy();
    return 0;
  }
  const status = statusOf(error.code);
  const body = JSON.stringify({
    error:
      error.ruleId === undefined
        ? { code: error.code, message: error.message, requestId: options.requestId }
        : { code: error.code, message: error.message, ruleId: error.ruleId, requestId: options.requestId },
  });
  const headers: OutgoingHttpHeaders = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  };
  const extra = options.headers;
  if (extra !== undefined) for (const name in extra) headers[name.toLowerCase()] = extra[name];
  headers['x-request-id'] = options.requestId;
  if (options.setCookie !== undefined) headers['set-cookie'] = [options.setCookie];
  if (options.close === true) headers.connection = 'close';
  try {
    res.writeHead(status, headers);
    res.end(body);
    return status;
  } catch {
    res.destroy();
    return 0;
  }
}
