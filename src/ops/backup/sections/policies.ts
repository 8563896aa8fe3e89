// Backup section `policies`: every traffic policy (rate limits, quotas, WAF rules, …), validated by
// the policy store's own parser and written back one at a time (import without replace), each
// write audited as `policy.create` / `policy.update` / `policy.remove`.
import type { Policy } from '../../../storage/policy-store.js';
import { validateBatch } from '../../../storage/policy-store.js';
import { type StateSection } from '../section.js';

export const policiesSection: StateSection<Policy> = {
  name: 'policies',
  rollback: true,
  noun: 'policy',
  target: (p) => `policy/${p.id}`,
  export: async (stores) => [...(await stores.policies.exportAll())],
  key: (p) => p.id,
  content: (p) => p,
  validate: (value) => {
    const [policy] = validateBatch([value]);
    if (policy === undefined) throw new Error('unreachable: a one-entry batch validated to nothing');
    return policy;
  },
  upsert: async (stores, p, existing, context) => {
    await stores.policies.importBatch([p]);
    await context.audit({
      action: existing === undefined ? 'policy.create' : 'policy.update',
      target: `policy/${p.id}`,
      ...(existing === undefined ? {} : { before: existing }),
      after: p,
    });
  },
  remove: async (stores, p, context) => {
    await stores.policies.remove(p.id);
    await context.audit({ action: 'policy.remove', target: `policy/${p.id}`, before: p });
  },
};
