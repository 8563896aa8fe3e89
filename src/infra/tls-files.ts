// TLS certificate files for the admin API and the proxy's HTTPS listeners: the certificate and key
// are read from files at start and re-read when either file changes (checked every `reloadCheckMs`
// by mtime, size and inode), so a renewed certificate is served without a restart. A pair that does
// not load (half-written, mismatched) is logged and the previous one keeps serving; a bad pair at
// start fails the start with the files named.
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { MeridianError, describeError } from '../core/errors.js';
import type { Logger } from './logger.js';

export interface ApiTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  /** How often the files are checked for a change (default 5000). */
  readonly reloadCheckMs?: number;
  /** The config key named in errors (default `api.tls`). */
  readonly setting?: string;
  /** Who serves the certificate, in log lines (default `admin API`). */
  readonly server?: string;
}

/** Reads and checks the pair (throws E_CONFIG naming the files when it does not load). */
export function loadTlsPair(options: ApiTlsOptions): SecureContextOptions {
  let pair: SecureContextOptions;
  try {
    pair = { cert: readFileSync(options.certFile), key: readFileSync(options.keyFile) };
    createSecureContext(pair);
  } catch (err) {
    throw new MeridianError(
      'E_CONFIG',
      `${options.setting ?? 'api.tls'}: cannot load certificate ${options.certFile} with key ${options.keyFile}: ${describeError(err)}`,
      { cause: err },
    );
  }
  return pair;
}

function fingerprint(file: string): string {
  try {
    const s = statSync(file);
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  } catch {
    return 'missing';
  }
}

/** Calls `apply` with each new pair that loads; returns a function that stops watching. */
export function watchTlsPair(
  options: ApiTlsOptions,
  apply: (pair: SecureContextOptions) => void,
  log: Logger,
): () => void {
  let seen = `${fingerprint(options.certFile)}|${fingerprint(options.keyFile)}`;
  const timer = setInterval(() => {
    const now = `${fingerprint(options.certFile)}|${fingerprint(options.keyFile)}`;
    if (now === seen) return;
    try {
      apply(loadTlsPair(options));
      seen = now;
      log.info({ cert: options.certFile }, `${options.server ?? 'admin API'} certificate reloaded`);
    } catch (err) {
      // Keep the old pair; try again at the next change (or the next check, if the files are mid-write).
      seen = now;
      log.warn(
        { err: describeError(err) },
        `${options.server ?? 'admin API'} certificate not reloaded; still serving the previous one`,
      );
    }
  }, options.reloadCheckMs ?? 5000);
  timer.unref();
  return () => clearInterval(timer);
}
