// The CLI's side of the admin API: Node's global fetch, JSON in and out. Any refusal or failure
// becomes an ApiFailure carrying the API's own message (the CLI exits 1 with it). The token is
// --token / MERIDIAN_API_TOKEN, else the one `meridian login` stored (credentials.ts).
import type { Command } from 'commander';
import { describeError } from '../core/errors.js';
import { storedLogin } from './credentials.js';
import { UsageError, checkApiUrl } from './flags.js';

/** The server refused the request, failed, or could not be reached. */
export class ApiFailure extends Error {
  readonly status: number | undefined;
  readonly code: string | undefined;

  constructor(message: string, status?: number, code?: string) {
    super(message);
    this.name = 'ApiFailure';
    this.status = status;
    this.code = code;
  }
}

const TIMEOUT_MS = 15_000;

function causeText(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof AggregateError && cause.errors.length > 0) {
    const first: unknown = cause.errors[0];
    return causeText({ cause: first });
  }
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' && !cause.message.includes(code)
      ? `${code} ${cause.message}`
      : cause.message;
  }
  return describeError(err);
}

export class ApiClient {
  private readonly token: string | undefined;

  /**
   * Without a token (no --token, no MERIDIAN_API_TOKEN), the one `meridian login` stored for this
   * API; `null`: no token at all (logging in).
   */
  constructor(
    private readonly baseUrl: string,
    token: string | undefined | null,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    if (token === null) this.token = undefined;
    else this.token = token !== undefined && token !== '' ? token : storedLogin(baseUrl, env)?.token;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }

  async delete(path: string): Promise<void> {
    await this.request<unknown>('DELETE', path);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, 'application/json', body);
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) throw failure(res, text, json);
    return json as T;
  }

  /**
   * GET a file (a report): its bytes, or an ApiFailure with the API's JSON error message. A PDF
   * report starts a browser on the server, hence its own, longer timeout.
   */
  async getBytes(path: string, accept: string, timeoutMs = TIMEOUT_MS): Promise<Buffer> {
    const res = await this.send('GET', path, accept, undefined, timeoutMs);
    if (res.ok) return Buffer.from(await res.arrayBuffer());
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    throw failure(res, text, json);
  }

  private async send(
    method: string,
    path: string,
    accept: string,
    body?: unknown,
    timeoutMs = TIMEOUT_MS,
  ): Promise<Response> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string> = { accept };
    if (this.token !== undefined && this.token !== '') headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await fetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      if (err instanceof Error && err.name === 'TimeoutError') {
        throw new ApiFailure(`the admin API at ${this.baseUrl} did not answer within ${timeoutMs / 1000} s`);
      }
      throw new ApiFailure(`cannot reach the admin API at ${this.baseUrl}: ${causeText(err)}`);
    }
  }
}

/** A refusal as an ApiFailure carrying the API's own message and code. */
function failure(res: Response, text: string, json: unknown): ApiFailure {
  const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const message = typeof error?.message === 'string' ? error.message : text.slice(0, 200) || res.statusText;
  const code = typeof error?.code === 'string' ? error.code : undefined;
  return new ApiFailure(
    `${message} (HTTP ${res.status}${code === undefined ? '' : ` ${code}`})`,
    res.status,
    code,
  );
}

/** The admin API the CLI talks to without --api (main.ts defaults --api from MERIDIAN_API_URL). */
export const DEFAULT_API_URL = 'http://127.0.0.1:8053';

/** The admin API URL a command was given (its global --api), checked: a bad one is a usage error. */
export function apiUrlOf(cmd: Command): string {
  return checkApiUrl(cmd.optsWithGlobals<{ api?: string }>().api ?? DEFAULT_API_URL);
}

/** The admin API client for a command: its global --api and --token (else the stored login). */
export function apiClientFor(cmd: Command, env: NodeJS.ProcessEnv = process.env): ApiClient {
  return new ApiClient(apiUrlOf(cmd), cmd.optsWithGlobals<{ token?: string }>().token, env);
}

/**
 * Runs an API call; a refusal with one of `statuses` (bad input, a conflict with the object's
 * state) becomes a usage error, so the CLI exits 2 as for a bad flag. Other failures pass through.
 */
export async function refusalsAsUsage<T>(statuses: readonly number[], run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ApiFailure && err.status !== undefined && statuses.includes(err.status))
      throw new UsageError(err.message);
    throw err;
  }
}
