// Policies: WAF rules, rate limits, quotas and bandwidth limits — list with filters, add, edit,
// enable/disable, remove (confirmed), and bulk import from a YAML or JSON file through the same
// all-or-nothing validation the CLI uses (POST /v1/policies/import: one bad entry refuses the whole
// file, naming `policies[i].field`). Errors are shown next to the field they name. WAF matches
// counted on this node come from GET /v1/console/policy-hits.
import { act, api, confirmAction, el, every, pill, showFieldError } from './lib.js';

const TEMPLATES = {
  waf: {
    id: 'block-admin',
    type: 'waf',
    description: 'Block the admin path',
    scope: 'global',
    rules: [{ id: 'admin-path', target: 'path', pattern: '^/admin', action: 'block' }],
  },
  rate_limit: {
    id: 'per-ip',
    type: 'rate_limit',
    rate: 50,
    burst: 100,
    key: 'client_ip',
    mode: 'local',
    scope: 'global',
  },
  quota: {
    id: 'daily',
    type: 'quota',
    limit: 10000,
    period: 'day',
    key: 'header:x-api-key',
    scope: 'global',
  },
  bandwidth_limit: {
    id: 'per-ip-bw',
    type: 'bandwidth_limit',
    bytesPerSecond: 1048576,
    key: 'client_ip',
    scope: 'global',
  },
};

function summary(p) {
  switch (p.type) {
    case 'rate_limit':
      return `${p.rate}/s, burst ${p.burst}, by ${p.key} (${p.mode})`;
    case 'bandwidth_limit':
      return `${p.bytesPerSecond} B/s by ${p.key}`;
    case 'quota':
      return `${p.limit} per ${p.period} by ${p.key}`;
    case 'waf':
      return p.rules.map((r) => `${r.action} ${r.target} ~ ${r.pattern}`).join('; ');
    default:
      return '';
  }
}

export function render(main, { canWrite }) {
  const filters = el(
    'form.card.row',
    { 'aria-label': 'Filter policies', id: 'policy-filters' },
    el(
      'label',
      {},
      'Type',
      el(
        'select',
        { name: 'type' },
        el('option', { value: '', text: 'all' }),
        ...Object.keys(TEMPLATES).map((t) => el('option', { value: t, text: t })),
      ),
    ),
    el('label', {}, 'Region', el('input', { name: 'region', placeholder: 'in force in region' })),
    el(
      'label',
      {},
      'Enabled',
      el(
        'select',
        { name: 'enabled' },
        el('option', { value: '', text: 'any' }),
        el('option', { value: 'true', text: 'enabled' }),
        el('option', { value: 'false', text: 'disabled' }),
      ),
    ),
    el('label', {}, 'Client', el('input', { name: 'client', placeholder: 'IP or header:x-api-key' })),
    el('button', { type: 'submit', text: 'Filter' }),
  );
  const tbody = el('tbody');
  const filterError = el('p.field-error', { hidden: true, role: 'alert' });
  main.append(
    el('h1', { text: 'Policies' }),
    filters,
    filterError,
    el(
      'table',
      { id: 'policy-table' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...['Id', 'Type', 'Scope', 'State', 'What', 'WAF matches here', canWrite ? 'Actions' : ''].map(
            (h) => el(h.startsWith('WAF') ? 'th.num' : 'th', { scope: 'col', text: h }),
          ),
        ),
      ),
      tbody,
    ),
  );

  const editor = el('textarea', {
    name: 'policy',
    rows: 12,
    'data-field': 'body',
    'aria-label': 'Policy (JSON)',
    spellcheck: 'false',
  });
  const editorTitle = el('h2', { id: 'policy-editor-title', tabindex: -1, text: 'Add a policy' });
  let editing;
  const editorForm = el(
    'form.card',
    { 'aria-labelledby': 'policy-editor-title', id: 'policy-editor' },
    editorTitle,
    el(
      'div.row',
      {},
      el(
        'label',
        {},
        'Start from',
        el(
          'select',
          { name: 'template' },
          ...Object.keys(TEMPLATES).map((t) => el('option', { value: t, text: `${t} example` })),
        ),
      ),
    ),
    editor,
    el(
      'div.actions',
      {},
      el('button.primary', { type: 'submit', text: 'Save policy' }),
      el('button', { type: 'button', id: 'policy-new', text: 'New' }),
    ),
  );
  const startNew = (type = 'waf') => {
    editing = undefined;
    editorTitle.textContent = 'Add a policy';
    editor.value = JSON.stringify(TEMPLATES[type], null, 2);
    for (const old of editorForm.querySelectorAll('.field-error')) old.remove();
  };
  editorForm.elements.template.addEventListener('change', (e) => startNew(e.target.value));
  editorForm
    .querySelector('#policy-new')
    .addEventListener('click', () => startNew(editorForm.elements.template.value));
  editorForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    let body;
    try {
      body = JSON.parse(editor.value);
    } catch (err) {
      showFieldError(editorForm, { field: 'body', message: `not valid JSON: ${err.message}` }, editor);
      return;
    }
    const verb = editing === undefined ? 'Add' : 'Save';
    if (!(await confirmAction(`${verb} policy ${body.id ?? ''}?`, verb))) return;
    try {
      if (editing === undefined) await api('POST', '/v1/policies', body);
      else await api('PATCH', `/v1/policies/${editing}`, body);
      startNew(editorForm.elements.template.value);
      await refresh();
    } catch (err) {
      // Every policy error names its field (e.g. rules.0.pattern): shown right under the editor.
      showFieldError(editorForm, err, editor);
    }
  });
  startNew();

  const importFile = el('input', {
    type: 'file',
    name: 'file',
    accept: '.json,.yaml,.yml',
    'data-field': 'policies',
    required: true,
  });
  const importResult = el('p.muted', { role: 'status' });
  const importForm = el(
    'form.card',
    { 'aria-labelledby': 'import-title', id: 'policy-import' },
    el('h2', { id: 'import-title', text: 'Import policies from a file' }),
    el('p.muted', {
      text: 'A YAML or JSON list of policies (or {policies: [...]}), as `meridian policy import` takes. The whole file is checked first: one bad entry and nothing changes.',
    }),
    el(
      'div.row',
      {},
      el('label', {}, 'File', importFile),
      el('label', {}, 'Replace all', el('input', { type: 'checkbox', name: 'replace' })),
      el('button.primary', { type: 'submit', text: 'Import' }),
    ),
    importResult,
  );
  importForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const old of importForm.querySelectorAll('.field-error')) old.remove();
    importResult.textContent = '';
    const file = importFile.files[0];
    if (file === undefined) return;
    let doc;
    try {
      const YAML = await import('/console/yaml/index.js');
      doc = YAML.parse(await file.text());
    } catch (err) {
      showFieldError(
        importForm,
        { field: 'policies', message: `${file.name} is not valid YAML or JSON: ${err.message}` },
        importFile,
      );
      return;
    }
    const policies = Array.isArray(doc) ? doc : doc?.policies;
    if (!Array.isArray(policies)) {
      showFieldError(
        importForm,
        {
          field: 'policies',
          message: `${file.name}: expected a list of policies or a mapping with a "policies" list`,
        },
        importFile,
      );
      return;
    }
    const replace = importForm.elements.replace.checked;
    const what = replace
      ? `Replace every policy with the ${policies.length} in ${file.name}?`
      : `Import ${policies.length} policies from ${file.name}?`;
    if (!(await confirmAction(what, 'Import'))) return;
    try {
      const r = await api('POST', '/v1/policies/import', { policies, replace });
      importResult.textContent = `Imported: ${JSON.stringify(r)}`;
      await refresh();
    } catch (err) {
      showFieldError(importForm, err, importFile);
    }
  });

  const action = (p, verb, label, message) =>
    el(verb === 'remove' ? 'button.danger' : 'button', {
      type: 'button',
      'data-action': verb,
      'data-policy': p.id,
      text: label,
      onclick: async () => {
        if (verb === 'edit') {
          editing = p.id;
          editorTitle.textContent = `Edit policy ${p.id}`;
          editor.value = JSON.stringify(p, null, 2);
          for (const old of editorForm.querySelectorAll('.field-error')) old.remove();
          editorTitle.focus();
          return;
        }
        if (!(await confirmAction(message, label))) return;
        const ok = await act(`${label} ${p.id}: done`, () =>
          verb === 'remove'
            ? api('DELETE', `/v1/policies/${p.id}`)
            : api('POST', `/v1/policies/${p.id}/${verb}`),
        );
        if (ok) await refresh();
      },
    });

  const refresh = async () => {
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(filters)) if (v !== '') q.set(k, v);
    let list;
    try {
      list = await api('GET', `/v1/policies?${q}`);
      filterError.hidden = true;
    } catch (err) {
      filterError.hidden = false;
      filterError.textContent = `${err.field ?? 'filter'}: ${err.message}`;
      return;
    }
    const hits = await api('GET', '/v1/console/policy-hits');
    tbody.replaceChildren(
      ...list.policies.map((p) =>
        el(
          'tr',
          { 'data-policy': p.id },
          el('td', { text: p.id }),
          el('td', { text: p.type }),
          el('td', { text: p.scope }),
          el('td', {}, pill(p.enabled ? 'active' : 'disabled')),
          el('td', { text: summary(p) }, p.description ? el('div.muted', { text: p.description }) : null),
          el('td.num', {
            'data-hits': p.id,
            text: p.type === 'waf' ? String(hits.wafByPolicy[p.id] ?? 0) : '',
          }),
          el(
            'td',
            {},
            canWrite
              ? el(
                  'div.actions',
                  {},
                  action(p, 'edit', 'Edit'),
                  p.enabled
                    ? action(p, 'disable', 'Disable', `Disable policy ${p.id}?`)
                    : action(p, 'enable', 'Enable', `Enable policy ${p.id}?`),
                  action(p, 'remove', 'Remove', `Remove policy ${p.id}?`),
                )
              : null,
          ),
        ),
      ),
    );
    if (list.policies.length === 0)
      tbody.append(el('tr', {}, el('td.muted', { colspan: 7, text: 'No policies match.' })));
  };
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    void refresh();
  });
  if (canWrite) main.append(editorForm, importForm);
  return every(3000, refresh);
}
