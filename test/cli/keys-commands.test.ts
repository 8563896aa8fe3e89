// `meridian keys generate|status|rotate` against a real `meridian serve` holding a key from
// MERIDIAN_KEYS: a generated line is a usable key, status names the key ids in use, rotate reports
// what it did, and a bad key id (2, usage) or a non-admin token (1) exits with the reason.
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
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

describe('meridian keys', () => {
  const dir = tempDir('meridian-cli-keys-');
  let node: MeridianProcess;
  let admin: NodeJS.ProcessEnv;
  let keyLine = '';

  before(async () => {
    const generated = await runCli(['keys', 'generate', 'k1'], {});
    expectCode(generated, 0, 'keys generate');
    keyLine = generated.stdout.trim();
    const config = writeTestConfig(dir, (doc) => {
      doc.dns = { ...doc.dns, enabled: false };
    });
    node = await startMeridian(config, { MERIDIAN_API_TOKEN: BOOT, MERIDIAN_KEYS: keyLine });
    admin = { MERIDIAN_API_URL: node.apiUrl, MERIDIAN_API_TOKEN: BOOT };
  });

  after(async () => {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('generate prints <id>:<32 random bytes in base64>; a bad id exits 2 (usage)', async () => {
    assert.match(keyLine, /^k1:[A-Za-z0-9+/]{43}=$/);
    assert.equal(Buffer.from(keyLine.slice(3), 'base64').length, 32);
    const bad = await runCli(['keys', 'generate', 'a:b'], {});
    expectCode(bad, 2, 'keys generate a:b (a usage error)');
    assert.match(bad.stderr, /key id "a:b": expected 1-64 of/);
  });

  it('status shows the key ids in use, rotate is idempotent, and both need an admin', async () => {
    expectCode(
      await runCli(['user', 'add', 'vera', '--role', 'viewer'], admin, { input: `${PASSWORD}\n` }),
      0,
      'user add',
    );
    const status = await runCli(['keys', 'status'], admin);
    expectCode(status, 0, 'keys status');
    assert.match(
      status.stdout,
      /^KEY ID\s+ON THIS NODE\s+SEALED VALUES\s+RETIRABLE\nk1\s+active\s+1\s+no\n$/,
    );

    const rotated = await runCli(['keys', 'rotate'], admin);
    expectCode(rotated, 0, 'keys rotate');
    assert.match(rotated.stdout, /^users: 0 re-sealed under k1, 1 already under it, 0 skipped\n/);

    const json = await runCli(['keys', 'status', '--json'], admin);
    assert.deepEqual((JSON.parse(json.stdout) as { inUse: unknown }).inUse, { k1: 1 });

    const token = await runCli(['token', 'create', 'cli', '--user', 'vera'], admin);
    expectCode(token, 0, 'token create');
    const viewer = { MERIDIAN_API_URL: node.apiUrl, MERIDIAN_API_TOKEN: token.stdout.trim() };
    const refused = await runCli(['keys', 'rotate'], viewer);
    expectCode(refused, 1, 'keys rotate as a viewer');
    assert.match(refused.stderr, /needs the "manage-access" permission/);
  });
});
