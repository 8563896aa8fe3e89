// Overview: the world map (paths computed by the server from Natural Earth data, /console/world.json)
// with every region at its coordinates coloured by state and health, and every country filled with
// the colour of the region the steering decision sends it to. Refreshed every 3 s.
import { api, el, every, pill } from './lib.js';

/** Region colours for the choropleth, in region id order: none is a marker's status colour. */
const PALETTE = ['#4e79a7', '#a87bc9', '#6cb6c4', '#9c755f', '#d37295', '#7f8fd6', '#3d8f8a', '#c19bd8'];

/** The marker colour of a region: draining/disabled first (an operator's decision), then health. */
export function markerStatus(region) {
  if (region.state === 'draining') return 'draining';
  if (region.state === 'disabled') return 'disabled';
  return region.health.status;
}

const STATUS_COLOUR = {
  healthy: '#2e9e5b',
  stale: '#d99100',
  draining: '#d99100',
  unhealthy: '#cc3333',
  expired: '#cc3333',
  disabled: '#6b7280',
  unmonitored: '#8a94a3',
};

let worldPromise;
function world() {
  worldPromise ??= fetch('/console/world.json').then((r) => r.json());
  return worldPromise;
}

export function render(main) {
  const svg = el('svg.map', { role: 'img', 'aria-labelledby': 'map-title', id: 'world-map' });
  const legend = el('ul.legend', { id: 'region-legend' });
  const countries = el('p.muted', { id: 'country-summary' });
  main.append(
    el('h1', { text: 'Overview' }),
    el(
      'div.map-wrap',
      {},
      el('div.card', {}, svg, countries),
      el(
        'div.card',
        {},
        el('h2', { text: 'Regions' }),
        legend,
        el('h2', { text: 'Marker colours' }),
        el(
          'ul.legend',
          {},
          el('li.key', {}, el('span.swatch.ok'), 'healthy'),
          el('li.key', {}, el('span.swatch.warn'), 'draining or stale'),
          el('li.key', {}, el('span.swatch.bad'), 'unhealthy or expired'),
          el('li.key', {}, el('span.swatch.idle'), 'unmonitored or disabled'),
        ),
        el('p.muted', {
          text: 'Countries are filled with the colour of the region their clients are sent to.',
        }),
      ),
    ),
  );
  const shapes = new Map();
  let markers;
  const ready = world().then((map) => {
    svg.setAttribute('viewBox', `0 0 ${map.width} ${map.height}`);
    svg.append(el('title', { id: 'map-title', text: 'World map of regions and where clients are sent' }));
    const g = el('g');
    for (const c of map.countries) {
      const p = el('path.unassigned', { d: c.d, 'data-country-id': c.id }, el('title', { text: c.name }));
      shapes.set(c.id, p);
      g.append(p);
    }
    markers = el('g', { id: 'markers' });
    svg.append(g, markers);
  });

  const refresh = async () => {
    const [data] = await Promise.all([api('GET', '/v1/console/overview'), ready]);
    const colourOf = new Map(data.regions.map((r, i) => [r.id, PALETTE[i % PALETTE.length]]));
    const counts = new Map();
    for (const c of data.countries) {
      const shape = shapes.get(c.id);
      if (shape === undefined) continue;
      const colour = c.region === null ? undefined : colourOf.get(c.region);
      shape.setAttribute('class', colour === undefined ? 'unassigned' : 'assigned');
      if (colour === undefined) shape.removeAttribute('fill');
      else shape.setAttribute('fill', colour);
      shape.dataset.region = c.region ?? '';
      shape.querySelector('title').textContent =
        `${c.country}: ${c.region === null ? 'no region' : `sent to ${c.region}`} (${c.rule})`;
      if (c.region !== null) counts.set(c.region, (counts.get(c.region) ?? 0) + 1);
    }
    markers.replaceChildren(
      ...data.regions
        .filter((r) => r.x !== undefined)
        .map((r) => {
          const status = markerStatus(r);
          return el(
            'g',
            {},
            el(
              'circle',
              {
                cx: r.x,
                cy: r.y,
                r: 10,
                fill: STATUS_COLOUR[status] ?? '#8a94a3',
                'data-region': r.id,
                'data-status': status,
              },
              el('title', { text: `${r.id} (${r.name}): ${status}` }),
            ),
            el('text', { x: r.x + 12, y: r.y + 4, text: r.id }),
          );
        }),
    );
    legend.replaceChildren(
      ...data.regions.map((r) =>
        el(
          'li',
          { 'data-region': r.id },
          el('span.swatch', {}),
          el('strong', { text: r.id }),
          pill(markerStatus(r)),
          el('span.muted', { text: `${counts.get(r.id) ?? 0} countries` }),
        ),
      ),
    );
    for (const [i, li] of [...legend.children].entries()) {
      li.firstChild.style.background = colourOf.get(data.regions[i].id);
    }
    countries.textContent =
      data.balancedName === null
        ? 'No balanced name is configured (or the DNS tier is off): countries are not coloured.'
        : `Countries coloured by the region ${data.balancedName} answers for an address located there; updated ${new Date(data.now).toLocaleTimeString()}.`;
  };
  return every(2000, refresh);
}
