// Shared helpers of the console pages: the JSON API client (session cookie + CSRF token on every
// unsafe method), a tiny DOM builder (no innerHTML, so API data is never parsed as markup), the
// confirmation dialog and status messages.

const CSRF_KEY = 'meridian.csrf';
// An API token given at the login form instead of a password (the bootstrap admin token, or one from
// `meridian token create`): kept for this tab only and sent as a bearer token; no cookie, no CSRF.
const TOKEN_KEY = 'meridian.token';

export function setApiToken(token) {
  if (token === undefined) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

export function usingApiToken() {
  return sessionStorage.getItem(TOKEN_KEY) !== null;
}

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = error?.code;
    this.field = error?.field;
  }
}

export function setCsrfToken(token) {
  if (token === undefined) sessionStorage.removeItem(CSRF_KEY);
  else sessionStorage.setItem(CSRF_KEY, token);
}

/** Calls the admin API; resolves with the JSON answer (undefined for 204), throws ApiError. */
export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token !== null) headers.authorization = `Bearer ${token}`;
  else if (method !== 'GET' && method !== 'HEAD')
    headers['x-csrf-token'] = sessionStorage.getItem(CSRF_KEY) ?? '';
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const err = new ApiError(res.status, json?.error);
    if (res.status === 401) window.dispatchEvent(new CustomEvent('meridian:unauthorized'));
    throw err;
  }
  return json;
}

/** el('tag.class', { attr: v, onclick: f }, ...children): children are nodes or text. */
export function el(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const node = ['svg', 'path', 'circle', 'g', 'text', 'title'].includes(tag)
    ? document.createElementNS('http://www.w3.org/2000/svg', tag)
    : document.createElement(tag);
  if (classes.length > 0) node.setAttribute('class', classes.join(' '));
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = String(v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Asks for confirmation in the page's <dialog>; resolves true on Confirm. */
export function confirmAction(message, confirmLabel = 'Confirm') {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = message;
  document.getElementById('confirm-ok').textContent = confirmLabel;
  dialog.returnValue = '';
  dialog.showModal();
  document.getElementById('confirm-ok').focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

export function toast(message, isError = false) {
  const p = el(isError ? 'p.error' : 'p', { text: message });
  document.getElementById('toast').append(p);
  setTimeout(() => p.remove(), isError ? 8000 : 4000);
}

/** Runs an action, reports its outcome, returns whether it succeeded. */
export async function act(label, fn) {
  try {
    await fn();
    toast(label);
    return true;
  } catch (err) {
    toast(`${err.message}`, true);
    return false;
  }
}

/** A pill showing a status word, classed by it (healthy, draining, unhealthy, ...). */
export function pill(word) {
  return el(`span.pill.${String(word).replace(/[^a-z-]/g, '')}`, { text: word });
}

export function fmtTime(value) {
  if (value === undefined || value === null || value === '') return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime())
    ? String(value)
    : d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}

/** A datetime-local input's value as an RFC 3339 time, or undefined when empty. */
export function fromLocalInput(value) {
  if (value === '') return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** Repeats `fn` every `ms` while the page shows; returns the stop function. */
export function every(ms, fn) {
  let stopped = false;
  let timer;
  const tick = async () => {
    if (stopped) return;
    if (document.visibilityState === 'visible') {
      try {
        await fn();
      } catch (err) {
        if (err?.status !== 401) console.warn(err);
      }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Shows an API error next to the form field it names (elements with data-field), else at `fallback`. */
export function showFieldError(form, err, fallback) {
  for (const old of form.querySelectorAll('.field-error')) old.remove();
  const field = err.field ?? '';
  const target =
    form.querySelector(`[data-field="${CSS.escape(field)}"]`) ??
    form.querySelector(`[data-field="${CSS.escape(field.split(/[.[]/)[0])}"]`) ??
    fallback;
  // API messages usually start with the field they name already.
  const named = field === '' || err.message.startsWith(field);
  const msg = el('p.field-error', { role: 'alert', text: named ? err.message : `${field}: ${err.message}` });
  target.after(msg);
}
