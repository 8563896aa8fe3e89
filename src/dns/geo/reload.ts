// Hot reload of the geo database files: every `reloadCheckSeconds` the files are stat'ed; a changed
// file is loaded as at open (database.ts: parsed, metadata checked, test lookups run), and only then
// is the new set of databases handed to the locator (one reference assignment). A corrupt or
// half-written file keeps the old data: the error is logged once per file version and passed to
// `onReloadError`. maxmind's own `watchForUpdates` is not used: it crashes the process on a bad file.
import { stat } from 'node:fs/promises';
import { MeridianError, describeError } from '../../core/errors.js';
import type { Logger } from '../../infra/logger.js';
import type { ImageOptions } from './file-image.js';
import {
  loadDatabase,
  sameSignature,
  signatureOf,
  type FileSignature,
  type LoadedDatabase,
} from './database.js';

export interface DatabaseWatcherOptions {
  log: Logger;
  /** Seconds between checks of the files' size and modification time; 0 = no automatic reload. */
  reloadCheckSeconds: number;
  /** Where mapped snapshots go (file-image.ts). */
  imageOptions: ImageOptions;
  onReloadError: ((path: string, err: unknown) => void) | undefined;
  /** Called with the new set of databases after a file was swapped in. */
  swap: (databases: readonly LoadedDatabase[]) => void;
}

export class DatabaseWatcher {
  private databases: readonly LoadedDatabase[];
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private swaps = 0;
  /** Signature of a file version that failed to load, so a broken file is reported once, not every tick. */
  private readonly failed = new Map<string, FileSignature>();
  private readonly log: Logger;

  constructor(
    databases: readonly LoadedDatabase[],
    private readonly options: DatabaseWatcherOptions,
  ) {
    this.databases = databases;
    this.log = options.log;
    const seconds = options.reloadCheckSeconds;
    if (seconds > 0) {
      this.timer = setInterval(() => {
        this.check(false).catch((err: unknown) =>
          this.log.error({ err: describeError(err) }, 'geo reload check failed'),
        );
      }, seconds * 1000);
      this.timer.unref();
    }
  }

  reloads(): number {
    return this.swaps;
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  async reloadNow(): Promise<void> {
    // Wait for a timer-driven check in progress so two reloads never interleave.
    if (this.checking !== undefined) await this.checking.catch(() => undefined);
    const failures = await this.runCheck(true);
    if (failures.length > 0) {
      throw new MeridianError(
        'E_CONFIG',
        `geo database reload failed (previous data kept): ${failures.map((f) => `${f.path}: ${describeError(f.err)}`).join('; ')}`,
      );
    }
  }

  private async check(force: boolean): Promise<void> {
    if (this.checking !== undefined) return;
    await this.runCheck(force);
  }

  private runCheck(force: boolean): Promise<{ path: string; err: unknown }[]> {
    const run = this.checkFiles(force);
    const tracked = run.then(
      () => undefined,
      () => undefined,
    );
    this.checking = tracked;
    return run.finally(() => {
      if (this.checking === tracked) this.checking = undefined;
    });
  }

  private async checkFiles(force: boolean): Promise<{ path: string; err: unknown }[]> {
    const failures: { path: string; err: unknown }[] = [];
    const next = [...this.databases];
    let changed = false;
    for (let i = 0; i < next.length; i++) {
      const current = next[i];
      if (current === undefined) continue;
      const path = current.path;
      let signature: FileSignature;
      try {
        signature = signatureOf(await stat(path));
      } catch (err) {
        this.reportFailure(path, undefined, err, failures, force);
        continue;
      }
      if (!force && sameSignature(signature, current.signature)) continue;
      const lastFailure = this.failed.get(path);
      if (!force && lastFailure !== undefined && sameSignature(lastFailure, signature)) continue;
      try {
        // The file may have changed again while it was read; the next check picks that up.
        const loaded = await loadDatabase(path, signature, this.options.imageOptions);
        next[i] = loaded;
        changed = true;
        this.failed.delete(path);
        this.log.info(
          {
            path,
            databaseType: loaded.databaseType,
            buildEpoch: loaded.buildEpoch,
            previousType: current.databaseType,
          },
          'geo database reloaded',
        );
      } catch (err) {
        this.reportFailure(path, signature, err, failures, force);
      }
    }
    if (changed) {
      this.databases = Object.freeze(next);
      this.swaps++;
      this.options.swap(this.databases);
    }
    return failures;
  }

  private reportFailure(
    path: string,
    signature: FileSignature | undefined,
    err: unknown,
    failures: { path: string; err: unknown }[],
    force: boolean,
  ): void {
    failures.push({ path, err });
    const key = signature ?? { size: -1, mtimeMs: -1, ctimeMs: -1, ino: -1 };
    const previous = this.failed.get(path);
    if (!force && previous !== undefined && sameSignature(previous, key)) return;
    this.failed.set(path, key);
    this.log.error(
      { path, err: describeError(err) },
      'geo database reload failed; keeping the previous data',
    );
    try {
      this.options.onReloadError?.(path, err);
    } catch (callbackErr) {
      this.log.error({ err: describeError(callbackErr) }, 'geo onReloadError callback threw');
    }
  }
}
