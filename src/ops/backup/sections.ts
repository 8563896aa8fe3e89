// The registry of state sections: everything a backup holds, in the order a restore writes it
// (a section's records may reference the sections above it: backends → regions, tokens → users;
// removals run in the reverse order). A new store joins backups, restores, history and rollback
// with one file in sections/ and one line here.
import { backendsSection } from './sections/backends.js';
import { policiesSection } from './sections/policies.js';
import { regionsSection } from './sections/regions.js';
import { tasksSection } from './sections/tasks.js';
import { tokensSection } from './sections/tokens.js';
import { usersSection } from './sections/users.js';
import { zonesSection } from './sections/zones.js';
import type { StateSection } from './section.js';

export const STATE_SECTIONS: readonly StateSection[] = [
  regionsSection,
  backendsSection,
  zonesSection,
  policiesSection,
  tasksSection,
  usersSection,
  tokensSection,
];
