// The logger never repeats a key: nested components are joined (`dns.geo`), a rebound key takes the
// child's value once, a call's field clashing with a binding or the message is dropped or renamed
// (`call.<key>`), and children keep their parent's level and the redaction.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/infra/logger.js';

import { tempDir } from '../helpers/meridian-process.js';
import { assertJsonLines, duplicateKeys } from '../helpers/json-lines.js';
import { waitFor } from '../helpers/wait.js';

void describe('logger children', () => {
  void it('detects duplicate keys in raw JSON (the check the tests rely on)', () => {
    assert.deepEqual(duplicateKeys('{"a":1,"b":{"a":2},"c":"\\"a\\"","a":3}'), ['a']);
    assert.deepEqual(duplicateKeys('{"a":[{"x":1},{"x":2}],"b":"{\\"a\\":1}"}'), []);
  });

  void it('join nested components and print every key once', async () => {
    const file = join(tempDir('meridian-logger-'), 'log.json');
    const root = createLogger('debug', { destination: file }).child({ node: 'n1' });
    const dns = root.child({ component: 'dns', worker: 1 });
    const geo = dns.child({ component: 'geo' });
    geo.info('loaded');
    dns.child({ component: 'dns' }).info('same component');
    geo.child({ worker: 2 }).info('rebound');
    root.child({ component: 'api' }).child({ reqId: 'r1' }).warn({ token: 's3cret' }, 'redacted');
    const eu = root.child({ component: 'proxy', region: 'eu' });
    eu.warn({ region: 'eu', err: 'x' }, 'same value');
    eu.warn({ region: 'us' }, 'other value');
    eu.warn({ msg: 'inner' }, 'outer');
    dns.level = 'warn';
    dns.child({ component: 'rrl' }).info('below the inherited level');
    // The destination writes asynchronously: wait for the seven lines.
    const text = (): string => readFileSync(file, { encoding: 'utf8', flag: 'a+' });
    await waitFor('the log lines', () => text().split('\n').length > 7);
    const lines = assertJsonLines(text(), 'log file');
    assert.deepEqual(
      lines.map((l) => [l.msg, l.component, l.worker, l.node]),
      [
        ['loaded', 'dns.geo', 1, 'n1'],
        ['same component', 'dns', 1, 'n1'],
        ['rebound', 'dns.geo', 2, 'n1'],
        ['redacted', 'api', undefined, 'n1'],
        ['same value', 'proxy', undefined, 'n1'],
        ['other value', 'proxy', undefined, 'n1'],
        ['outer', 'proxy', undefined, 'n1'],
      ],
    );
    assert.equal(lines[4]?.region, 'eu');
    assert.equal(lines[5]?.region, 'eu');
    assert.equal(lines[5]?.['call.region'], 'us');
    assert.equal(lines[6]?.['call.msg'], 'inner');
    assert.equal(lines[3]?.token, '[redacted]');
    assert.equal(typeof lines[0]?.pid, 'number');
  });
});
