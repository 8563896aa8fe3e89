// A real Knot secondary (knotd) kept in sync with Meridian: it loads the zone by AXFR signed with a
// TSIG key, then — after Meridian restarts with a bumped serial and a changed record — receives our
// signed NOTIFY and transfers again (its SOA refresh timer is an hour, so only the NOTIFY can explain
// the update within the test); and a record changed in the zone store, with no restart, reaches it
// by NOTIFY and a transfer (the store bumps the serial). Checked with kdig against the secondary.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pickFreePort } from '../../../src/dns/transport/server.js';
import { startFixture, testDnsConfig, type Fixture } from '../fixture.js';
import { kdig } from '../../helpers/kdig.js';
import { startKnotSecondary, type KnotSecondary } from '../../helpers/knot.js';
import { waitFor } from '../../helpers/wait.js';
import { replaceRecord } from '../../../src/storage/zone-store.js';

const KEY = { name: 'xfer-key', secret: Buffer.alloc(32, 5).toString('base64') };

function config(
  primaryPort: number,
  secondaryPort: number,
  serial: number,
  mail: string,
): ReturnType<typeof testDnsConfig> {
  const base = testDnsConfig().zones[0]!;
  return testDnsConfig({
    listen: [`127.0.0.1:${primaryPort}`, '[::1]:0'],
    tsigKeys: [{ name: KEY.name, algorithm: 'hmac-sha256', secret: KEY.secret }],
    transfer: { defaultClient: '2001:db8:1::1', notifyRetryMs: 200 },
    zones: [
      {
        ...base,
        soa: { ...base.soa, serial },
        records: base.records.map((r) => (r.name === 'mail' ? { ...r, values: [mail] } : r)),
        transfer: { allow: ['127.0.0.1/32'], notify: [`127.0.0.1:${secondaryPort}`], tsigKey: KEY.name },
      },
    ],
  });
}

describe('Knot secondary: AXFR with TSIG, then NOTIFY on a serial change', () => {
  let primary: Fixture | undefined;
  let knot: KnotSecondary | undefined;
  let primaryPort = 0;
  let secondary = { host: '127.0.0.1', port: 0 };

  before(async () => {
    primaryPort = await pickFreePort('127.0.0.1');
    secondary = { host: '127.0.0.1', port: await pickFreePort('127.0.0.1') };
    primary = await startFixture({ config: config(primaryPort, secondary.port, 100, '192.0.2.25') });
    knot = await startKnotSecondary({ port: secondary.port, zone: 'example.test', primaryPort, key: KEY });
  });
  after(async () => {
    await knot?.close();
    await primary?.close();
  });

  const serialAtSecondary = async (): Promise<number | undefined> => {
    const r = await kdig(secondary, ['+notcp', 'example.test', 'SOA']);
    const soa = r.records.find((x) => x.type === 'SOA');
    return soa === undefined ? undefined : Number(soa.data.split(/\s+/)[2]);
  };

  it('loads the zone by AXFR, balanced names as the default client sees them', async () => {
    await waitFor('the secondary to load serial 100', async () => (await serialAtSecondary()) === 100, {
      timeoutMs: 20_000,
    });
    const mail = await kdig(secondary, ['+notcp', 'mail.example.test', 'A']);
    assert.deepEqual(
      mail.records.filter((x) => x.type === 'A').map((x) => x.data),
      ['192.0.2.25'],
    );
    // 2001:db8:1::1 locates to the "eu" region in the test geo database.
    const www = await kdig(secondary, ['+notcp', 'www.example.test', 'A']);
    assert.deepEqual(
      www.records.filter((x) => x.type === 'A').map((x) => x.data),
      ['192.0.2.10'],
    );
    const mx = await kdig(secondary, ['+notcp', 'example.test', 'MX']);
    assert.deepEqual(
      mx.records.filter((x) => x.type === 'MX').map((x) => x.data),
      ['10 mail.example.test.'],
    );
    assert.match(knot!.log(), /AXFR, incoming, remote 127\.0\.0\.1@\d+, finished/);
  });

  it('re-transfers after our NOTIFY when the serial changes', async () => {
    await primary!.close();
    primary = undefined;
    primary = await startFixture({ config: config(primaryPort, secondary.port, 101, '192.0.2.26') });
    await waitFor('the secondary to load serial 101', async () => (await serialAtSecondary()) === 101, {
      timeoutMs: 20_000,
    });
    const mail = await kdig(secondary, ['+notcp', 'mail.example.test', 'A']);
    assert.deepEqual(
      mail.records.filter((x) => x.type === 'A').map((x) => x.data),
      ['192.0.2.26'],
    );
    assert.match(knot!.log(), /notify, incoming, remote 127\.0\.0\.1@\d+, serial 101/);
  });

  it('follows a change made in the zone store, by NOTIFY and a transfer, without a restart', async () => {
    const changed = await primary!.zones.change('example.test', (z) =>
      replaceRecord(z, { name: 'mail', type: 'A', values: ['192.0.2.27'] }),
    );
    const serial = changed.soa.serial;
    assert.ok(serial > 101, `the store bumped the serial (${serial})`);
    await waitFor(
      `the secondary to load serial ${serial}`,
      async () => (await serialAtSecondary()) === serial,
      {
        timeoutMs: 20_000,
      },
    );
    const mail = await kdig(secondary, ['+notcp', 'mail.example.test', 'A']);
    assert.deepEqual(
      mail.records.filter((x) => x.type === 'A').map((x) => x.data),
      ['192.0.2.27'],
    );
    // A zone with balanced names answers IXFR in AXFR form (xfer/history.ts says why).
    assert.match(knot!.log(), new RegExp(`notify, incoming, remote 127\\.0\\.0\\.1@\\d+, serial ${serial}`));
    assert.match(knot!.log(), new RegExp(`zone updated, .*serial 101 -> ${serial}`));
  });
});
