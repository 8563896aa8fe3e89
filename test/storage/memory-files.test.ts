// The embedded backend's files (state, ops log, tasks, policies) are owner-only (0600): created so,
// and narrowed at start when an older version left them 0644.
import { strict as assert } from 'node:assert';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/infra/logger.js';
import { openStores } from '../../src/storage/open.js';

const dir = mkdtempSync(join(tmpdir(), 'meridian-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const FILES = ['state.json', 'state.ops.jsonl', 'state.tasks.json', 'state.json.policies.json'];
const modeOf = (name: string): number => statSync(join(dir, name)).mode & 0o777;

async function writeEveryStore(): Promise<void> {
  const config = configSchema.parse({ state: { backend: 'memory', file: 'state.json' } });
  const stores = await openStores(
    { config, path: undefined, resolvePath: (p) => join(dir, p), nodeId: 'n' },
    silentLogger,
  );
  try {
    await stores.state.createRegion({ id: `r${Date.now()}`, lat: 50, lon: 8, ipv4: ['192.0.2.10'] });
    await stores.records.append('audit', { actor: 'test', action: 'region.create', target: 'region/r' });
    await stores.tasks.addUndrain({
      taskId: 't',
      region: 'r',
      until: 2,
      previousState: 'active',
      scheduledAt: 1,
    });
    await stores.policies.importBatch([{ id: 'rl', type: 'rate_limit', rate: 5, burst: 5 }], {
      replace: true,
    });
  } finally {
    await stores.close();
  }
}

it('creates the state, ops log, tasks and policy files 0600', async () => {
  await writeEveryStore();
  for (const name of FILES) assert.equal(modeOf(name).toString(8), '600', name);
});

it('narrows files an older version left 0644', async () => {
  for (const name of FILES) chmodSync(join(dir, name), 0o644);
  writeFileSync(join(dir, 'untouched.txt'), 'x', { mode: 0o644 });
  await writeEveryStore();
  for (const name of FILES) assert.equal(modeOf(name).toString(8), '600', name);
  assert.equal(modeOf('untouched.txt').toString(8), '644');
});
