// Names, labels and descriptions refuse control characters and terminal escapes (C0, DEL, C1) with
// an error naming the field, in the shared validator (CLI, API, stores) and the policy schema; and
// the CLI's formatting escapes whatever such characters older records still hold.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMeridianError } from '../../src/core/errors.js';
import {
  escapeControlCharacters,
  validateRegionInput,
  validateRegionPatch,
} from '../../src/core/validate.js';
import { parsePolicy } from '../../src/config/policy-schema.js';
import { formatRegions, formatTable, terminalJson, terminalSafe } from '../../src/cli/format.js';
import type { Region } from '../../src/core/types.js';

const ESC = '\u001b';
const CSI8 = '\u009b';
/** Any raw C0 (but LF), DEL or C1 character: what must never reach a terminal unescaped. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

const region = (extra: Record<string, unknown>) => ({
  id: 'eu',
  lat: 1,
  lon: 2,
  ipv4: ['192.0.2.1'],
  ...extra,
});

function rejects(fn: () => unknown, field: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isMeridianError(err), String(err));
    assert.equal(err.code, 'E_VALIDATION');
    assert.equal(err.field, field);
    assert.match(err.message, message);
    return true;
  });
}

void describe('control characters in names and labels', () => {
  void it('are refused in a region name, with the field and the character named', () => {
    rejects(() => validateRegionInput(region({ name: `Paris${ESC}[2J` })), 'name', /U\+001B at position 5/);
    rejects(() => validateRegionPatch({ name: `x${CSI8}31m` }), 'name', /U\+009B/);
    rejects(() => validateRegionPatch({ name: 'tab\there' }), 'name', /U\+0009/);
    rejects(() => validateRegionPatch({ name: 'del\u007f' }), 'name', /U\+007F/);
    rejects(() => validateRegionPatch({ name: 'line\nbreak' }), 'name', /U\+000A/);
  });

  void it('are refused in label values and keys; the key is shown escaped', () => {
    rejects(
      () => validateRegionInput(region({ labels: { team: `a${ESC}]0;pwned\u0007` } })),
      'labels.team',
      /U\+001B/,
    );
    rejects(() => validateRegionPatch({ labels: { [`k${ESC}`]: 'v' } }), 'labels.k\\x1b', /label keys/);
    rejects(() => validateRegionPatch({ [`evil${ESC}`]: 1 }), 'evil\\x1b', /unknown field/);
  });

  void it('leave printable text alone, accents and emoji included', () => {
    const r = validateRegionInput(region({ name: 'Zürich — Nord 🇨🇭', labels: { team: 'édge/ops' } }));
    assert.equal(r.name, 'Zürich — Nord 🇨🇭');
  });

  void it('are refused in a policy description, naming the field', () => {
    const policy = { id: 'p1', type: 'rate_limit', rate: 10, burst: 20, key: 'client_ip' };
    assert.equal(
      parsePolicy({ ...policy, description: 'Shop — per client' }).description,
      'Shop — per client',
    );
    rejects(() => parsePolicy({ ...policy, description: `x${ESC}[31m` }), 'description', /U\+001B/);
  });
});

void describe('CLI output of records that hold control characters', () => {
  const old: Region = {
    id: 'eu',
    name: `Paris${ESC}[2J${CSI8}1m\r`,
    lat: 1,
    lon: 2,
    ipv4: ['192.0.2.1'],
    ipv6: [],
    weight: 100,
    state: 'active',
    labels: { team: `ops\u0007` },
    requireHealth: false,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };

  void it('escapes them in tables, key/value blocks, JSON and raw text', () => {
    const table = formatRegions([old]);
    assert.doesNotMatch(table, RAW_CONTROL);
    assert.match(table, /Paris\\x1b\[2J\\x9b1m\\r/);
    assert.match(table, /team=ops\\x07/);
    assert.doesNotMatch(formatTable(['A'], [['a\nb']]), /a\nb/, 'a line break in a cell stays in its row');
    const json = terminalJson(old);
    assert.doesNotMatch(json, RAW_CONTROL);
    assert.deepEqual(JSON.parse(json), old, 'still the same JSON');
    assert.equal(terminalSafe(`one${ESC}c\ntwo\n`), 'one\\x1bc\ntwo\n');
    assert.equal(escapeControlCharacters('a\tb'), 'a\\tb');
  });
});
