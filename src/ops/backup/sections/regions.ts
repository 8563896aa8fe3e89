// Backup section `regions`: every region of the state store, written back through the store's
// audited create/update/remove (the region's backends are their own section; removing a region
// removes its backends too).
import { invalid } from '../../../core/errors.js';
import type { Region, RegionPatch } from '../../../core/types.js';
import { reviveRegion } from '../../../storage/state-records.js';
import { storeContext, withoutTimes, type StateSection } from '../section.js';

function patchOf(r: Region): RegionPatch {
  const { id: _id, createdAt: _c, updatedAt: _u, country, continent, capacity, ...rest } = r;
  return {
    ...rest,
    ipv4: [...r.ipv4],
    ipv6: [...r.ipv6],
    labels: { ...r.labels },
    country: country ?? null,
    continent: continent ?? null,
    capacity: capacity ?? null,
  };
}

export const regionsSection: StateSection<Region> = {
  name: 'regions',
  rollback: true,
  noun: 'region',
  target: (r) => `region/${r.id}`,
  export: (stores) => Promise.resolve([...stores.state.current().regions.values()]),
  key: (r) => r.id,
  content: (r) => withoutTimes(r),
  validate: (value) => {
    if (typeof value !== 'object' || value === null) throw invalid('region', 'expected an object');
    return reviveRegion(value);
  },
  upsert: async (stores, r, existing, context) => {
    if (existing === undefined) {
      const { createdAt: _c, updatedAt: _u, capacity, ...input } = r;
      await stores.state.createRegion(
        {
          ...input,
          ipv4: [...r.ipv4],
          ipv6: [...r.ipv6],
          labels: { ...r.labels },
          ...(capacity === undefined ? {} : { capacity }),
        },
        storeContext(context),
      );
    } else await stores.state.updateRegion(r.id, patchOf(r), storeContext(context));
  },
  remove: (stores, r, context) => stores.state.removeRegion(r.id, storeContext(context)),
};
