// Every change made through the CLI is in the audit log: `meridian serve` (embedded store and Redis)
// driven by the real `meridian` CLI, then read back with `meridian audit --json` and its filters.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { AuditRecord, RecordPage } from '../../src/storage/ops-record-store.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import {
  runCli,
  startMeridian,
  tempDir,
  writeTestConfig,
  type CliResult,
  type MeridianProcess,
} from '../helpers/meridian-process.js';

const TOKEN = 'audit-e2e-token-0123';

function expectCode(r: CliResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** Every mutating region/backend command, with the audit action and target it must produce. */
const COMMANDS: readonly { args: string[]; action: string; target: string }[] = [
  {
    args: ['region', 'add', 'eu-west', '--lat', '50.11', '--lon', '8.68', '--ipv4', '192.0.2.10'],
    action: 'region.create',
    target: 'region/eu-west',
  },
  {
    args: ['region', 'update', 'eu-west', '--weight', '40'],
    action: 'region.update',
    target: 'region/eu-west',
  },
  { args: ['region', 'drain', 'eu-west'], action: 'region.drain', target: 'region/eu-west' },
  { args: ['region', 'undrain', 'eu-west'], action: 'region.undrain', target: 'region/eu-west' },
  {
    args: ['backend', 'add', 'eu-west', 'http://127.0.0.1:8080', '--id', 'web-1'],
    action: 'backend.create',
    target: 'backend/eu-west/web-1',
  },
  {
    args: ['backend', 'drain', 'eu-west', 'web-1'],
    action: 'backend.drain',
    target: 'backend/eu-west/web-1',
  },
  {
    args: ['backend', 'undrain', 'eu-west', 'web-1'],
    action: 'backend.undrain',
    target: 'backend/eu-west/web-1',
  },
  {
    args: ['backend', 'remove', 'eu-west', 'web-1'],
    action: 'backend.remove',
    target: 'backend/eu-west/web-1',
  },
  { args: ['region', 'remove', 'eu-west'], action: 'region.remove', target: 'region/eu-west' },
];

function auditSuite(
  name: string,
  setup: () => Promise<{ env: NodeJS.ProcessEnv; cleanup: () => Promise<void> }>,
) {
  void describe(`meridian audit after CLI changes (${name})`, () => {
    const dir = tempDir('meridian-audit-');
    const configPath = writeTestConfig(dir);
    let server: MeridianProcess;
    let env: NodeJS.ProcessEnv;
    /** The server's environment (the token, and the Redis URL for the Redis variant). */
    let serverEnv: NodeJS.ProcessEnv = {};
    let cleanup: () => Promise<void> = () => Promise.resolve();
    const cli = (...args: string[]) => runCli(args, env);
    const audit = async (...flags: string[]): Promise<AuditRecord[]> => {
      const r = await cli('audit', '--json', '--order', 'asc', ...flags);
      expectCode(r, 0, `audit ${flags.join(' ')}`);
      return (JSON.parse(r.stdout) as RecordPage<AuditRecord>).items;
    };

    before(async () => {
      const extra = await setup();
      cleanup = extra.cleanup;
      serverEnv = { ...extra.env, MERIDIAN_API_TOKEN: TOKEN };
      server = await startMeridian(configPath, serverEnv);
      env = { MERIDIAN_API_URL: server.apiUrl, MERIDIAN_API_TOKEN: TOKEN };
    });

    after(async () => {
      await server?.stop();
      await cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    void it('lists one entry per mutating region/backend command: action, target, actor, before/after', async () => {
      assert.deepEqual(await audit(), []);
      // A refused command (bad token, unknown region) changes nothing and is not audited.
      const refused = await runCli(['region', 'drain', 'eu-west'], {
        ...env,
        MERIDIAN_API_TOKEN: 'wrong-token-1',
      });
      expectCode(refused, 1, 'drain with a wrong token');
      expectCode(await cli('region', 'drain', 'nowhere'), 1, 'drain an unknown region');

      for (const c of COMMANDS) expectCode(await cli(...c.args), 0, c.args.join(' '));
      const items = await audit();
      assert.deepEqual(
        items.map((r) => [r.action, r.target]),
        COMMANDS.map((c) => [c.action, c.target]),
      );
      // The open audit log names the token by its id: no hash prefix that would confirm a guess offline.
      const hashPrefix = createHash('sha256').update(TOKEN).digest('hex').slice(0, 8);
      for (const r of items) {
        assert.equal(r.actor, 'token:config');
        assert.equal(typeof r.requestId, 'string');
        assert.ok(!JSON.stringify(r).includes(TOKEN), 'the token itself is never recorded');
        assert.ok(!JSON.stringify(r).includes(hashPrefix), 'no hash prefix of the token is recorded');
      }
      const [create, update, drain] = items;
      assert.equal(create?.before, null);
      assert.equal((create?.after as { weight: number }).weight, 100);
      assert.equal((update?.before as { weight: number }).weight, 100);
      assert.equal((update?.after as { weight: number }).weight, 40);
      assert.equal((drain?.after as { state: string }).state, 'draining');
      assert.equal(items.at(-1)?.after, null);
      assert.equal((items.at(-1)?.before as { id: string }).id, 'eu-west');
    });

    void it('--since, --target and --actor filter the entries', async () => {
      const all = await audit();
      assert.equal(all.length, COMMANDS.length);
      const fifth = all[4];
      assert.ok(fifth !== undefined);
      // --since is inclusive; the commands ran in separate processes, one after the other.
      const since = await audit('--since', fifth.time);
      assert.deepEqual(
        since.map((r) => r.id),
        all.filter((r) => Date.parse(r.time) >= Date.parse(fifth.time)).map((r) => r.id),
      );
      assert.ok(since.length < all.length && since.some((r) => r.id === fifth.id));
      assert.deepEqual(await audit('--since', '-1h'), all);
      assert.deepEqual(await audit('--since', '2000-01-01T00:00:00Z', '--until', '2000-01-02T00:00:00Z'), []);

      const region = await audit('--target', 'region/eu-west');
      assert.deepEqual(
        region.map((r) => r.action),
        ['region.create', 'region.update', 'region.drain', 'region.undrain', 'region.remove'],
      );
      const backends = await audit('--target', 'backend/eu-west/*');
      assert.deepEqual(
        backends.map((r) => r.action),
        ['backend.create', 'backend.drain', 'backend.undrain', 'backend.remove'],
      );
      assert.deepEqual(await audit('--target', 'region/us-east'), []);
      assert.equal((await audit('--actor', 'token:config')).length, all.length);
      assert.deepEqual(await audit('--actor', 'token:someone-else'), []);
    });

    void it('the audit log survives a restart', async () => {
      const beforeRestart = await audit();
      await server.stop();
      server = await startMeridian(configPath, serverEnv);
      env = { MERIDIAN_API_URL: server.apiUrl, MERIDIAN_API_TOKEN: TOKEN };
      assert.deepEqual(await audit(), beforeRestart);
      if (name === 'embedded store') {
        // Every entry was delivered: nothing is left in the state file's outbox.
        const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
          auditOutbox?: unknown[];
        };
        assert.deepEqual(state.auditOutbox, []);
      }
    });
  });
}

auditSuite('embedded store', () => Promise.resolve({ env: {}, cleanup: () => Promise.resolve() }));

auditSuite('redis', async () => {
  const redis: RedisHandle = await startRedis();
  return { env: { MERIDIAN_REDIS_URL: redis.url }, cleanup: () => redis.stop() };
});
