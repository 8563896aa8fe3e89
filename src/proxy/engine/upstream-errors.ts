// What an undici failure means for the client and for the backend: its stable code, whether the
// request may be tried on another backend, and the catalogue error the client sees (502 or 504).
// The client sees the error code only, never backend addresses (those go to the log).
import type { ProxyError } from '../error-response.js';

/** Codes of failures that happened before the backend saw the request (or where it reset the socket). */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);

const TIMEOUT_ERRORS = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

export function errorCode(err: unknown): string {
  if (typeof err !== 'object' || err === null) return 'UNKNOWN';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // net.connect with autoSelectFamily reports an AggregateError of per-address failures.
  const inner = (err as { errors?: unknown }).errors;
  if (Array.isArray(inner) && inner.length > 0) return errorCode(inner[0]);
  const cause = (err as { cause?: unknown }).cause;
  return cause === undefined ? 'UNKNOWN' : errorCode(cause);
}

/** Whether a failure with this code may be retried on another backend (idempotency checked elsewhere). */
export function isRetryableError(code: string): boolean {
  return CONNECT_ERRORS.has(code);
}

export function upstreamFailure(code: string): ProxyError {
  if (TIMEOUT_ERRORS.has(code))
    return { code: 'E_UPSTREAM_TIMEOUT', message: `upstream timed out (${code})` };
  return { code: 'E_UPSTREAM_CONNECT', message: `upstream connection failed (${code})` };
}
