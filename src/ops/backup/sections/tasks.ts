// Backup section `tasks`: the scheduled tasks (not their run history, locks or pending un-drains,
// which describe runs, not configuration), validated like a create body and written back audited
// as `task.create` / `task.update` / `task.remove`. The built-in retention task is not stored.
import { invalid } from '../../../core/errors.js';
import type { Task } from '../../../storage/task-store.js';
import { buildTask } from '../../task-input.js';
import { withoutTimes, type StateSection } from '../section.js';

function timestamp(value: unknown, field: string): string {
  if (typeof value !== 'string' || !Number.isFinite(Date.parse(value)))
    throw invalid(field, 'expected an RFC 3339 time');
  return value;
}

export const tasksSection: StateSection<Task> = {
  name: 'tasks',
  rollback: true,
  noun: 'task',
  target: (t) => `task/${t.id}`,
  export: (stores) => stores.tasks.list(),
  key: (t) => t.id,
  content: (t) => withoutTimes(t),
  validate: (value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw invalid('task', 'expected an object');
    const { createdAt, updatedAt, ...input } = value as Record<string, unknown>;
    const task = buildTask(input, new Date());
    return {
      ...task,
      createdAt: timestamp(createdAt, 'createdAt'),
      updatedAt: timestamp(updatedAt, 'updatedAt'),
    };
  },
  upsert: async (stores, t, existing, context) => {
    if (existing === undefined) await stores.tasks.create(t);
    else await stores.tasks.update(t);
    await context.audit({
      action: existing === undefined ? 'task.create' : 'task.update',
      target: `task/${t.id}`,
      ...(existing === undefined ? {} : { before: existing }),
      after: t,
    });
  },
  remove: async (stores, t, context) => {
    await stores.tasks.remove(t.id);
    await context.audit({ action: 'task.remove', target: `task/${t.id}`, before: t });
  },
};
