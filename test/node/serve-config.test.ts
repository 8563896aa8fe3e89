// What the config layer cannot check alone (it sits below the tiers and does not know their
// plug-ins) is checked by `runServe` before anything starts: a bad name is E_CONFIG naming the key.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MeridianError } from '../../src/core/errors.js';
import { runServe } from '../../src/node/serve.js';

void describe('runServe config checks', () => {
  void it('refuses an unknown proxy.balancer before starting anything, naming the key and the known names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meridian-serve-config-'));
    try {
      const file = join(dir, 'meridian.yaml');
      writeFileSync(
        file,
        [
          `state: { backend: memory, file: ${JSON.stringify(join(dir, 'state.json'))} }`,
          'api: { listen: "127.0.0.1:0" }',
          'proxy: { region: eu-west, listen: ["127.0.0.1:0"], balancer: round_robbin }',
          '',
        ].join('\n'),
      );
      await assert.rejects(
        runServe({ configPath: file, env: {}, print: () => {} }),
        (err: unknown) =>
          err instanceof MeridianError &&
          err.code === 'E_CONFIG' &&
          /^proxy\.balancer: unknown algorithm "round_robbin"; expected one of .*round_robin/.test(
            err.message,
          ),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
