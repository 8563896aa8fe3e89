// Incremental zone transfer (RFC 1995) from the change history: a ZoneTransfers layer on real DNS
// listeners, its zones recompiled twice (as a zone change does through `zonesCompiled`), asked with
// kdig for IXFR from each serial. Also the history's limits and its refusal to diff zones with
// balanced names (their transferred answers are not fixed by the serial).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dnsSchema, type DnsConfig } from '../../../src/config/dns-schema.js';
import { ZoneSet } from '../../../src/dns/answer/zones.js';
import { SteeringEngine } from '../../../src/dns/steering/engine.js';
import { DnsListeners } from '../../../src/dns/transport/server.js';
import { ZoneHistory } from '../../../src/dns/xfer/history.js';
import { ZoneTransfers } from '../../../src/dns/xfer/service.js';
import { silentLogger } from '../../../src/infra/logger.js';
import { MemoryStateStore } from '../../../src/storage/memory/state-store.js';
import { kdig, type KdigRecord } from '../../helpers/kdig.js';

type Records = { name: string; type: string; values: string[] }[];

function config(serial: number, records: Records, balanced: { name: string }[] = []): DnsConfig {
  return dnsSchema.parse({
    zones: [
      {
        name: 'ixfr.test',
        ttl: 300,
        soa: { mname: 'ns1', rname: 'hostmaster', serial },
        ns: ['ns1'],
        records: [{ name: 'ns1', type: 'A', values: ['192.0.2.53'] }, ...records],
        balanced,
        transfer: { allow: ['127.0.0.1/32'] },
      },
    ],
  });
}

const V1: Records = [
  { name: 'a', type: 'A', values: ['192.0.2.1'] },
  { name: 'note', type: 'TXT', values: ['one'] },
];
const V2: Records = [
  { name: 'a', type: 'A', values: ['192.0.2.2'] },
  { name: 'b', type: 'A', values: ['192.0.2.3'] },
];
const V3: Records = [...V2, { name: '@', type: 'MX', values: ['10 a'] }];

/** "TYPE owner data" per record, SOAs as "SOA n" by serial. */
function shape(records: readonly KdigRecord[]): string[] {
  return records.map((r) =>
    r.type === 'SOA' ? `SOA ${r.data.split(/\s+/)[2]}` : `${r.type} ${r.name} ${r.data}`,
  );
}

describe('IXFR from the change history', () => {
  let dir: string;
  let store: MemoryStateStore;
  let listeners: DnsListeners;
  let target: { host: string; port: number };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meridian-ixfr-'));
    store = new MemoryStateStore({ file: join(dir, 'state.json') });
    await store.start();
    const first = config(1, V1);
    let zones = new ZoneSet(first.zones);
    const engine = new SteeringEngine({
      snapshot: () => store.current(),
      locator: undefined,
      steering: first.steering,
      startedAt: Date.now(),
    });
    const transfers = new ZoneTransfers({
      config: first,
      zones: () => zones,
      engine: () => engine,
      answer: () => undefined,
      logger: silentLogger,
    });
    for (const next of [config(2, V2), config(3, V3)]) {
      const compiled = new ZoneSet(next.zones);
      transfers.zonesCompiled(zones, compiled);
      zones = compiled;
    }
    listeners = await DnsListeners.start([{ host: '127.0.0.1', port: 0 }], {
      handler: (m, client, transport) => transfers.handle(m, client, transport),
      tcpMultiHandler: (m, client) => transfers.handleTcp(m, client),
      logger: silentLogger,
      tcpIdleTimeoutMs: 5000,
    });
    target = { host: '127.0.0.1', port: listeners.addresses().find((a) => a.transport === 'tcp')!.port };
  });
  after(async () => {
    await listeners.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends both changes from serial 1, in order (RFC 1995 §4)', async () => {
    const r = await kdig(target, ['IXFR=1', 'ixfr.test']);
    assert.equal(r.error, '', r.raw);
    assert.deepEqual(shape(r.records), [
      'SOA 3',
      'SOA 1',
      'A a.ixfr.test. 192.0.2.1',
      'TXT note.ixfr.test. "one"',
      'SOA 2',
      'A a.ixfr.test. 192.0.2.2',
      'A b.ixfr.test. 192.0.2.3',
      'SOA 2',
      'SOA 3',
      'MX ixfr.test. 10 a.ixfr.test.',
      'SOA 3',
    ]);
  });

  it('sends the last change from serial 2, one SOA at serial 3, the whole zone from an unknown serial', async () => {
    assert.deepEqual(shape((await kdig(target, ['IXFR=2', 'ixfr.test'])).records), [
      'SOA 3',
      'SOA 2',
      'SOA 3',
      'MX ixfr.test. 10 a.ixfr.test.',
      'SOA 3',
    ]);
    assert.deepEqual(shape((await kdig(target, ['IXFR=3', 'ixfr.test'])).records), ['SOA 3']);
    const full = shape((await kdig(target, ['IXFR=0', 'ixfr.test'])).records);
    assert.deepEqual(full, [
      'SOA 3',
      'NS ixfr.test. ns1.ixfr.test.',
      'MX ixfr.test. 10 a.ixfr.test.',
      'A ns1.ixfr.test. 192.0.2.53',
      'A a.ixfr.test. 192.0.2.2',
      'A b.ixfr.test. 192.0.2.3',
      'SOA 3',
    ]);
  });

  it('keeps no history for zones with balanced names, and drops the oldest diffs past its limit', () => {
    const withBalanced = new ZoneHistory();
    withBalanced.record(
      new ZoneSet(config(1, V1, [{ name: 'www' }]).zones),
      new ZoneSet(config(2, V2, [{ name: 'www' }]).zones),
    );
    assert.equal(withBalanced.since('ixfr.test', 1, 2), undefined);

    const small = new ZoneHistory({ diffs: 2, records: 1000 });
    const sets = [1, 2, 3, 4].map((serial) => new ZoneSet(config(serial, serial % 2 === 0 ? V2 : V1).zones));
    for (let i = 1; i < sets.length; i++) small.record(sets[i - 1]!, sets[i]!);
    assert.equal(small.since('ixfr.test', 1, 4), undefined, 'the 1→2 diff was dropped');
    assert.deepEqual(
      small.since('ixfr.test', 2, 4)?.map((d) => [d.fromSerial, d.toSerial]),
      [
        [2, 3],
        [3, 4],
      ],
    );
    assert.equal(small.since('ixfr.test', 2, 5), undefined, 'a chain must end at the current serial');
  });
});
