// Regions and backends: the `meridian status` table, per-backend health with the reasons reporters
// give, add/drain/undrain/remove (each confirmed), and the explain box (`meridian explain`).
import { act, api, confirmAction, el, every, pill, showFieldError } from './lib.js';

function field(label, attrs) {
  return el('label', {}, label, el('input', attrs));
}

function list(text) {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function render(main, { canWrite }) {
  const tbody = el('tbody');
  const detail = el('div', { id: 'region-detail' });
  let selected;
  main.append(
    el('h1', { text: 'Regions and backends' }),
    el(
      'table',
      { id: 'status-table' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...[
            'Region',
            'Name',
            'State',
            'Health',
            'Weight',
            'Capacity',
            'Backends healthy / total',
            'In flight',
          ].map((h, i) => el(i >= 4 ? 'th.num' : 'th', { scope: 'col', text: h })),
          el('th', { scope: 'col', text: canWrite ? 'Actions' : '' }),
        ),
      ),
      tbody,
    ),
  );

  const regionAction = (r, verb, message) =>
    el(verb === 'remove' ? 'button.danger' : 'button', {
      type: 'button',
      'data-action': verb,
      'data-region': r.id,
      text: verb[0].toUpperCase() + verb.slice(1),
      onclick: async () => {
        if (!(await confirmAction(message, verb[0].toUpperCase() + verb.slice(1)))) return;
        const ok = await act(`${verb} ${r.id}: done`, () =>
          verb === 'remove'
            ? api('DELETE', `/v1/regions/${r.id}`)
            : api('POST', `/v1/regions/${r.id}/${verb}`),
        );
        if (ok) await refresh();
      },
    });

  const refresh = async () => {
    const status = await api('GET', '/v1/status');
    tbody.replaceChildren(
      ...status.regions.map((r) =>
        el(
          'tr',
          { 'data-region': r.id },
          el('td', {}, el('button.link', { type: 'button', text: r.id, onclick: () => showDetail(r.id) })),
          el('td', { text: r.name }),
          el('td', {}, pill(r.state)),
          el('td', {}, pill(r.health.status)),
          el('td.num', { text: r.weight }),
          el('td.num', { text: r.capacity ?? '' }),
          el('td.num', { text: `${r.backends.healthy ?? '?'} / ${r.backends.total}` }),
          el('td.num', { text: r.inFlight }),
          el(
            'td',
            {},
            canWrite
              ? el(
                  'div.actions',
                  {},
                  r.state === 'draining'
                    ? regionAction(r, 'undrain', `Undrain region ${r.id}? DNS will send clients to it again.`)
                    : regionAction(r, 'drain', `Drain region ${r.id}? DNS stops answering with it.`),
                  regionAction(
                    r,
                    'remove',
                    `Remove region ${r.id} and all its backends? This cannot be undone.`,
                  ),
                )
              : null,
          ),
        ),
      ),
    );
    if (selected !== undefined) await showDetail(selected, false);
  };

  const backendAction = (regionId, b, verb, message) =>
    el(verb === 'remove' ? 'button.danger' : 'button', {
      type: 'button',
      'data-action': verb,
      'data-backend': b.backendId,
      text: verb[0].toUpperCase() + verb.slice(1),
      onclick: async () => {
        if (!(await confirmAction(message, verb[0].toUpperCase() + verb.slice(1)))) return;
        const path = `/v1/regions/${regionId}/backends/${b.backendId}`;
        const ok = await act(`${verb} ${b.backendId}: done`, () =>
          verb === 'remove' ? api('DELETE', path) : api('POST', `${path}/${verb}`),
        );
        if (ok) await showDetail(regionId, false);
      },
    });

  async function showDetail(regionId, focus = true) {
    selected = regionId;
    let health;
    try {
      health = await api('GET', `/v1/regions/${regionId}/health`);
    } catch (err) {
      if (err.status === 404) {
        selected = undefined;
        detail.replaceChildren();
        return;
      }
      throw err;
    }
    const rows = health.backends.map((b) =>
      el(
        'tr',
        { 'data-backend': b.backendId },
        el('td', { text: b.backendId }),
        el('td', { text: b.url ?? '(not registered)' }),
        el('td', {}, b.state ? pill(b.state) : ''),
        el('td', {}, pill(b.healthy === null ? 'unreported' : b.healthy ? 'healthy' : 'unhealthy')),
        el('td.num', { text: `${b.healthyVotes} / ${b.reporters}` }),
        el('td', { text: b.reasons.map((x) => `${x.reporterId}: ${x.reason}`).join('; ') }),
        el(
          'td',
          {},
          canWrite && b.state !== undefined
            ? el(
                'div.actions',
                {},
                b.state === 'draining'
                  ? backendAction(regionId, b, 'undrain', `Undrain backend ${b.backendId}?`)
                  : backendAction(
                      regionId,
                      b,
                      'drain',
                      `Drain backend ${b.backendId}? New requests avoid it.`,
                    ),
                backendAction(regionId, b, 'remove', `Remove backend ${b.backendId} from ${regionId}?`),
              )
            : null,
        ),
      ),
    );
    const heading = el('h2', { tabindex: -1, text: `Region ${regionId}: backends (${health.view.status})` });
    detail.replaceChildren(
      el(
        'section.card',
        { 'aria-label': `Backends of ${regionId}` },
        heading,
        el(
          'table',
          {},
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              ...['Backend', 'URL', 'State', 'Health', 'Healthy votes', 'Why out', ''].map((h) =>
                el('th', { scope: 'col', text: h }),
              ),
            ),
          ),
          el(
            'tbody',
            {},
            rows.length > 0 ? rows : el('tr', {}, el('td.muted', { colspan: 7, text: 'No backends.' })),
          ),
        ),
        canWrite ? addBackendForm(regionId) : null,
      ),
    );
    if (focus) heading.focus();
  }

  function addBackendForm(regionId) {
    const form = el(
      'form.row',
      { 'aria-label': 'Add a backend' },
      field('Backend id', { name: 'id', required: true, 'data-field': 'id' }),
      field('URL', { name: 'url', required: true, placeholder: 'http://10.0.0.5:8080', 'data-field': 'url' }),
      field('Weight', { name: 'weight', type: 'number', min: 0, value: 100, 'data-field': 'weight' }),
      el('button.primary', { type: 'submit', text: 'Add backend' }),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const d = new FormData(form);
      const body = { id: d.get('id'), url: d.get('url'), weight: Number(d.get('weight')) };
      if (!(await confirmAction(`Add backend ${body.id} (${body.url}) to ${regionId}?`, 'Add'))) return;
      try {
        await api('POST', `/v1/regions/${regionId}/backends`, body);
        await showDetail(regionId, false);
      } catch (err) {
        showFieldError(form, err, form.lastElementChild);
      }
    });
    return form;
  }

  function addRegionForm() {
    const form = el(
      'form.card',
      { 'aria-labelledby': 'add-region-title', id: 'add-region' },
      el('h2', { id: 'add-region-title', text: 'Add a region' }),
      el(
        'div.row',
        {},
        field('Id', { name: 'id', required: true, 'data-field': 'id', placeholder: 'eu-west' }),
        field('Name', { name: 'name', 'data-field': 'name' }),
        field('Latitude', { name: 'lat', required: true, inputmode: 'decimal', 'data-field': 'lat' }),
        field('Longitude', { name: 'lon', required: true, inputmode: 'decimal', 'data-field': 'lon' }),
        field('IPv4 addresses', {
          name: 'ipv4',
          'data-field': 'ipv4',
          placeholder: '192.0.2.10, 192.0.2.11',
        }),
        field('IPv6 addresses', { name: 'ipv6', 'data-field': 'ipv6' }),
        field('Weight', { name: 'weight', type: 'number', min: 0, value: 100, 'data-field': 'weight' }),
        el('button.primary', { type: 'submit', text: 'Add region' }),
      ),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const d = new FormData(form);
      const body = {
        id: d.get('id'),
        ...(d.get('name') === '' ? {} : { name: d.get('name') }),
        lat: Number(d.get('lat')),
        lon: Number(d.get('lon')),
        ipv4: list(d.get('ipv4')),
        ipv6: list(d.get('ipv6')),
        weight: Number(d.get('weight')),
      };
      if (!(await confirmAction(`Add region ${body.id}?`, 'Add'))) return;
      try {
        await api('POST', '/v1/regions', body);
        for (const old of form.querySelectorAll('.field-error')) old.remove();
        form.reset();
        await refresh();
      } catch (err) {
        showFieldError(form, err, form.querySelector('button'));
      }
    });
    return form;
  }

  const explainOut = el('div', { id: 'explain-result', 'aria-live': 'polite' });
  const explainForm = el(
    'form.card',
    { 'aria-labelledby': 'explain-title', id: 'explain' },
    el('h2', { id: 'explain-title', text: 'Explain a decision' }),
    el(
      'div.row',
      {},
      field('Client IP or subnet', {
        name: 'client',
        required: true,
        placeholder: '198.51.100.0/24',
        'data-field': 'client',
      }),
      field('Name', { name: 'name', required: true, 'data-field': 'name', value: 'www.example.test' }),
      el(
        'label',
        {},
        'Type',
        el(
          'select',
          { name: 'type', 'data-field': 'type' },
          el('option', { text: 'A' }),
          el('option', { text: 'AAAA' }),
        ),
      ),
      el('button.primary', { type: 'submit', text: 'Explain' }),
    ),
    explainOut,
  );
  void api('GET', '/v1/console/overview')
    .then((o) => {
      if (o.balancedName) explainForm.elements.name.value = o.balancedName;
    })
    .catch(() => {});
  explainForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const d = new FormData(explainForm);
    const client = String(d.get('client')).trim();
    const params = new URLSearchParams({ name: d.get('name'), type: d.get('type') });
    // A subnet is asked as an EDNS Client Subnet from its own network address, like `dig +subnet`.
    params.set('client', client.split('/')[0]);
    if (client.includes('/')) params.set('ecs', client);
    try {
      const r = await api('GET', `/v1/explain?${params}`);
      for (const old of explainForm.querySelectorAll('.field-error')) old.remove();
      const dec = r.decision;
      const loc = dec.location;
      explainOut.replaceChildren(
        el(
          'p',
          {},
          el('strong', {
            text: dec.outcome === 'addresses' ? `Answer: ${dec.addresses.join(', ')}` : 'Answer: no data',
          }),
          ` — regions ${dec.regions.join(', ') || '(none)'}, rule ${dec.rule}, TTL ${dec.ttl}, ECS scope /${dec.scopePrefix}`,
          dec.allDown ? ' (every eligible region was down: all-down policy)' : '',
        ),
        el('p.muted', {
          text: loc.found
            ? `Client ${loc.ip} (${loc.source}) located in ${loc.country ?? '?'} / ${loc.continent ?? '?'}, network ${loc.network ?? '?'}`
            : `Client ${loc.ip} (${loc.source}) not located`,
        }),
        el(
          'table',
          {},
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              ...['Region', 'State', 'Health', 'Distance km', 'Kept', 'Reason'].map((h) =>
                el('th', { scope: 'col', text: h }),
              ),
            ),
          ),
          el(
            'tbody',
            {},
            dec.considered.map((v) =>
              el(
                'tr',
                {},
                el('td', { text: v.regionId }),
                el('td', {}, pill(v.state)),
                el('td', {}, pill(v.health.status)),
                el('td.num', { text: v.distanceKm === undefined ? '' : Math.round(v.distanceKm) }),
                el('td', { text: v.kept ? 'yes' : 'no' }),
                el('td', { text: v.reason }),
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      explainOut.replaceChildren();
      showFieldError(explainForm, err, explainForm.querySelector('button'));
    }
  });

  main.append(...[detail, explainForm, canWrite ? addRegionForm() : null].filter(Boolean));
  return every(3000, refresh);
}
