// One embedded store's records as a JSON file `{"version":1,"<key>":[...]}` (the policy and zone
// stores): loaded and validated at start, rewritten after every change through a temporary file
// renamed over the old one (mode 0600), so a crash leaves the old or the new file. Changes run one
// at a time; a change that fails (validation or disk) leaves the records as they were.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MeridianError, describeError } from '../../core/errors.js';
import type { Logger } from '../../infra/logger.js';
import { PRIVATE_FILE_MODE, restrictToOwner } from './private-file.js';

export interface RecordListFileOptions {
  /** The file; undefined for a purely in-memory store (nothing read or written). */
  readonly file: string | undefined;
  /** The list's key in the document: `policies`, `zones`. */
  readonly key: string;
  /** The record's noun in messages: `policy`, `zone`. */
  readonly noun: string;
  readonly logger: Logger;
}

export class RecordListFile<T> {
  readonly #o: RecordListFileOptions;
  #queue: Promise<unknown> = Promise.resolve();
  #tmpCounter = 0;

  constructor(options: RecordListFileOptions) {
    this.#o = options;
  }

  /**
   * The records in the file, each validated by `parse` (its path `<key>[i]` for messages), or
   * undefined when there is no file. Throws E_CONFIG naming the file when it cannot be used.
   */
  async load(parse: (value: unknown, path: string) => T): Promise<T[] | undefined> {
    const { file, key, noun, logger } = this.#o;
    if (file === undefined) return undefined;
    await restrictToOwner(file, logger);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new MeridianError('E_CONFIG', `cannot read ${noun} file ${file}: ${describeError(err)}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new MeridianError('E_CONFIG', `${file}: invalid JSON: ${describeError(err)}`);
    }
    const list = (doc as Record<string, unknown> | null)?.[key];
    if (!Array.isArray(list))
      throw new MeridianError('E_CONFIG', `${file}: expected {"version":1,"${key}":[...]}`);
    try {
      return list.map((r, i) => parse(r, `${key}[${i}]`));
    } catch (err) {
      throw new MeridianError('E_CONFIG', `${file}: ${describeError(err)}`, { cause: err });
    }
  }

  /** Runs `change` after every change queued before it (one at a time, failures included). */
  serial<R>(change: () => Promise<R>): Promise<R> {
    const p = this.#queue.then(change, change);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  /** Resolves once the queued changes are done. */
  async settled(): Promise<void> {
    await this.#queue.catch(() => undefined);
  }

  /** Writes the whole list (atomically); E_UNAVAILABLE naming the file when the disk refuses. */
  async write(records: readonly T[]): Promise<void> {
    const { file, key, noun } = this.#o;
    if (file === undefined) return;
    const tmp = `${file}.${process.pid}.${++this.#tmpCounter}.tmp`;
    try {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(tmp, `${JSON.stringify({ version: 1, [key]: records }, null, 2)}\n`, {
        mode: PRIVATE_FILE_MODE,
      });
      await rename(tmp, file);
    } catch (err) {
      throw new MeridianError('E_UNAVAILABLE', `cannot write ${noun} file ${file}: ${describeError(err)}`, {
        cause: err,
      });
    }
  }
}
