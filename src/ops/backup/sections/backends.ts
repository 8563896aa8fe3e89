// Backup section `backends`: every backend of every region, keyed `<region>/<backend>`, written
// back through the state store's audited writes. A backend needs its region (checked before a
// restore writes anything).
import type { Backend } from '../../../core/types.js';
import { reviveBackend } from '../../../storage/state-records.js';
import { storeContext, type StateSection } from '../section.js';

export const backendsSection: StateSection<Backend> = {
  name: 'backends',
  rollback: true,
  noun: 'backend',
  target: (b) => `backend/${b.regionId}/${b.id}`,
  export: (stores) =>
    Promise.resolve([...stores.state.current().backends.values()].flatMap((byId) => [...byId.values()])),
  key: (b) => `${b.regionId}/${b.id}`,
  content: (b) => ({ regionId: b.regionId, id: b.id, url: b.url, weight: b.weight, state: b.state }),
  validate: (value) => reviveBackend(value),
  references: (b) => [{ section: 'regions', key: b.regionId }],
  upsert: async (stores, b, existing, context) => {
    const fields = { url: b.url, weight: b.weight, state: b.state };
    if (existing === undefined)
      await stores.state.createBackend(b.regionId, { id: b.id, ...fields }, storeContext(context));
    else await stores.state.updateBackend(b.regionId, b.id, fields, storeContext(context));
  },
  remove: async (stores, b, context) => {
    // Removing its region already removed it.
    if (stores.state.current().backends.get(b.regionId)?.has(b.id) !== true) return;
    await stores.state.removeBackend(b.regionId, b.id, storeContext(context));
  },
};
