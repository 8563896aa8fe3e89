// The ops routes mounted in the real admin API, driven over HTTP and through the CLI commands.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Command, Option } from 'commander';
import { startAdminApi, type AdminApi } from '../../src/api/server.js';
import { opsRoutes } from '../../src/api/ops-routes.js';
import { registerOpsCommands, taskBodyFromFlags, timeFlag } from '../../src/cli/ops-commands.js';
import { UsageError } from '../../src/cli/flags.js';
import { silentLogger } from '../../src/infra/logger.js';
import { AlertManager } from '../../src/ops/alerts.js';
import { AuditLog } from '../../src/ops/audit.js';
import { MemoryOpsRecordStore } from '../../src/storage/memory/ops-record-store.js';
import { MemoryTaskStore } from '../../src/storage/memory/task-store.js';
import { TaskScheduler } from '../../src/ops/tasks.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';

const TOKEN = 'test-token-123';
let api: AdminApi;
let base: string;
const state = new MemoryStateStore();
const records = new MemoryOpsRecordStore();
const alerts = new AlertManager({ store: state, records, nodeId: 'n1' });
const audit = new AuditLog({ records });
const scheduler = new TaskScheduler({
  tasks: new MemoryTaskStore(),
  state,
  records,
  alerts,
  nodeId: 'n1',
  retention: { maxAgeMs: 86_400_000, maxCount: 1000 },
});
const T0 = Date.UTC(2025, 5, 1, 12, 0, 0);

before(async () => {
  await state.start();
  await scheduler.start();
  for (let i = 0; i < 5; i++) {
    await records.append(
      'audit',
      { actor: i % 2 === 0 ? 'token:aaaa…' : 'alice', action: 'region.update', target: `region/r${i}` },
      { time: T0 + i * 60_000 },
    );
  }
  await records.append(
    'alert',
    { type: 'region_health', level: 'critical', subject: 'region/r1', message: 'down' },
    { time: T0 },
  );
  await records.append(
    'alert',
    { type: 'backend_health', level: 'info', subject: 'backend/r1/b', message: 'up' },
    { time: T0 + 1 },
  );
  api = await startAdminApi({
    listen: { host: '127.0.0.1', port: 0 },
    store: state,
    token: TOKEN,
    bodyLimitBytes: 65536,
    logger: silentLogger,
    metrics: () => Promise.resolve(''),
    extraRoutes: opsRoutes({ records, scheduler, audit }),
  });
  base = `http://127.0.0.1:${api.address.port}`;
});

after(async () => {
  await api.close();
  await scheduler.close();
  await alerts.close();
  await state.close();
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  auth = true,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(auth ? { authorization: `Bearer ${TOKEN}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
}

void describe('ops admin API routes', () => {
  void it('GET /v1/audit filters by time, actor and target, and pages', async () => {
    const since = new Date(T0 + 60_000).toISOString();
    const r = await call('GET', `/v1/audit?since=${since}&actor=${encodeURIComponent('token:aaaa…')}`);
    assert.equal(r.status, 200);
    const page = r.json as { items: { target: string }[]; nextCursor?: string };
    assert.deepEqual(
      page.items.map((i) => i.target),
      ['region/r4', 'region/r2'],
    );
    const p1 = (await call('GET', '/v1/audit?limit=2&order=asc')).json as {
      items: { target: string }[];
      nextCursor: string;
    };
    assert.deepEqual(
      p1.items.map((i) => i.target),
      ['region/r0', 'region/r1'],
    );
    const p2 = (await call('GET', `/v1/audit?limit=2&order=asc&cursor=${p1.nextCursor}`)).json as {
      items: { target: string }[];
    };
    assert.deepEqual(
      p2.items.map((i) => i.target),
      ['region/r2', 'region/r3'],
    );
    const prefix = (await call('GET', '/v1/audit?target=region/r1*')).json as { items: unknown[] };
    assert.equal(prefix.items.length, 1);
  });

  void it('GET /v1/alerts filters by level and type; bad parameters are 400s naming the field', async () => {
    const crit = (await call('GET', '/v1/alerts?level=warning')).json as { items: { message: string }[] };
    assert.deepEqual(
      crit.items.map((i) => i.message),
      ['down'],
    );
    const typed = (await call('GET', '/v1/alerts?type=backend_health,task_failed')).json as {
      items: { message: string }[];
    };
    assert.deepEqual(
      typed.items.map((i) => i.message),
      ['up'],
    );
    const since = (await call('GET', '/v1/alerts?since=-1h')).json as { items: unknown[] };
    assert.equal(since.items.length, 0, 'the fixtures are from 2025');
    for (const [query, field] of [
      ['since=yesterday', 'since'],
      ['until=2025-13-01T00:00:00Z', 'until'],
      ['limit=5000', 'limit'],
      ['level=loud', 'level'],
      ['type=nope', 'type'],
      ['cursor=abc', 'cursor'],
      ['actor=x', 'actor'],
    ] as const) {
      const r = await call('GET', `/v1/alerts?${query}`);
      assert.equal(r.status, 400, query);
      assert.equal((r.json as { error: { code: string; field: string } }).error.field, field, query);
      assert.equal((r.json as { error: { code: string } }).error.code, 'E_VALIDATION');
    }
  });

  void it('manages tasks: create, list, disable, enable, delete; writes need the token and are audited', async () => {
    const body = {
      id: 'nightly-drain',
      cron: '0 2 * * *',
      action: 'drain-region',
      region: 'eu-west',
      durationMinutes: 30,
    };
    assert.equal((await call('POST', '/v1/tasks', body, false)).status, 401);
    const created = await call('POST', '/v1/tasks', body);
    assert.equal(created.status, 201);
    assert.equal((await call('POST', '/v1/tasks', body)).status, 409);
    const bad = await call('POST', '/v1/tasks', { ...body, id: 'x', cron: 'nope' });
    assert.equal(bad.status, 400);
    assert.equal((bad.json as { error: { field: string } }).error.field, 'cron');
    const list = (await call('GET', '/v1/tasks')).json as {
      tasks: { task: { id: string; enabled: boolean }; nextRunAt?: string }[];
    };
    assert.equal(list.tasks[0]?.task.id, 'nightly-drain');
    assert.match(list.tasks[0]?.nextRunAt ?? '', /T02:00:00\.000Z$/);
    const disabled = await call('POST', '/v1/tasks/nightly-drain/disable');
    assert.equal((disabled.json as { enabled: boolean }).enabled, false);
    const enabled = await call('POST', '/v1/tasks/nightly-drain/enable');
    assert.equal((enabled.json as { enabled: boolean }).enabled, true);
    assert.equal((await call('DELETE', '/v1/tasks/nightly-drain')).status, 204);
    assert.equal((await call('DELETE', '/v1/tasks/nightly-drain')).status, 404);
    const trail = (await call('GET', '/v1/audit?target=task/nightly-drain&order=asc')).json as {
      items: { action: string; actor: string }[];
    };
    assert.deepEqual(
      trail.items.map((i) => i.action),
      ['task.create', 'task.disable', 'task.enable', 'task.remove'],
    );
  });
});

void describe('meridian audit / alerts / task', () => {
  async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    const program = new Command('meridian')
      .exitOverride()
      .configureOutput({ writeOut: (s) => (out += s), writeErr: () => undefined })
      .addOption(new Option('--api <url>').default(base))
      .addOption(new Option('--token <token>').default(TOKEN));
    registerOpsCommands(program, { write: (s) => (out += s) });
    try {
      await program.parseAsync(args, { from: 'user' });
      return { code: 0, out, err: '' };
    } catch (err) {
      if (err instanceof UsageError) return { code: 2, out, err: err.message };
      return { code: 1, out, err: (err as Error).message };
    }
  }

  void it('prints the audit log as a table or JSON', async () => {
    const table = await run(['audit', '--since', '2025-06-01T12:01:00Z', '--until', '2025-06-01T12:03:00Z']);
    assert.equal(table.code, 0);
    const lines = table.out.trim().split('\n');
    assert.match(lines[0] ?? '', /^TIME\s+ACTOR\s+ACTION\s+TARGET/);
    assert.equal(lines.length, 4);
    const json = await run(['audit', '--actor', 'alice', '--json']);
    const page = JSON.parse(json.out) as { items: { actor: string }[] };
    assert.deepEqual(
      page.items.map((i) => i.actor),
      ['alice', 'alice'],
    );
  });

  void it('names the flag when a time is bad, without calling the API (exit 2)', async () => {
    const r = await run(['audit', '--since', 'last tuesday']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^--since: cannot read "last tuesday" as a time/);
    assert.equal((await run(['alerts', '--until', '2025-02-30'])).code, 2);
    assert.throws(() => timeFlag('-5x', '--since', 0), /--since/);
    assert.equal(timeFlag('-2d', '--since', Date.UTC(2025, 0, 3)), '2025-01-01T00:00:00.000Z');
  });

  void it('lists alerts with level and type filters', async () => {
    const r = await run(['alerts', '--since', '2025-06-01', '--level', 'critical']);
    assert.equal(r.code, 0);
    assert.match(r.out, /critical\s+region_health\s+region\/r1\s+down/);
    assert.doesNotMatch(r.out, /backend_health/);
    assert.equal((await run(['alerts', '--type', 'bogus'])).code, 2);
  });

  void it('adds, lists, disables, enables and removes a task', async () => {
    const add = await run([
      'task',
      'add',
      'weekly',
      '--cron',
      '0 4 * * 1',
      '--action',
      'drain-region',
      '--region',
      'eu-west',
      '--duration',
      '60',
    ]);
    assert.equal(add.code, 0, add.err);
    assert.equal(add.out, 'task weekly added\n');
    const list = await run(['task', 'list']);
    assert.match(list.out, /weekly\s+drain-region\s+0 4 \* \* 1\s+-\s+yes\s+region eu-west for 60 min/);
    assert.equal((await run(['task', 'disable', 'weekly'])).out, 'task weekly disabled\n');
    assert.equal((await run(['task', 'enable', 'weekly'])).out, 'task weekly enabled\n');
    assert.equal((await run(['task', 'remove', 'weekly'])).out, 'task weekly removed\n');
    const gone = await run(['task', 'remove', 'weekly']);
    assert.equal(gone.code, 1);
    assert.match(gone.err, /task weekly not found \(HTTP 404 E_NOT_FOUND\)/);
  });

  void it('validates task flags before sending', () => {
    assert.throws(
      () => taskBodyFromFlags('x', { action: 'geo-recheck' }, 0),
      /^UsageError: --cron: required/,
    );
    assert.throws(() => taskBodyFromFlags('x', { cron: '* * *', action: 'geo-recheck' }, 0), /--cron: /);
    assert.throws(
      () => taskBodyFromFlags('x', { cron: '0 * * * *', action: 'drain-region', region: 'eu' }, 0),
      /--duration: expected an integer from 1/,
    );
    assert.throws(
      () => taskBodyFromFlags('x', { cron: '0 * * * *', action: 'geo-recheck', timezone: 'X/Y' }, 0),
      /--timezone: /,
    );
  });

  void it('escapes control characters an old record holds, in tables and JSON', async () => {
    const later = T0 + 86_400_000;
    await records.append(
      'alert',
      { type: 'region_health', level: 'warning', subject: 'region/r9', message: 'down\u001b[2J\u009b31m' },
      { time: later },
    );
    const since = new Date(later).toISOString();
    for (const args of [
      ['alerts', '--since', since],
      ['alerts', '--since', since, '--json'],
    ]) {
      const r = await run(args);
      assert.equal(r.code, 0);
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(r.out, /[\u001b\u009b]/, args.join(' '));
      assert.match(r.out, /down(\\x1b|\\u001b)\[2J/);
    }
  });
});
