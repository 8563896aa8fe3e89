// Region health reports through the admin API (`proxy.report.api`) instead of straight into the
// state store: `POST /v1/regions/<region>/health` with a `reporter` token bound to this region, so a
// proxy node holds no credential that could change anything else (it cannot create a region, nor
// report for another one). The API stamps the report's times with its own clock (`ttlSeconds` from
// here). A refused or failed post throws, naming the status and the API's error; the reporter keeps
// its last state, retries next interval and shows the failure in its metrics and logs.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import type { DeepReadonly } from '../../config/load.js';
import type { ReportConfig } from '../../config/health-schema.js';
import { MeridianError, describeError } from '../../core/errors.js';
import type { HealthReport } from '../../core/types.js';
import type { HealthSink } from './reporter.js';

export type ReportApiConfig = NonNullable<ReportConfig['api']>;

/** The reporter token: `tokenFile`, else MERIDIAN_REPORTER_TOKEN; E_CONFIG when neither has one. */
export function reporterToken(
  config: DeepReadonly<ReportApiConfig>,
  resolvePath: (p: string) => string,
  env: NodeJS.ProcessEnv,
): string {
  if (config.tokenFile !== undefined) {
    const path = resolvePath(config.tokenFile);
    let token: string;
    try {
      token = readFileSync(path, 'utf8').trim();
    } catch (err) {
      throw new MeridianError('E_CONFIG', `proxy.report.api.tokenFile ${path}: ${describeError(err)}`);
    }
    if (token === '') throw new MeridianError('E_CONFIG', `proxy.report.api.tokenFile ${path} is empty`);
    return token;
  }
  const token = env.MERIDIAN_REPORTER_TOKEN?.trim();
  if (token === undefined || token === '') {
    throw new MeridianError(
      'E_CONFIG',
      'proxy.report.api needs a reporter token: set proxy.report.api.tokenFile or MERIDIAN_REPORTER_TOKEN',
    );
  }
  return token;
}

export class ApiHealthSink implements HealthSink {
  readonly #base: string;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #dispatcher: Agent;

  constructor(options: {
    readonly url: string;
    readonly token: string;
    readonly timeoutMs: number;
    /** PEM of a private CA for an https API. */
    readonly ca?: string | undefined;
  }) {
    this.#base = options.url.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs;
    this.#dispatcher = new Agent({
      connect: { timeout: options.timeoutMs, ...(options.ca === undefined ? {} : { ca: options.ca }) },
    });
  }

  static fromConfig(
    config: DeepReadonly<ReportApiConfig>,
    resolvePath: (p: string) => string,
    env: NodeJS.ProcessEnv = process.env,
  ): ApiHealthSink {
    let ca: string | undefined;
    if (config.caFile !== undefined) {
      const path = resolvePath(config.caFile);
      try {
        ca = readFileSync(path, 'utf8');
      } catch (err) {
        throw new MeridianError('E_CONFIG', `proxy.report.api.caFile ${path}: ${describeError(err)}`);
      }
    }
    return new ApiHealthSink({
      url: config.url,
      token: reporterToken(config, resolvePath, env),
      timeoutMs: config.timeoutMs,
      ca,
    });
  }

  async reportHealth(report: HealthReport): Promise<void> {
    const { reportedAt, expiresAt, ...body } = report;
    const url = `${this.#base}/v1/regions/${encodeURIComponent(report.regionId)}/health`;
    const res = await request(url, {
      method: 'POST',
      dispatcher: this.#dispatcher,
      headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, ttlSeconds: Math.max(1, Math.ceil((expiresAt - reportedAt) / 1000)) }),
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const text = await res.body.text();
    if (res.statusCode >= 200 && res.statusCode < 300) return;
    let message = text.slice(0, 300);
    try {
      const error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
      if (error?.message !== undefined) message = `${error.code ?? ''} ${error.message}`.trim();
    } catch {
      // not JSON: the text as it is
    }
    throw new MeridianError(
      'E_UNAVAILABLE',
      `admin API refused the health report (${res.statusCode}): ${message}`,
    );
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}
