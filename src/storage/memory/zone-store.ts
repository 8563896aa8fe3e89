// The embedded zone store: the zones in memory, persisted (when given a file) as JSON written to a
// temporary file and renamed over the old one (mode 0600), so a crash leaves the old or the new
// file. Writes are serialised; a failed write (validation or disk) changes nothing. The file's
// existence is the "has held zones" mark that stops the YAML seed after the first start.
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MeridianError, describeError } from '../../core/errors.js';
import { parseZone } from '../../config/zone-rules.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import { PRIVATE_FILE_MODE, restrictToOwner } from './private-file.js';
import {
  findZone,
  freezeZones,
  notifyZones,
  prepareChange,
  prepareCreate,
  validateSeed,
  type ZoneConfig,
  type ZoneEdit,
  type ZoneListener,
  type ZoneStore,
} from '../zone-store.js';

export interface MemoryZoneStoreOptions {
  /** JSON file to load at start and rewrite after every change; omit for a purely in-memory store. */
  readonly file?: string;
  readonly logger?: Logger;
  /** Clock for the date-based serials (tests). */
  readonly now?: () => number;
}

interface FileFormat {
  readonly version: 1;
  readonly zones: readonly ZoneConfig[];
}

export class MemoryZoneStore implements ZoneStore {
  readonly #file: string | undefined;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #listeners = new Set<ZoneListener>();
  #zones: readonly ZoneConfig[] = freezeZones([]);
  /** Whether the store ever held zones (the file exists, or a write happened here). */
  #used = false;
  #queue: Promise<unknown> = Promise.resolve();
  #tmpCounter = 0;

  constructor(options: MemoryZoneStoreOptions = {}) {
    this.#file = options.file;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'zone-store' });
    this.#now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    if (this.#file === undefined) return;
    await restrictToOwner(this.#file, this.#logger);
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new MeridianError('E_CONFIG', `cannot read zone file ${this.#file}: ${describeError(err)}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new MeridianError('E_CONFIG', `${this.#file}: invalid JSON: ${describeError(err)}`);
    }
    const list = (doc as Partial<FileFormat> | null)?.zones;
    if (!Array.isArray(list))
      throw new MeridianError('E_CONFIG', `${this.#file}: expected {"version":1,"zones":[...]}`);
    try {
      this.#zones = freezeZones(list.map((z, i) => parseZone(z, `zones[${i}]`)));
    } catch (err) {
      throw new MeridianError('E_CONFIG', `${this.#file}: ${describeError(err)}`, { cause: err });
    }
    this.#used = true;
  }

  async close(): Promise<void> {
    await this.#queue.catch(() => undefined);
    this.#listeners.clear();
  }

  current(): readonly ZoneConfig[] {
    return this.#zones;
  }

  onChange(listener: ZoneListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get(name: string): ZoneConfig {
    return findZone(this.#zones, name);
  }

  create(input: unknown): Promise<ZoneConfig> {
    return this.#write((current) => {
      const zone = prepareCreate(input, current, this.#now());
      return { next: [...current, zone], result: zone.name };
    }).then((name) => this.get(name));
  }

  change(name: string, edit: ZoneEdit): Promise<ZoneConfig> {
    return this.#write((current) => {
      const before = findZone(current, name);
      const zone = prepareChange(before, edit, this.#now());
      return { next: current.map((z) => (z === before ? zone : z)), result: zone.name };
    }).then((zoneName) => this.get(zoneName));
  }

  remove(name: string): Promise<void> {
    return this.#write((current) => {
      const zone = findZone(current, name);
      return { next: current.filter((z) => z !== zone), result: undefined };
    });
  }

  async seed(entries: readonly unknown[]): Promise<number> {
    const fileExists =
      this.#file !== undefined &&
      (await access(this.#file).then(
        () => true,
        () => false,
      ));
    return this.#write((current) => {
      if (this.#used || fileExists || entries.length === 0) return { next: undefined, result: 0 };
      const zones = validateSeed(entries, this.#now());
      return { next: [...current, ...zones], result: zones.length };
    });
  }

  /** Runs one change after the previous ones: compute, persist, then publish the list. */
  #write<T>(
    change: (current: readonly ZoneConfig[]) => { next: ZoneConfig[] | undefined; result: T },
  ): Promise<T> {
    const run = async (): Promise<T> => {
      const { next, result } = change(this.#zones);
      if (next === undefined) return result;
      const zones = freezeZones(next);
      await this.#persist(zones);
      this.#zones = zones;
      this.#used = true;
      notifyZones(this.#listeners, zones, (err) =>
        this.#logger.error({ err }, 'zone change listener failed'),
      );
      return result;
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  async #persist(zones: readonly ZoneConfig[]): Promise<void> {
    if (this.#file === undefined) return;
    const doc: FileFormat = { version: 1, zones };
    const tmp = `${this.#file}.${process.pid}.${++this.#tmpCounter}.tmp`;
    try {
      await mkdir(dirname(this.#file), { recursive: true });
      await writeFile(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: PRIVATE_FILE_MODE });
      await rename(tmp, this.#file);
    } catch (err) {
      throw new MeridianError(
        'E_UNAVAILABLE',
        `cannot write zone file ${this.#file}: ${describeError(err)}`,
        {
          cause: err,
        },
      );
    }
  }
}
