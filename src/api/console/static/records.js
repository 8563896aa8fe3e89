// Audit, alerts and tasks: time-range and field filters, paging by the API's cursors (a stack of
// them for "Previous"), acknowledging an alert (recorded in the audit log as alert.acknowledge, so
// who acknowledged what and when is kept with every other change), and the scheduled tasks with
// enable/disable/remove and add.
import { act, api, confirmAction, el, fmtTime, fromLocalInput, pill, showFieldError } from './lib.js';

const PAGE = 25;

function input(label, attrs) {
  return el('label', {}, label, el('input', attrs));
}

/** A filterable, paged list over GET `path` (audit or alerts). */
function pagedList({ path, filterFields, columns, row, extra }) {
  const form = el(
    'form.card.row',
    { 'aria-label': 'Filters' },
    input('Since', { name: 'since', type: 'datetime-local', 'data-field': 'since' }),
    input('Until', { name: 'until', type: 'datetime-local', 'data-field': 'until' }),
    ...filterFields,
    el('button.primary', { type: 'submit', text: 'Show' }),
  );
  const tbody = el('tbody');
  const prev = el('button', { type: 'button', text: 'Previous page', disabled: true });
  const next = el('button', { type: 'button', text: 'Next page', disabled: true });
  const where = el('span.muted', { role: 'status' });
  const cursors = [];
  let cursor;
  let nextCursor;
  const load = async () => {
    const d = new FormData(form);
    const q = new URLSearchParams({ limit: String(PAGE) });
    for (const [k, v] of d) {
      const value = k === 'since' || k === 'until' ? fromLocalInput(v) : v;
      if (value !== undefined && value !== '') q.set(k, value);
    }
    if (cursor !== undefined) q.set('cursor', cursor);
    try {
      const [page, ctx] = await Promise.all([api('GET', `${path}?${q}`), extra?.()]);
      for (const old of form.querySelectorAll('.field-error')) old.remove();
      tbody.replaceChildren(...page.items.map((item) => row(item, ctx, load)));
      if (page.items.length === 0)
        tbody.append(
          el('tr', {}, el('td.muted', { colspan: columns.length, text: 'Nothing in this range.' })),
        );
      nextCursor = page.nextCursor;
      next.disabled = nextCursor === undefined;
      prev.disabled = cursors.length === 0;
      where.textContent = `page ${cursors.length + 1}`;
    } catch (err) {
      showFieldError(form, err, form.lastElementChild);
    }
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    cursors.length = 0;
    cursor = undefined;
    void load();
  });
  next.addEventListener('click', () => {
    cursors.push(cursor);
    cursor = nextCursor;
    void load();
  });
  prev.addEventListener('click', () => {
    cursor = cursors.pop();
    void load();
  });
  void load();
  return el(
    'div',
    {},
    form,
    el(
      'table',
      {},
      el('thead', {}, el('tr', {}, ...columns.map((h) => el('th', { scope: 'col', text: h })))),
      tbody,
    ),
    el('div.actions', {}, prev, next, where),
  );
}

function auditList() {
  return pagedList({
    path: '/v1/audit',
    filterFields: [
      input('Actor', { name: 'actor', 'data-field': 'actor' }),
      input('Target', { name: 'target', placeholder: 'region/eu-* ', 'data-field': 'target' }),
    ],
    columns: ['Time', 'Actor', 'Action', 'Target', 'Change'],
    row: (r) =>
      el(
        'tr',
        {},
        el('td', { text: fmtTime(r.time) }),
        el('td', { text: r.actor }),
        el('td', { text: r.action }),
        el('td', { text: r.target }),
        el(
          'td',
          {},
          r.after === undefined && r.before === undefined
            ? ''
            : el(
                'details',
                {},
                el('summary', { text: 'before / after' }),
                el('pre', { text: JSON.stringify({ before: r.before, after: r.after }, null, 2) }),
              ),
        ),
      ),
  });
}

function alertList(canWrite) {
  return pagedList({
    path: '/v1/alerts',
    filterFields: [
      el(
        'label',
        {},
        'Level',
        el(
          'select',
          { name: 'level', 'data-field': 'level' },
          el('option', { value: '', text: 'any' }),
          ...['info', 'warning', 'critical'].map((l) => el('option', { value: l, text: `${l} and above` })),
        ),
      ),
      input('Type', { name: 'type', placeholder: 'region-health,backend-health', 'data-field': 'type' }),
    ],
    columns: ['Time', 'Level', 'Type', 'Subject', 'Message', 'Acknowledged'],
    // Acknowledgements are audit entries alert.acknowledge on alert/<id>.
    extra: async () => {
      const acks = await api('GET', `/v1/audit?${new URLSearchParams({ target: 'alert/*', limit: '1000' })}`);
      const byAlert = new Map();
      for (const a of acks.items) if (a.action === 'alert.acknowledge') byAlert.set(a.target.slice(6), a);
      return byAlert;
    },
    row: (a, acks, reload) => {
      const ack = acks.get(a.id);
      return el(
        'tr',
        { 'data-alert': a.id },
        el('td', { text: fmtTime(a.time) }),
        el(
          'td',
          {},
          pill(a.level === 'critical' ? 'unhealthy' : a.level === 'warning' ? 'draining' : 'healthy'),
          ` ${a.level}`,
        ),
        el('td', { text: a.type }),
        el('td', { text: a.subject }),
        el('td', { text: a.message }),
        el(
          'td',
          {},
          ack !== undefined
            ? `${ack.actor}, ${fmtTime(ack.time)}`
            : canWrite
              ? el('button', {
                  type: 'button',
                  'data-action': 'acknowledge',
                  text: 'Acknowledge',
                  onclick: async () => {
                    if (!(await confirmAction(`Acknowledge alert "${a.message}"?`, 'Acknowledge'))) return;
                    if (
                      await act('Alert acknowledged', () =>
                        api('POST', `/v1/alerts/${encodeURIComponent(a.id)}/acknowledge`),
                      )
                    )
                      await reload();
                  },
                })
              : 'no',
        ),
      );
    },
  });
}

function taskList(canWrite) {
  const tbody = el('tbody');
  const load = async () => {
    const { tasks } = await api('GET', '/v1/tasks');
    const button = (t, verb, label, message) =>
      el(verb === 'remove' ? 'button.danger' : 'button', {
        type: 'button',
        'data-action': verb,
        text: label,
        onclick: async () => {
          if (!(await confirmAction(message, label))) return;
          if (
            await act(`${label} ${t.id}: done`, () =>
              verb === 'remove'
                ? api('DELETE', `/v1/tasks/${t.id}`)
                : api('POST', `/v1/tasks/${t.id}/${verb}`),
            )
          )
            await load();
        },
      });
    tbody.replaceChildren(
      ...tasks.map(({ task: t, builtin, lastRun, nextRunAt }) =>
        el(
          'tr',
          { 'data-task': t.id },
          el('td', { text: t.id }, builtin ? el('div.muted', { text: 'built in' }) : null),
          el('td', {}, pill(t.enabled ? 'active' : 'disabled')),
          el(
            'td',
            { text: `${t.cron}${t.timezone ? ` (${t.timezone})` : ''}` },
            nextRunAt ? el('div.muted', { text: `next ${fmtTime(nextRunAt)}` }) : null,
          ),
          el('td', {
            text: t.action === 'drain-region' ? `drain ${t.region} for ${t.durationMinutes} min` : t.action,
          }),
          el('td', {
            text:
              lastRun === undefined
                ? ''
                : `${lastRun.result} ${fmtTime(lastRun.scheduledAt)}${lastRun.message ? `: ${lastRun.message}` : ''}`,
          }),
          el(
            'td',
            {},
            canWrite && !builtin
              ? el(
                  'div.actions',
                  {},
                  t.enabled
                    ? button(t, 'disable', 'Disable', `Disable task ${t.id}?`)
                    : button(t, 'enable', 'Enable', `Enable task ${t.id}?`),
                  button(t, 'remove', 'Remove', `Remove task ${t.id}?`),
                )
              : null,
          ),
        ),
      ),
    );
    if (tasks.length === 0)
      tbody.append(el('tr', {}, el('td.muted', { colspan: 6, text: 'No scheduled tasks.' })));
  };
  const editor = el('textarea', {
    rows: 6,
    'data-field': 'body',
    'aria-label': 'Task (JSON)',
    spellcheck: 'false',
  });
  editor.value = JSON.stringify(
    {
      id: 'nightly-drain',
      cron: '0 2 * * *',
      action: 'drain-region',
      region: 'eu-west',
      durationMinutes: 60,
    },
    null,
    2,
  );
  const form = el(
    'form.card',
    { 'aria-label': 'Add a task' },
    el('h2', { text: 'Add a task' }),
    editor,
    el('button.primary', { type: 'submit', text: 'Add task' }),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let body;
    try {
      body = JSON.parse(editor.value);
    } catch (err) {
      showFieldError(form, { field: 'body', message: `not valid JSON: ${err.message}` }, editor);
      return;
    }
    if (!(await confirmAction(`Add task ${body.id ?? ''}?`, 'Add'))) return;
    try {
      await api('POST', '/v1/tasks', body);
      for (const old of form.querySelectorAll('.field-error')) old.remove();
      await load();
    } catch (err) {
      showFieldError(form, err, editor);
    }
  });
  void load();
  return el(
    'div',
    {},
    el(
      'table',
      {},
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...['Task', 'State', 'When', 'What', 'Last run', ''].map((h) =>
            el('th', { scope: 'col', text: h }),
          ),
        ),
      ),
      tbody,
    ),
    canWrite ? form : null,
  );
}

export function render(main, { canWrite }) {
  const panel = el('div', { role: 'tabpanel', id: 'records-panel' });
  const tabs = {
    audit: () => auditList(),
    alerts: () => alertList(canWrite),
    tasks: () => taskList(canWrite),
  };
  const buttons = Object.keys(tabs).map((name) =>
    el('button', {
      type: 'button',
      role: 'tab',
      'aria-controls': 'records-panel',
      'data-tab': name,
      text: name[0].toUpperCase() + name.slice(1),
      onclick: () => show(name),
    }),
  );
  const show = (name) => {
    for (const b of buttons) b.setAttribute('aria-selected', String(b.dataset.tab === name));
    panel.replaceChildren(tabs[name]());
  };
  main.append(
    el('h1', { text: 'Audit, alerts and tasks' }),
    el('div.tabs', { role: 'tablist' }, ...buttons),
    panel,
  );
  show('audit');
}
