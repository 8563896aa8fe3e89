// An answering unit following the zone store (runtime.ts setZones + zone-follow.ts, as index.ts
// and the cluster workers use them): static answers are served from the answer cache, and after a
// record changes in the store the very next query gets the new data, never the cached old reply.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EMPTY_SNAPSHOT } from '../../src/core/types.js';
import { createRuntime } from '../../src/dns/runtime.js';
import { followZones } from '../../src/dns/zone-follow.js';
import { silentLogger } from '../../src/infra/logger.js';
import { MemoryZoneStore } from '../../src/storage/memory/zone-store.js';
import { replaceRecord } from '../../src/storage/zone-store.js';
import { testDnsConfig } from './fixture.js';

/** A plain A query for `name` (no EDNS). */
function aQuery(id: number, name: string): Buffer {
  const qname = Buffer.concat([
    ...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, qname, Buffer.from([0, 1, 0, 1])]);
}

const CLIENT = Uint8Array.from([192, 0, 2, 1]);

describe('zones followed from the store', () => {
  it('answers from the answer cache, and never the cached reply after a change', async () => {
    const config = testDnsConfig({ geo: undefined });
    const zones = new MemoryZoneStore();
    assert.equal(await zones.seed(config.zones), 1);
    const runtime = await createRuntime({
      config,
      zones: zones.current(),
      geoPaths: [],
      snapshot: () => EMPTY_SNAPSHOT,
      logger: silentLogger,
      registries: [],
      startedAt: Date.now(),
      serving: false,
    });
    const stop = followZones(zones, zones.current(), (z) => runtime.setZones(z), silentLogger);
    try {
      const ask = (id: number): Buffer => {
        const reply = runtime.responder.handle(aQuery(id, 'mail.example.test'), CLIENT, 'udp');
        assert.ok(reply !== undefined);
        return reply;
      };
      for (let id = 1; id <= 3; id++) assert.ok(ask(id).includes(Buffer.from([192, 0, 2, 25])));
      assert.ok(
        runtime.responder.answerCacheStats().hits >= 1,
        'the repeated static answer came from the cache',
      );

      await zones.change('example.test', (z) =>
        replaceRecord(z, { name: 'mail', type: 'A', values: ['192.0.2.26'] }),
      );
      const fresh = ask(4);
      assert.ok(fresh.includes(Buffer.from([192, 0, 2, 26])), 'the new address');
      assert.ok(!fresh.includes(Buffer.from([192, 0, 2, 25])), 'not the cached old one');
      for (let id = 5; id <= 7; id++) ask(id);
      assert.ok(runtime.responder.answerCacheStats().hits >= 1, 'the new answer is cached again');
    } finally {
      stop();
      await runtime.close();
    }
  });
});
