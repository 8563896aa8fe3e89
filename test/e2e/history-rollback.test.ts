// Revision history and rollback end to end on an embedded node with the real CLI: every audited
// change is a revision (`meridian history`, filtered by --object and --since); `meridian rollback`
// restores one object or everything as of a revision (regions, backends, policies, tasks), dry runs
// change nothing, and the rollback is itself audited.
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RevisionView } from '../../src/api/backup-routes.js';
import { runServe, type RunningServer } from '../../src/node/serve.js';
import { runCli, tempDir, writeTestConfig } from '../helpers/meridian-process.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'rollback-e2e-bootstrap-token';

describe('history and rollback (embedded node)', () => {
  const dir = tempDir('meridian-rollback-');
  let server: RunningServer;
  let api = '';
  /** Revision after each step, by name. */
  const rev = new Map<string, string>();

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
    return text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
  };
  const cli = (args: string[]) => runCli(args, { MERIDIAN_API_URL: api, MERIDIAN_API_TOKEN: TOKEN });
  const history = async (query = ''): Promise<RevisionView[]> =>
    ((await call('GET', `/v1/history${query}`)) as { items: RevisionView[] }).items;
  /** Makes a change and remembers the revision it became (the memory store delivers audit entries asynchronously). */
  const step = async (name: string, change: () => Promise<unknown>): Promise<void> => {
    const count = (await history('?limit=1000')).length;
    await change();
    const latest = await waitFor(`the revision of ${name}`, async () => {
      const items = await history('?limit=1000');
      return items.length > count ? items[0] : undefined;
    });
    rev.set(name, latest.revision);
  };
  const regions = async () =>
    ((await call('GET', '/v1/regions')) as { regions: { id: string; weight: number }[] }).regions.map((r) => [
      r.id,
      r.weight,
    ]);
  const ids = async (path: string, field: string) =>
    ((await call('GET', path)) as Record<string, { id: string }[]>)[field]
      ?.map((x) => x.id)
      .filter((id) => !id.startsWith('builtin-'));
  const backends = () => ids('/v1/regions/eu-west/backends', 'backends').catch(() => 'no region');
  const revision = (name: string): string => {
    const r = rev.get(name);
    assert.ok(r !== undefined, name);
    return r;
  };

  before(async () => {
    const config = writeTestConfig(dir, (doc) => {
      doc.nodeId = 'rollback-node';
      doc.state = { backend: 'memory', file: join(dir, 'state.json') };
      doc.api = { ...doc.api, token: TOKEN };
      doc.dns = { ...doc.dns, enabled: false };
      doc.log = { level: 'silent' };
    });
    server = await runServe({ configPath: config, env: {}, print: () => {} });
    assert.ok(server.api !== undefined);
    api = server.api.url;
    const region = { lat: 53.3, lon: -6.3, ipv4: ['192.0.2.10'] };
    await step('r1 create eu-west', () => call('POST', '/v1/regions', { id: 'eu-west', ...region }));
    await step('r2 eu-west weight 10', () => call('PATCH', '/v1/regions/eu-west', { weight: 10 }));
    await step('r3 backend web-1', () =>
      call('POST', '/v1/regions/eu-west/backends', { id: 'web-1', url: 'http://10.0.0.1:8080' }),
    );
    await step('r4 create us-east', () =>
      call('POST', '/v1/regions', { id: 'us-east', lat: 39, lon: -77, ipv4: ['198.51.100.1'] }),
    );
    await step('r5 policy', () =>
      call('POST', '/v1/policies', {
        id: 'waf',
        type: 'waf',
        rules: [{ id: 'no-admin', target: 'path', pattern: '^/admin', action: 'block', priority: 10 }],
      }),
    );
    await step('r6 task', () =>
      call('POST', '/v1/tasks', { id: 'recheck', cron: '0 4 * * *', action: 'geo-recheck' }),
    );
    await step('r7 remove eu-west', () => call('DELETE', '/v1/regions/eu-west'));
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists revisions newest first, by object and since a revision', async () => {
    const all = await cli(['history', '--json']);
    assert.equal(all.code, 0, all.stderr);
    const items = (JSON.parse(all.stdout) as { items: RevisionView[] }).items;
    assert.deepEqual(
      items.slice(0, 7).map((r) => r.action),
      [
        'region.remove',
        'task.create',
        'policy.create',
        'region.create',
        'backend.create',
        'region.update',
        'region.create',
      ],
    );
    assert.equal(items[0]?.revision, revision('r7 remove eu-west'));
    const table = await cli(['history', '--object', 'region/eu-west']);
    assert.match(table.stdout, /^REVISION +TIME +ACTOR +ACTION +OBJECT\n/);
    assert.equal(table.stdout.trim().split('\n').length, 4, table.stdout);
    const since = await cli(['history', '--since', revision('r5 policy'), '--json']);
    assert.deepEqual(
      (JSON.parse(since.stdout) as { items: RevisionView[] }).items.map((r) => r.action),
      ['region.remove', 'task.create'],
    );
    const bad = await cli(['history', '--object', 'nonsense']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--object: expected KIND\/ID/);
  });

  it('a dry run of a one-object rollback shows the diff and changes nothing', async () => {
    const r = await cli([
      'rollback',
      revision('r3 backend web-1'),
      '--object',
      'region/eu-west',
      '--dry-run',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /regions: 1 added, 0 changed, 0 removed\n {2}\+ region\/eu-west\n/);
    assert.match(r.stdout, /dry run: 1 change\(s\) would be made; nothing was changed/);
    assert.deepEqual(await regions(), [['us-east', 100]]);
  });

  it('rolls back one object to its state as of a revision', async () => {
    const r = await cli(['rollback', revision('r3 backend web-1'), '--object', 'region/eu-west']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 change\(s\) made/);
    assert.deepEqual(await regions(), [
      ['eu-west', 10],
      ['us-east', 100],
    ]);
    // Only that object: its backend (removed with it) is not part of it.
    assert.deepEqual(await backends(), []);
  });

  it('rolls back everything to a revision (backends, regions, policies, tasks); audited', async () => {
    const r = await cli(['rollback', revision('r3 backend web-1'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as {
      changes: number;
      diff: Record<string, Record<string, string[]>>;
    };
    assert.deepEqual(result.diff.backends?.added, ['backend/eu-west/web-1']);
    assert.deepEqual(result.diff.regions?.removed, ['region/us-east']);
    assert.deepEqual(result.diff.policies?.removed, ['policy/waf']);
    assert.deepEqual(result.diff.tasks?.removed, ['task/recheck']);
    assert.equal(result.changes, 4);
    assert.deepEqual(await regions(), [['eu-west', 10]]);
    assert.deepEqual(await backends(), ['web-1']);
    assert.deepEqual(await ids('/v1/policies', 'policies'), []);
    const tasks = (await call('GET', '/v1/tasks')) as { tasks: { builtin: boolean }[] };
    assert.deepEqual(
      tasks.tasks.filter((t) => !t.builtin),
      [],
    );
    const audited = await waitFor('the rollback in the history', async () =>
      (await history()).find((x) => x.action === 'state.rollback' && x.target === 'state'),
    );
    assert.equal(audited.actor, 'token:config');
    // Rolling back to the first revision: a dry run shows weight 100 and no backend, changing nothing.
    const dry = await cli(['rollback', revision('r1 create eu-west'), '--dry-run']);
    assert.match(dry.stdout, /~ region\/eu-west/);
    assert.match(dry.stdout, /- backend\/eu-west\/web-1/);
    assert.deepEqual(await regions(), [['eu-west', 10]]);
  });

  it('refuses a malformed revision (exit 2) and one older than the audit trail (exit 1), changing nothing', async () => {
    const malformed = await cli(['rollback', 'yesterday']);
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /expected a revision like/);
    const old = await cli(['rollback', '1-0']);
    assert.equal(old.code, 1);
    assert.match(old.stderr, /older than the oldest revision kept/);
    assert.deepEqual(await regions(), [['eu-west', 10]]);
  });
});
