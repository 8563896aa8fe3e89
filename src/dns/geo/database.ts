// One MaxMind DB file loaded for lookups: its bytes (a shared mapped snapshot, or read whole:
// file-image.ts), parsed with maxmind's `new Reader(buffer)`,
// its metadata checked and a few test lookups run, so a damaged file fails here (at open or on a
// reload) and never on the query path. Also the file signature (size, times, inode) the reload
// check compares to notice a changed file.
import { stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { Reader, type CityResponse } from 'maxmind';
// maxmind's own decoder (its Reader builds one the same way), for decoding a record by the data
// offset the tree walk found, without turning the address back into text for Reader.get.
import decoderModule from 'mmdb-lib/lib/decoder.js';
import { MeridianError, describeError } from '../../core/errors.js';
import {
  loadFileImage,
  releaseSnapshot,
  retireOtherSnapshots,
  type FileImage,
  type FileSignature,
  type ImageOptions,
} from './file-image.js';

export type { FileSignature } from './file-image.js';
import { RecordTable } from './geo-records.js';
import { SearchTree } from './mmdb-tree.js';

export interface LoadedDatabase {
  readonly path: string;
  readonly reader: Reader<CityResponse>;
  readonly tree: SearchTree;
  /** The record at a data offset (as SearchTree.find returns it), decoded: what Reader.get gives. */
  decodeAt(offset: number): unknown;
  /** The file's normalised records by data offset, filled as lookups first meet them (or by a prefill). */
  readonly records: RecordTable;
  readonly ipVersion: number;
  readonly databaseType: string;
  readonly buildEpoch: string;
  readonly signature: FileSignature;
  /** How the bytes are held (mapped snapshot or heap copy), and the snapshot to release on close. */
  readonly image: Omit<FileImage, 'bytes'>;
}

export const signatureOf = (s: Stats): FileSignature => ({
  size: s.size,
  mtimeMs: s.mtimeMs,
  ctimeMs: s.ctimeMs,
  ino: s.ino,
});

export const sameSignature = (a: FileSignature, b: FileSignature): boolean =>
  a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;

const MIN_SANE_SIZE = 64;

/** Parses and checks one database image. Throws a plain Error describing what is wrong. */
export function buildReader(path: string, image: FileImage, signature: FileSignature): LoadedDatabase {
  const buffer = image.bytes;
  if (buffer.length < MIN_SANE_SIZE) throw new Error(`file too small (${buffer.length} bytes)`);
  // No decoder cache: each record is decoded once and then kept normalised (RecordTable).
  const reader = new Reader<CityResponse>(buffer);
  const m = reader.metadata;
  if (typeof m.databaseType !== 'string' || m.databaseType === '')
    throw new Error('metadata has no database_type');
  if (m.ipVersion !== 4 && m.ipVersion !== 6)
    throw new Error(`metadata ip_version ${String(m.ipVersion)} is not 4 or 6`);
  if (m.recordSize !== 24 && m.recordSize !== 28 && m.recordSize !== 32) {
    throw new Error(`metadata record_size ${String(m.recordSize)} is not 24, 28 or 32`);
  }
  if (!Number.isInteger(m.nodeCount) || m.nodeCount <= 0)
    throw new Error(`metadata node_count ${m.nodeCount} is not sane`);
  if (m.searchTreeSize + 16 > buffer.length) {
    throw new Error(
      `search tree (${m.searchTreeSize} bytes) does not fit in the file (${buffer.length} bytes)`,
    );
  }
  // The data section starts after the tree and its 16-byte separator (MaxMind DB spec), as in Reader.
  const decoder = new decoderModule.default(buffer, m.searchTreeSize + 16);
  // Test lookups: a damaged tree or data section usually throws here rather than in production.
  const probes =
    m.ipVersion === 6 ? ['192.0.2.1', '8.8.8.8', '2001:db8::1', '2001:4860::1'] : ['192.0.2.1', '8.8.8.8'];
  for (const ip of probes) reader.getWithPrefixLength(ip);
  const epoch =
    m.buildEpoch instanceof Date && !Number.isNaN(m.buildEpoch.getTime()) ? m.buildEpoch.toISOString() : '';
  return {
    path,
    reader,
    tree: new SearchTree(buffer, m),
    decodeAt: (offset) => decoder.decodeFast(offset).value as unknown,
    records: new RecordTable(),
    ipVersion: m.ipVersion,
    databaseType: m.databaseType,
    buildEpoch: epoch,
    signature,
    image: (({ bytes: _bytes, ...rest }) => rest)(image),
  };
}

/**
 * Loads one version of a file whose stat `signature` was just taken: its image, then the reader.
 * Throws the file system's error, or a plain Error saying why the content is not a usable database
 * (the snapshot taken for it is released then).
 */
export async function loadDatabase(
  path: string,
  signature: FileSignature,
  imageOptions: ImageOptions,
): Promise<LoadedDatabase> {
  const image = await loadFileImage(path, signature, imageOptions);
  let loaded: LoadedDatabase;
  try {
    loaded = buildReader(path, image, signature);
  } catch (err) {
    await releaseSnapshot(image.snapshot);
    throw err;
  }
  await retireOtherSnapshots(path, loaded.image);
  return loaded;
}

/** Loads a file named in the configuration; E_CONFIG naming the file when it cannot be used. */
export async function loadAtOpen(path: string, imageOptions: ImageOptions = {}): Promise<LoadedDatabase> {
  let signature: FileSignature;
  try {
    signature = signatureOf(await stat(path));
  } catch (err) {
    throw new MeridianError('E_CONFIG', `geo database ${path}: cannot read: ${describeError(err)}`, {
      cause: err,
    });
  }
  try {
    return await loadDatabase(path, signature, imageOptions);
  } catch (err) {
    const unreadable = typeof err === 'object' && err !== null && 'code' in err;
    throw new MeridianError(
      'E_CONFIG',
      unreadable
        ? `geo database ${path}: cannot read: ${describeError(err)}`
        : `geo database ${path}: not a valid MaxMind DB file: ${describeError(err)}`,
      { cause: err },
    );
  }
}
