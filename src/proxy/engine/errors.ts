// Responses the proxy writes itself, with stable codes. Every one is a small JSON body
// `{ "error": { "code", "message", "requestId" } }` and carries X-Request-ID.

export type ProxyErrorCode =
  /** No backend is configured for the region (or none is active). */
  | 'E_NO_BACKEND'
  /** Backends exist but none is healthy (and no peer region could take the request). */
  | 'E_NO_HEALTHY_BACKEND'
  /** Every eligible backend has reached `circuit.maxPendingPerBackend`. */
  | 'E_CIRCUIT_OPEN'
  /** The backend refused or reset the connection, or answered with something unusable. */
  | 'E_UPSTREAM_CONNECT'
  /** The backend did not connect or answer within the configured timeout. */
  | 'E_UPSTREAM_TIMEOUT'
  /** A request already forwarded by another region's proxy found no healthy backend here. */
  | 'E_FALLBACK_EXHAUSTED'
  /** The request itself is invalid (an HTTP/1.1 request without Host). */
  | 'E_BAD_REQUEST';

export interface ProxyError {
  readonly status: 400 | 502 | 503 | 504;
  readonly code: ProxyErrorCode;
  readonly message: string;
}

export function errorBody(error: ProxyError, requestId: string): string {
  return JSON.stringify({ error: { code: error.code, message: error.message, requestId } });
}

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

/** The client sees the error code only, never backend addresses (those go to the log). */
export function upstreamFailure(code: string): ProxyError {
  if (TIMEOUT_ERRORS.has(code)) {
    return { status: 504, code: 'E_UPSTREAM_TIMEOUT', message: `upstream timed out (${code})` };
  }
  return { status: 502, code: 'E_UPSTREAM_CONNECT', message: `upstream connection failed (${code})` };
}
