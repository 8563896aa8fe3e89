// `meridian autoscale status [--json]` and GET /v1/autoscale against a real `meridian serve` with a
// dry-run policy (a region with fewer backends than its minimum: the decision is a scale-up to the
// minimum, shown and audited, the actuator never called); a bad actuator block refuses the start.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { AutoscaleStatus } from '../../src/ops/autoscale/service.js';
import {
  runCli,
  startMeridian,
  tempDir,
  writeTestConfig,
  type MeridianProcess,
} from '../helpers/meridian-process.js';
import { waitFor } from '../helpers/wait.js';

const BOOT = 'cli-autoscale-token-123';

const policy = (actuator: Record<string, unknown>): Record<string, unknown> => ({
  region: 'eu-west',
  metric: 'inFlightPerBackend',
  target: 20,
  min: 2,
  max: 6,
  intervalSeconds: 0.2,
  dryRun: true,
  actuator,
});

describe('meridian autoscale status', () => {
  const dir = tempDir('meridian-cli-autoscale-');
  let node: MeridianProcess;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    const config = writeTestConfig(dir, (doc) => {
      doc.dns = { ...doc.dns, enabled: false };
      // Nothing listens there: a dry run must never call it.
      doc.autoscale = { regions: [policy({ type: 'webhook', url: 'http://127.0.0.1:9/scale' })] };
    });
    node = await startMeridian(config, { MERIDIAN_API_TOKEN: BOOT });
    env = { MERIDIAN_API_URL: node.apiUrl, MERIDIAN_API_TOKEN: BOOT };
  });

  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  void it('shows the policy, the dry-run decision with its reasons, and the same as JSON', async () => {
    const status = await waitFor('a first decision', async () => {
      const r = await runCli(['autoscale', 'status', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout) as AutoscaleStatus;
      return s.regions[0]?.last !== undefined && s;
    });
    assert.equal(status.deciding, true);
    const region = status.regions[0];
    assert.equal(region?.region, 'eu-west');
    assert.equal(region?.actuator, 'webhook');
    assert.equal(region?.dryRun, true);
    assert.equal(region?.last?.action, 'scale-up');
    assert.equal(region?.last?.desired, 2);
    assert.deepEqual(region?.last?.reasons, ['0 backend(s) is below the minimum of 2']);
    assert.equal(region?.last?.actuator?.result, 'dry-run');
    assert.ok((region?.cooldownLeftMs.up ?? 0) > 0);

    const text = await runCli(['autoscale', 'status'], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /REGION\s+METRIC\s+TARGET\s+MIN-MAX\s+CURRENT\s+DESIRED/);
    assert.match(text.stdout, /eu-west\s+inFlightPerBackend\s+20\s+2-6\s+0\s+2\s+scale-up 0→2/);
    assert.match(text.stdout, /webhook \(dry run\)\s+dry-run/);
    assert.match(text.stdout, /- 0 backend\(s\) is below the minimum of 2/);
    assert.match(text.stdout, /this node \(.+\) decides autoscaling/);

    const audit = await runCli(['audit', '--target', 'region/eu-west', '--json'], env);
    const items = (JSON.parse(audit.stdout) as { items: { action: string; actor: string }[] }).items;
    assert.ok(items.some((i) => i.action === 'autoscale.scale-up' && i.actor.startsWith('autoscaler:')));
  });

  void it('needs a token, like every read', async () => {
    const r = await runCli(['autoscale', 'status'], { MERIDIAN_API_URL: node.apiUrl });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /HTTP 401/);
  });

  void it('refuses to start with a bad actuator block, naming the field', async () => {
    const bad = tempDir('meridian-autoscale-bad-');
    try {
      const config = writeTestConfig(bad, (doc) => {
        doc.dns = { ...doc.dns, enabled: false };
        doc.autoscale = { regions: [policy({ type: 'webhook', url: 'ftp://x' })] };
      });
      const r = await runCli(['serve', '--config', config]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /autoscale\.regions\[0\]\.actuator\.url: expected an http\(s\) URL/);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});
