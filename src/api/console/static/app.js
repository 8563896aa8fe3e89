// Console entry point: logs in with the session login (POST /v1/login: HttpOnly cookie plus a CSRF
// token kept in sessionStorage), learns the caller's permissions (GET /v1/whoami) and routes
// #/page to one page module. Pages get `canWrite`: without the `write` permission no action button
// is rendered at all (the API refuses such calls anyway).
import { api, el, setApiToken, setCsrfToken, toast, usingApiToken } from './lib.js';
import * as overview from './overview.js';
import * as regions from './regions.js';
import * as traffic from './traffic.js';
import * as policies from './policies.js';
import * as records from './records.js';

const PAGES = { overview, regions, traffic, policies, records };
const main = document.getElementById('main');
const nav = document.getElementById('nav');
let me;
let stopPage = () => {};

function showLogin(message) {
  stopPage();
  stopPage = () => {};
  me = undefined;
  nav.hidden = true;
  document.getElementById('logout').hidden = true;
  document.getElementById('who').textContent = '';
  const error = el('p.field-error', { role: 'alert', hidden: message === undefined, text: message ?? '' });
  const form = el(
    'form.card.login',
    { 'aria-labelledby': 'login-title' },
    el('h1', { id: 'login-title', text: 'Log in to Meridian' }),
    el('label', {}, 'User name', el('input', { name: 'username', autocomplete: 'username' })),
    el(
      'label',
      {},
      'Password',
      el('input', { name: 'password', type: 'password', autocomplete: 'current-password' }),
    ),
    el(
      'details',
      {},
      el('summary', {
        text: 'Or use an API token (the bootstrap admin token, or one from meridian token create)',
      }),
      el('label', {}, 'API token', el('input', { name: 'token', type: 'password', autocomplete: 'off' })),
    ),
    error,
    el('button.primary', { type: 'submit', text: 'Log in' }),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const token = String(data.get('token') ?? '').trim();
    if (token !== '') {
      setApiToken(token);
      setCsrfToken(undefined);
      try {
        me = await api('GET', '/v1/whoami');
      } catch (err) {
        setApiToken(undefined);
        me = undefined;
        error.hidden = false;
        error.textContent = err.status === 401 ? 'That token is not valid.' : err.message;
        return;
      }
      await start();
      return;
    }
    if (String(data.get('username') ?? '') === '' || String(data.get('password') ?? '') === '') {
      error.hidden = false;
      error.textContent = 'Give a user name and password, or an API token.';
      return;
    }
    try {
      const session = await api('POST', '/v1/login', {
        username: data.get('username'),
        password: data.get('password'),
      });
      setCsrfToken(session.csrfToken);
      await start();
    } catch (err) {
      error.hidden = false;
      error.textContent = err.message;
    }
  });
  main.replaceChildren(form);
  form.querySelector('input').focus();
}

async function start() {
  try {
    me = await api('GET', '/v1/whoami');
  } catch (err) {
    showLogin(err.status === 401 ? undefined : err.message);
    return;
  }
  nav.hidden = false;
  document.getElementById('logout').hidden = false;
  const who = me.user ?? (me.token === undefined ? 'API token' : `token ${me.token}`);
  document.getElementById('who').textContent = `${who} (${me.roles.join(', ')})`;
  route();
}

function route() {
  if (me === undefined) return;
  const name = (location.hash.match(/^#\/(\w+)/)?.[1] ?? 'overview').toLowerCase();
  const page = PAGES[name] ?? overview;
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  stopPage();
  main.replaceChildren();
  const ctx = { canWrite: me.permissions.includes('write'), me };
  stopPage = page.render(main, ctx) ?? (() => {});
  main.focus();
}

document.getElementById('logout').addEventListener('click', async () => {
  if (usingApiToken()) {
    // An API token is forgotten by this tab, not revoked: it may serve scripts or the CLI too.
    setApiToken(undefined);
  } else {
    try {
      await api('POST', '/v1/logout');
    } catch (err) {
      toast(err.message, true);
    }
  }
  setCsrfToken(undefined);
  showLogin('You have logged out.');
});
window.addEventListener('hashchange', route);
window.addEventListener('meridian:unauthorized', () => {
  if (me !== undefined) showLogin('Your session has ended; log in again.');
});
void start();
