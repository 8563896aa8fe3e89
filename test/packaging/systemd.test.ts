// config/systemd/meridian.service as systemd itself reads it: `systemd-analyze verify` (syntax,
// directives, the ExecStart binary) on a copy whose ExecStart names an executable this test creates
// (verify refuses a binary that does not exist, and /usr/local/bin/meridian is not installed here),
// plus the hardening the unit promises, checked on the parsed directives and by
// `systemd-analyze security --offline`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT, tempDir } from '../helpers/meridian-process.js';

const UNIT = join(REPO_ROOT, 'config', 'systemd', 'meridian.service');
const ENV_FILE = join(REPO_ROOT, 'config', 'systemd', 'meridian.env');
const INSTALLED_BIN = '/usr/local/bin/meridian';

function systemdAnalyze(args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolveRun, reject) => {
    execFile('systemd-analyze', args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('systemd-analyze not found: install the Debian package systemd'));
        return;
      }
      resolveRun({ code: err === null ? 0 : Number(err.code ?? 1), output: `${stdout}${stderr}` });
    });
  });
}

/** Every `Key=value` line of the unit (comments and sections dropped); repeated keys keep each value. */
function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) out.set(m[1], [...(out.get(m[1]) ?? []), m[2]]);
  }
  return out;
}

/** A copy of the unit whose ExecStart runs an executable created here instead of the installed bin. */
function verifiableCopy(): string {
  const dir = tempDir('meridian-systemd-');
  const bin = join(dir, 'meridian');
  writeFileSync(bin, '#!/bin/sh\nexit 0\n');
  chmodSync(bin, 0o755);
  const text = readFileSync(UNIT, 'utf8');
  assert.ok(text.includes(`ExecStart=${INSTALLED_BIN} `), `ExecStart does not run ${INSTALLED_BIN}`);
  const path = join(dir, 'meridian.service');
  writeFileSync(path, text.replace(`ExecStart=${INSTALLED_BIN} `, `ExecStart=${bin} `));
  return path;
}

void describe('config/systemd/meridian.service', () => {
  const unit = directives(readFileSync(UNIT, 'utf8'));
  const one = (key: string): string | undefined => unit.get(key)?.at(-1);

  void it('passes systemd-analyze verify', async () => {
    const r = await systemdAnalyze(['verify', '--man=no', verifiableCopy()]);
    assert.equal(r.code, 0, r.output);
    assert.equal(r.output.trim(), '', `verify printed warnings:\n${r.output}`);
  });

  void it('runs meridian serve on /etc/meridian/meridian.yaml with the env file', () => {
    assert.equal(one('Type'), 'simple');
    assert.equal(one('ExecStart'), `${INSTALLED_BIN} serve --config /etc/meridian/meridian.yaml`);
    assert.equal(one('EnvironmentFile'), '-/etc/meridian/meridian.env');
    assert.equal(one('Restart'), 'on-failure');
    // The env file's state file lies in the one writable place the unit gives.
    assert.equal(one('StateDirectory'), 'meridian');
    assert.match(readFileSync(ENV_FILE, 'utf8'), /^MERIDIAN_STATE_FILE=\/var\/lib\/meridian\//m);
  });

  void it('binds port 53 with one capability as an unprivileged, confined user', () => {
    assert.equal(one('DynamicUser'), 'yes');
    assert.equal(one('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
    assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE');
    for (const [key, value] of [
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['NoNewPrivileges', 'yes'],
    ] as const) {
      assert.equal(one(key), value, key);
    }
  });

  void it('rates as well confined by systemd-analyze security', async () => {
    const r = await systemdAnalyze(['security', '--offline=yes', verifiableCopy()]);
    const m = /Overall exposure level for meridian\.service: ([\d.]+)/.exec(r.output);
    assert.ok(m?.[1] !== undefined, r.output);
    // 0 = fully confined, 10 = unconfined; systemd calls < 4 "OK". A node's JIT and sockets cost a bit.
    assert.ok(Number(m[1]) < 4, `exposure ${m[1]}:\n${r.output}`);
  });
});
