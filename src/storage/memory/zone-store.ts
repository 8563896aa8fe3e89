// The embedded zone store: the zones in memory, persisted (when given a file) by RecordListFile
// (atomic rewrites, mode 0600, one change at a time; a failed change changes nothing). The file's
// existence is the "has held zones" mark that stops the YAML seed after the first start.
import { access } from 'node:fs/promises';
import { parseZone } from '../../config/zone-rules.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import { RecordListFile } from './record-list-file.js';
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

export class MemoryZoneStore implements ZoneStore {
  readonly #file: string | undefined;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #listeners = new Set<ZoneListener>();
  readonly #records: RecordListFile<ZoneConfig>;
  #zones: readonly ZoneConfig[] = freezeZones([]);
  /** Whether the store ever held zones (the file exists, or a write happened here). */
  #used = false;

  constructor(options: MemoryZoneStoreOptions = {}) {
    this.#file = options.file;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'zone-store' });
    this.#now = options.now ?? Date.now;
    this.#records = new RecordListFile({
      file: options.file,
      key: 'zones',
      noun: 'zone',
      logger: this.#logger,
    });
  }

  async start(): Promise<void> {
    const zones = await this.#records.load(parseZone);
    if (zones === undefined) return;
    this.#zones = freezeZones(zones);
    this.#used = true;
  }

  async close(): Promise<void> {
    await this.#records.settled();
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
    return this.#records.serial(async () => {
      const { next, result } = change(this.#zones);
      if (next === undefined) return result;
      const zones = freezeZones(next);
      await this.#records.write(zones);
      this.#zones = zones;
      this.#used = true;
      notifyZones(this.#listeners, zones, (err) =>
        this.#logger.error({ err }, 'zone change listener failed'),
      );
      return result;
    });
  }
}
