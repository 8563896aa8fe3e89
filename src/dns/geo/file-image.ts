// The bytes of a geo database file, shared between processes when the native addon is built.
//
// Every answering process (the primary's explain unit and each worker) holds the databases; read
// into the heap that is one private 45 MB copy of GeoLite2 City per process. Instead, the file is
// copied once per version into a snapshot folder and the snapshot is mapped read-only (map_file.c):
// one copy in the page cache serves every process, as libmaxminddb's mmap mode does. Mapping the
// operator's file itself would let an in-place rewrite change (or, truncated, fault) the bytes under
// a running reader; a snapshot is written to a temporary name and renamed, never modified after, so
// a half-written source still leaves the previous snapshot intact and the reload check refuses it.
//
// A snapshot's name comes from the source's path and stat signature, so processes that see the same
// file version find the same snapshot. Once a new version has loaded, the snapshots of the source's
// other versions are removed; a snapshot that fails to load, and a closing locator's own, too.
// Mapped pages stay valid after unlink; a process that needs a removed snapshot copies it again.
// Without the addon (or when the snapshot folder is unusable) the file is read into the heap.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { packagePath } from '../../config/install-paths.js';
import { describeError } from '../../core/errors.js';

/** A file version as stat shows it: the reload check compares these to notice a changed file. */
export interface FileSignature {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
}

interface MapFileModule {
  readonly supported: true;
  mapFile(path: string): Buffer;
}

let addon: MapFileModule | null | undefined;

function loadAddon(): MapFileModule | null {
  if (addon === undefined) {
    try {
      const path = packagePath('src', 'dns', 'transport', 'native', 'build', 'Release', 'map_file.node');
      const m = createRequire(import.meta.url)(path) as Partial<MapFileModule>;
      addon = m.supported === true && typeof m.mapFile === 'function' ? (m as MapFileModule) : null;
    } catch {
      addon = null;
    }
  }
  return addon;
}

/** Snapshots not touched for this long are leftovers of processes that did not close. */
const STALE_SNAPSHOT_MS = 24 * 3600 * 1000;

/** The default snapshot folder: per user, under the system's temporary folder. */
export function defaultSnapshotDir(): string {
  const uid = typeof process.getuid === 'function' ? String(process.getuid()) : 'user';
  return join(tmpdir(), `meridian-geo-${uid}`);
}

export interface FileImage {
  readonly bytes: Buffer;
  /** `mapped`: a snapshot shared through the page cache; `read`: a private heap copy. */
  readonly kind: 'mapped' | 'read';
  /** The snapshot file mapped (to remove on close), when mapped. */
  readonly snapshot?: string;
  /** Why the file was read rather than mapped (addon missing, snapshot folder unusable). */
  readonly fallbackReason?: string;
}

export interface ImageOptions {
  /** Where snapshots go; undefined = defaultSnapshotDir(); null = never map (read into the heap). */
  readonly snapshotDir?: string | null;
}

const sourceKey = (path: string): string =>
  createHash('sha256').update(resolve(path)).digest('hex').slice(0, 16);

function snapshotName(path: string, s: FileSignature): string {
  const version = createHash('sha256')
    .update(`${s.size}:${s.mtimeMs}:${s.ctimeMs}:${s.ino}`)
    .digest('hex')
    .slice(0, 16);
  return `${sourceKey(path)}-${version}-${basename(path).replace(/[^\w.-]/g, '_')}`;
}

/**
 * The whole file at `path`, whose stat `signature` the caller took before. Rejects (with the file
 * system's error) when the file cannot be read at all.
 */
export async function loadFileImage(
  path: string,
  signature: FileSignature,
  options: ImageOptions = {},
): Promise<FileImage> {
  const dir = options.snapshotDir === undefined ? defaultSnapshotDir() : options.snapshotDir;
  const native = dir === null ? null : loadAddon();
  if (native === null || dir === null) {
    const fallbackReason = dir === null ? 'mapping disabled' : 'the native map_file addon is not built';
    return { bytes: await readFile(path), kind: 'read', fallbackReason };
  }
  const snapshot = join(dir, snapshotName(path, signature));
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (!(await exists(snapshot))) {
      const temporary = `${snapshot}.${process.pid}.${Date.now()}.tmp`;
      await copyFile(path, temporary);
      await rename(temporary, snapshot);
    }
    return { bytes: native.mapFile(snapshot), kind: 'mapped', snapshot };
  } catch (err) {
    // The source itself unreadable is the caller's error; anything else falls back to reading.
    const bytes = await readFile(path);
    return { bytes, kind: 'read', fallbackReason: `snapshot ${snapshot}: ${describeError(err)}` };
  }
}

/** Removes a snapshot this process mapped (other processes' mappings stay valid). */
export async function releaseSnapshot(snapshot: string | undefined): Promise<void> {
  if (snapshot !== undefined) await unlink(snapshot).catch(() => undefined);
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Once `image` is known good: removes the snapshots of other versions of its source and day-old
 * leftovers of any source (never the unfinished copies of other processes). Best effort.
 */
export async function retireOtherSnapshots(path: string, image: Omit<FileImage, 'bytes'>): Promise<void> {
  const keep = image.snapshot;
  if (keep === undefined) return;
  const dir = dirname(keep);
  const prefix = `${sourceKey(path)}-`;
  const now = Date.now();
  for (const name of await readdir(dir).catch(() => [])) {
    const file = join(dir, name);
    if (file === keep) continue;
    let remove = name.startsWith(prefix) && !name.endsWith('.tmp');
    if (!remove) {
      const s = await stat(file).catch(() => undefined);
      remove = s !== undefined && now - Math.max(s.mtimeMs, s.atimeMs) > STALE_SNAPSHOT_MS;
    }
    if (remove) await unlink(file).catch(() => undefined);
  }
}
