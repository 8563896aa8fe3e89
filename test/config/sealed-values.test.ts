// Secrets sealed in the config file: `meridian keys seal --path` makes a value only this key ring
// opens; `meridian serve` opens it before validation (a sealed bootstrap token authenticates, a
// sealed webhook URL passes URL validation); the same value pasted at another key, a key ring
// without that key, or no key ring at all stops start-up naming the key path.
import { strict as assert } from 'node:assert';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify, parse } from 'yaml';
import { isMeridianError } from '../../src/core/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { configSealContext } from '../../src/config/sealed-values.js';
import { keyRingOpener } from '../../src/infra/secrets/key-source.js';
import { runServe } from '../../src/node/serve.js';
import { runCli, tempDir, writeTestConfig, type CliResult } from '../helpers/meridian-process.js';

function expectCode(r: CliResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

const TOKEN = 'sealed-bootstrap-token-0123456789';
const HOOK = 'https://hooks.example.net/services/T000/B000/secret-path';

describe('sealed config values', () => {
  const dir = tempDir('meridian-sealed-config-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('names list items without their position', () => {
    assert.equal(configSealContext(['api', 'token']), 'config:api.token');
    assert.equal(configSealContext(['ops', 'webhooks', 3, 'url']), 'config:ops.webhooks[].url');
  });

  it('seals with the CLI, opens at start-up, refuses a value moved to another key or without the key', async () => {
    const generated = await runCli(['keys', 'generate', 'k1'], {});
    expectCode(generated, 0, 'keys generate');
    writeFileSync(join(dir, 'keys'), generated.stdout, { mode: 0o600 });
    const config = writeTestConfig(dir, (doc) => {
      doc.dns = { ...doc.dns, enabled: false };
      doc.log = { level: 'silent' };
      (doc as Record<string, unknown>).secrets = { keyFile: 'keys' };
    });
    const seal = async (path: string, value: string): Promise<string> => {
      const r = await runCli(
        ['keys', 'seal', '--path', path, '--config', config],
        {},
        { input: `${value}\n` },
      );
      expectCode(r, 0, `keys seal ${path}`);
      assert.match(r.stdout, /^enc:v1:k1:/);
      assert.ok(!r.stdout.includes(value));
      return r.stdout.trim();
    };
    const sealedToken = await seal('api.token', TOKEN);
    const sealedHook = await seal('ops.webhooks[].url', HOOK);
    const doc = parse(readFileSync(config, 'utf8')) as Record<string, Record<string, unknown>>;
    doc.api = { ...doc.api, token: sealedToken };
    doc.ops = { ...doc.ops, webhooks: [{ id: 'chat', url: sealedHook }] };
    writeFileSync(config, stringify(doc));
    assert.ok(!readFileSync(config, 'utf8').includes(TOKEN), 'the file holds no plaintext');

    const loaded = loadConfig(config, {}, keyRingOpener({}));
    assert.equal(loaded.config.api.token, TOKEN);
    assert.equal(loaded.config.ops.webhooks[0]?.url, HOOK);

    const node = await runServe({ configPath: config, env: {}, print: () => {} });
    try {
      const url = node.api?.url ?? '';
      const ok = await fetch(`${url}/v1/regions`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(ok.status, 200, 'the sealed bootstrap token authenticates');
      const sealedAsToken = await fetch(`${url}/v1/regions`, {
        headers: { authorization: `Bearer ${sealedToken}` },
      });
      assert.equal(sealedAsToken.status, 401, 'the sealed text itself is no token');
    } finally {
      await node.close();
    }

    const refused = (mutate: (d: Record<string, Record<string, unknown>>) => void, env = {}): string => {
      const copy = structuredClone(doc);
      mutate(copy);
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, stringify(copy));
      try {
        loadConfig(file, env, keyRingOpener(env));
      } catch (err) {
        assert.ok(isMeridianError(err) && err.code === 'E_CONFIG', String(err));
        return err.message;
      }
      assert.fail('expected a configuration error');
    };
    assert.match(
      refused((d) => {
        d.ops = { ...d.ops, webhooks: [{ id: 'chat', url: 'https://x.example/', secret: sealedToken }] };
      }),
      /^ops\.webhooks\.0\.secret: .*does not authenticate/,
    );
    assert.match(
      refused((d) => {
        delete d.secrets;
      }),
      /^api\.token: the value is sealed .* no encryption key/,
    );
    const other = (await runCli(['keys', 'generate', 'k2'], {})).stdout.trim();
    assert.match(
      refused(
        (d) => {
          delete d.secrets;
        },
        { MERIDIAN_KEYS: other },
      ),
      /^api\.token: .*sealed with key k1, which this node does not have/,
    );
  });

  it('keys seal: a bad path or an empty value exits 2', async () => {
    const bad = await runCli(['keys', 'seal', '--path', 'api..token'], {
      MERIDIAN_KEYS: 'k9:' + Buffer.alloc(32, 1).toString('base64'),
    });
    expectCode(bad, 2, 'bad path');
    assert.match(bad.stderr, /--path: expected a config key path/);
    const empty = await runCli(['keys', 'seal', '--path', 'api.token'], {
      MERIDIAN_KEYS: 'k9:' + Buffer.alloc(32, 1).toString('base64'),
    });
    expectCode(empty, 2, 'empty value');
    assert.match(empty.stderr, /nothing to seal/);
  });
});
