// Errors with stable codes. Every layer throws these; the edges map them to exit codes,
// HTTP statuses or DNS rcodes.

export type ErrorCode =
  | 'E_VALIDATION'
  | 'E_NOT_FOUND'
  | 'E_CONFLICT'
  | 'E_UNAUTHORIZED'
  | 'E_UNAVAILABLE'
  | 'E_CONFIG'
  | 'E_TOO_LARGE'
  | 'E_METHOD_NOT_ALLOWED'
  | 'E_INTERNAL';

const HTTP_STATUS: Record<ErrorCode, number> = {
  E_VALIDATION: 400,
  E_NOT_FOUND: 404,
  E_CONFLICT: 409,
  E_UNAUTHORIZED: 401,
  E_UNAVAILABLE: 503,
  E_CONFIG: 500,
  E_TOO_LARGE: 413,
  E_METHOD_NOT_ALLOWED: 405,
  E_INTERNAL: 500,
};

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
    return HTTP_STATUS[this.code];
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
