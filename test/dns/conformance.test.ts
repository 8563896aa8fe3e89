// Runs the shared conformance checker (../shared/tools/dns-conformance.sh, 36 checks, ~10 s)
// against a live responder and requires 0 failures. A missing tool or dig fails the test. From a git
// worktree elsewhere, DNS_CONFORMANCE_TOOL names the checker's path.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO, startFixture, type Fixture } from './fixture.js';

const TOOL = process.env.DNS_CONFORMANCE_TOOL ?? join(REPO, '../shared/tools/dns-conformance.sh');

function run(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [TOOL, host, String(port), 'example.test', 'www.example.test'],
      { timeout: 90_000 },
      (err, stdout, stderr) => {
        if (err !== null) reject(new Error(`${err.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

void describe('shared conformance checks', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture();
  });
  after(async () => {
    await f?.close();
  });

  for (const family of ['v4', 'v6'] as const) {
    void it(
      `passes every check over ${family === 'v4' ? '127.0.0.1' : '::1'}`,
      { timeout: 90_000 },
      async () => {
        assert.ok(existsSync(TOOL), `conformance tool missing at ${TOOL}`);
        const target = f[family];
        const out = await run(target.host, target.port);
        const fails = out.split('\n').filter((l) => l.startsWith('FAIL'));
        assert.deepEqual(fails, [], out);
        assert.match(out, /^\d+ passed, 0 failed$/m);
        assert.match(out, /^PASS\s+tc-bit/m, 'the TC check must be testable with this zone');
      },
    );
  }
});
