// Backup section `zones`: every DNS zone of the zone store (SOA fields, name servers, static
// records, balanced names, transfer settings, DNSSEC keys as stored: sealed), validated by the zone
// rules and written back through the store's create/change/remove, each write audited as
// `zone.create` / `zone.update` / `zone.remove` without the keys' private halves (zoneView). The serial is not content: the store moves it forward on every write, so a
// restored zone serves a serial above the one secondaries hold and they transfer it again. Not
// rolled back from history: record and balanced-name edits are audited per record, not as whole
// zones, so only backups restore zones.
import { parseZone } from '../../../config/zone-rules.js';
import { zoneView, type ZoneConfig } from '../../../storage/zone-store.js';
import type { StateSection } from '../section.js';

function withoutSerial(z: ZoneConfig): unknown {
  const { serial: _serial, ...soa } = z.soa;
  return { ...z, soa };
}

export const zonesSection: StateSection<ZoneConfig> = {
  name: 'zones',
  rollback: false,
  noun: 'zone',
  target: (z) => `zone/${z.name}`,
  export: (stores) => Promise.resolve([...stores.zones.current()]),
  key: (z) => z.name,
  content: withoutSerial,
  validate: (value) => parseZone(value),
  upsert: async (stores, z, existing, context) => {
    if (existing === undefined) {
      const created = await stores.zones.create(z);
      await context.audit({ action: 'zone.create', target: `zone/${z.name}`, after: zoneView(created) });
      return;
    }
    // The stored serial goes in: the store bumps it past itself (never backwards).
    const after = await stores.zones.change(z.name, () => ({
      ...structuredClone(z),
      soa: { ...structuredClone(z.soa), serial: existing.soa.serial },
    }));
    await context.audit({
      action: 'zone.update',
      target: `zone/${z.name}`,
      before: zoneView(existing),
      after: zoneView(after),
    });
  },
  remove: async (stores, z, context) => {
    await stores.zones.remove(z.name);
    await context.audit({ action: 'zone.remove', target: `zone/${z.name}`, before: zoneView(z) });
  },
};
