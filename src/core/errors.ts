// Errors with stable codes. Every layer throws these; the edges map them to exit codes,
// HTTP statuses or DNS rcodes.

/**
 * The one error catalogue: every stable code Meridian puts in an error body, with the HTTP status
 * it answers with and the status line's reason phrase. The API, the CLI and the proxy's own answers
 * (policy rejections, upstream failures, front-end 4xx) all take their codes from here.
 */
export const ERROR_CATALOGUE = {
  // Operations (API, CLI, config)
  /** A field of the input is invalid (`field` names it). */
  E_VALIDATION: { status: 400, reason: 'Bad Request' },
  E_NOT_FOUND: { status: 404, reason: 'Not Found' },
  E_CONFLICT: { status: 409, reason: 'Conflict' },
  E_UNAUTHORIZED: { status: 401, reason: 'Unauthorized' },
  /** A dependency (the store) cannot be reached. */
  E_UNAVAILABLE: { status: 503, reason: 'Service Unavailable' },
  E_CONFIG: { status: 500, reason: 'Internal Server Error' },
  E_TOO_LARGE: { status: 413, reason: 'Payload Too Large' },
  E_METHOD_NOT_ALLOWED: { status: 405, reason: 'Method Not Allowed' },
  E_INTERNAL: { status: 500, reason: 'Internal Server Error' },
  /** A DNSSEC key is unusable (does not parse, does not match its DNSKEY, cannot be unsealed). */
  E_DNSSEC_KEY: { status: 500, reason: 'Internal Server Error' },

  // The proxy's own answers to malformed requests (front-ends and admission)
  /** Malformed framing, request target or Host (RFC 9112). */
  E_BAD_REQUEST: { status: 400, reason: 'Bad Request' },
  /** The request headers did not arrive within `proxy.timeouts.clientHeadersMs`. */
  E_REQUEST_TIMEOUT: { status: 408, reason: 'Request Timeout' },
  /** An `Expect` other than 100-continue. */
  E_EXPECTATION_FAILED: { status: 417, reason: 'Expectation Failed' },
  /** Chunk extensions over the parser's limit. */
  E_PAYLOAD_TOO_LARGE: { status: 413, reason: 'Payload Too Large' },
  E_HEADERS_TOO_LARGE: { status: 431, reason: 'Request Header Fields Too Large' },
  /** A request line with an HTTP version other than 1.0 or 1.1 on an HTTP/1 listener. */
  E_VERSION_NOT_SUPPORTED: { status: 505, reason: 'HTTP Version Not Supported' },

  // Traffic policies (the backend never sees these requests)
  E_WAF_BLOCKED: { status: 403, reason: 'Forbidden' },
  E_RATE_LIMITED: { status: 429, reason: 'Too Many Requests' },
  E_QUOTA_EXCEEDED: { status: 429, reason: 'Too Many Requests' },

  // Backend selection and forwarding
  /** No backend is configured (or active) for the region. */
  E_NO_BACKEND: { status: 503, reason: 'Service Unavailable' },
  /** Backends exist but none is healthy, and no peer region could take the request. */
  E_NO_HEALTHY_BACKEND: { status: 503, reason: 'Service Unavailable' },
  /** Every eligible backend is refused by a circuit breaker (proxy.circuitBreakers); the message names the limit. */
  E_CIRCUIT_OPEN: { status: 503, reason: 'Service Unavailable' },
  /** The backend refused or reset the connection, or answered with something unusable. */
  E_UPSTREAM_CONNECT: { status: 502, reason: 'Bad Gateway' },
  /** The backend did not connect or answer within the configured timeout. */
  E_UPSTREAM_TIMEOUT: { status: 504, reason: 'Gateway Timeout' },
  /** A request already forwarded by another region's proxy found no healthy backend here. */
  E_FALLBACK_EXHAUSTED: { status: 503, reason: 'Service Unavailable' },
} as const satisfies Record<string, { readonly status: number; readonly reason: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code);
}

/** The HTTP status a code answers with. */
export function statusOf(code: ErrorCode): number {
  return ERROR_CATALOGUE[code].status;
}

export class MeridianError extends Error {
  readonly code: ErrorCode;
  /** Dotted path of the offending field, e.g. `ipv4[1]` or `dns.zones[0].soa.refresh`. */
  readonly field?: string;

  constructor(code: ErrorCode, message: string, options?: { field?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MeridianError';
    this.code = code;
    if (options?.field !== undefined) this.field = options.field;
  }

  get httpStatus(): number {
    return statusOf(this.code);
  }

  toJSON(): { error: { code: ErrorCode; message: string; field?: string } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.field === undefined ? {} : { field: this.field }),
      },
    };
  }
}

export const notFound = (what: string): MeridianError =>
  new MeridianError('E_NOT_FOUND', `${what} not found`);
export const conflict = (what: string): MeridianError =>
  new MeridianError('E_CONFLICT', `${what} already exists`);
export const invalid = (field: string, message: string): MeridianError =>
  new MeridianError('E_VALIDATION', `${field}: ${message}`, { field });

export function isMeridianError(err: unknown): err is MeridianError {
  return err instanceof MeridianError;
}

/** A message for any thrown value, without assuming it is an Error. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
