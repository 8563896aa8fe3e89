// `meridian user|token|whoami|login|logout` against a real `meridian serve`: passwords through
// stdin, the login stored 0600 under $XDG_CONFIG_HOME/meridian/, a revoked token refused at once,
// and errors that exit 1 with the API's message.
import { strict as assert } from 'node:assert';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  runCli,
  startMeridian,
  tempDir,
  writeTestConfig,
  type CliResult,
  type MeridianProcess,
} from '../helpers/meridian-process.js';

const BOOT = 'cli-bootstrap-token-123';
const PASSWORD = 'a password long enough';

function expectCode(r: CliResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

describe('meridian user, token, login', () => {
  const dir = tempDir('meridian-cli-access-');
  const home = join(dir, 'xdg');
  let node: MeridianProcess;
  let admin: NodeJS.ProcessEnv;
  let person: NodeJS.ProcessEnv;

  before(async () => {
    const config = writeTestConfig(dir, (doc) => {
      doc.dns = { ...doc.dns, enabled: false };
    });
    node = await startMeridian(config, { MERIDIAN_API_TOKEN: BOOT });
    admin = { MERIDIAN_API_URL: node.apiUrl, MERIDIAN_API_TOKEN: BOOT };
    person = { MERIDIAN_API_URL: node.apiUrl, XDG_CONFIG_HOME: home };
  });

  after(async () => {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds users with the password from stdin; bad roles exit 1 naming the field', async () => {
    expectCode(
      await runCli(['user', 'add', 'alice', '--role', 'operator'], admin, { input: `${PASSWORD}\n` }),
      0,
      'user add',
    );
    const bad = await runCli(['user', 'add', 'bob', '--role', 'root'], admin, { input: `${PASSWORD}\n` });
    expectCode(bad, 1, 'user add --role root');
    assert.match(bad.stderr, /roles\[0\]: unknown role "root"/);
    const noPassword = await runCli(['user', 'add', 'carol', '--role', 'viewer'], admin);
    expectCode(noPassword, 1, 'user add without a password');
    assert.match(noPassword.stderr, /password: expected a string of 12/);
  });

  it('logs in (token stored 0600), whoami, tokens created, listed and revoked, logs out', async () => {
    const wrong = await runCli(['login', 'alice'], person, { input: 'not the password\n' });
    expectCode(wrong, 1, 'login with a wrong password');
    assert.match(wrong.stderr, /invalid username or password \(HTTP 401/);

    expectCode(await runCli(['login', 'alice'], person, { input: `${PASSWORD}\n` }), 0, 'login');
    const file = join(home, 'meridian', 'credentials.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(home, 'meridian')).mode & 0o777, 0o700);
    assert.ok(!readFileSync(file, 'utf8').includes(PASSWORD));

    const me = await runCli(['whoami', '--json'], person);
    expectCode(me, 0, 'whoami');
    assert.deepEqual(JSON.parse(me.stdout), {
      user: 'alice',
      token: 'session',
      tokenId: (JSON.parse(me.stdout) as { tokenId: string }).tokenId,
      roles: ['operator'],
      regions: [],
      permissions: ['read', 'write', 'report-health', 'self', 'manage-zones'],
    });

    const created = await runCli(['token', 'create', 'ci', '--expires', '30d'], person);
    expectCode(created, 0, 'token create');
    const secret = created.stdout.trim();
    assert.match(secret, /^mdn_[\w-]{43}$/);
    assert.match(created.stderr, /not shown again/);

    const listed = await runCli(['token', 'list', '--json'], person);
    const tokens = JSON.parse(listed.stdout) as { id: string; name: string; token?: string }[];
    const ci = tokens.find((t) => t.name === 'ci');
    assert.ok(ci !== undefined && ci.token === undefined);

    const withToken = { MERIDIAN_API_URL: node.apiUrl, MERIDIAN_API_TOKEN: secret };
    expectCode(await runCli(['region', 'list'], withToken), 0, 'region list with the new token');
    expectCode(await runCli(['token', 'revoke', ci.id], person), 0, 'token revoke');
    const revoked = await runCli(['region', 'list'], withToken);
    expectCode(revoked, 1, 'region list with a revoked token');
    assert.match(revoked.stderr, /invalid or revoked API token \(HTTP 401 E_UNAUTHORIZED\)/);

    expectCode(await runCli(['logout'], person), 0, 'logout');
    const after = await runCli(['whoami'], person);
    expectCode(after, 1, 'whoami after logout');
    assert.match(after.stderr, /HTTP 401/);
  });

  it('lists users with their last login; a disabled user cannot log in', async () => {
    const users = await runCli(['user', 'list', '--json'], admin);
    expectCode(users, 0, 'user list');
    const alice = (
      JSON.parse(users.stdout) as { name: string; lastLoginAt?: string; password?: unknown }[]
    ).find((u) => u.name === 'alice');
    assert.equal(typeof alice?.lastLoginAt, 'string');
    assert.equal(alice?.password, undefined);
    expectCode(await runCli(['user', 'disable', 'alice'], admin), 0, 'user disable');
    const login = await runCli(['login', 'alice'], person, { input: `${PASSWORD}\n` });
    expectCode(login, 1, 'login when disabled');
    assert.match(login.stderr, /this account is disabled/);
  });
});
