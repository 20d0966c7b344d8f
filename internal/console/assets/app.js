// The console app: sign-in, navigation, and the helpers every page uses. A page is a module under
// pages/ exporting {path, title, nav, render(ctx)}; adding one is an import and an entry in PAGES.
import overview from './pages/overview.js';
import { jobsPage, jobPage } from './pages/jobs.js';
import workers from './pages/workers.js';
import render from './pages/render.js';
import rpa from './pages/rpa.js';
import schedules from './pages/schedules.js';
import accounts from './pages/accounts.js';
import recordings from './pages/recordings.js';
import projects from './pages/projects.js';
import aitasks from './pages/aitasks.js';

// PAGES are matched in order; path is a RegExp on location.pathname, its groups the page's params.
// dialect, when set, shows the page only on a server that speaks that dialect.
const PAGES = [overview, jobsPage, jobPage, workers, render, rpa, schedules, accounts, recordings, projects, aitasks];

export const config = JSON.parse(document.getElementById('tc-config').textContent || '{}');
let session = null;

// h makes an element: h('a', {href: '/x', onclick: fn}, 'text', child, [more]). Text is always
// text: nothing a server sends is parsed as HTML.
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'style') Object.assign(el.style, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  const add = (c) => {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) c.forEach(add);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  };
  kids.forEach(add);
  return el;
}

// put replaces el's children with kids, leaving out the null and false a condition gives.
export function put(el, ...kids) {
  el.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
}

export class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// api calls the native API with the session cookie, sending the CSRF proof with every change.
export async function api(method, path, body) {
  const opts = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = session ? session.csrf_token : '';
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 401 && path !== '/console/session') { session = null; showLogin(); throw new APIError(401, 'signed out'); }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!res.ok) throw new APIError(res.status, (data && data.error) || res.statusText);
  return data;
}

// live opens the page's one event stream; handlers maps event names to functions of the parsed
// data. It is closed when the page changes.
let stream = null;
export function live(params, handlers) {
  if (stream) stream.close();
  const q = new URLSearchParams(params || {}).toString();
  stream = new EventSource('/console/live' + (q ? '?' + q : ''));
  const dot = document.getElementById('live-dot');
  stream.onopen = () => dot && dot.classList.add('on');
  stream.onerror = () => dot && dot.classList.remove('on');
  for (const [name, fn] of Object.entries(handlers)) {
    stream.addEventListener(name, (e) => { try { fn(JSON.parse(e.data)); } catch (err) { console.error(err); } });
  }
  return stream;
}

// debounce runs fn at most once per ms, after the last call.
export function debounce(fn, ms) {
  let t = null;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

export const fmtTime = (s) => (s ? new Date(s).toLocaleString() : '–');
export const money = (milli) => ((milli || 0) / 1000).toFixed(2);
export const badge = (s) => h('span', { class: 'badge s-' + s, 'data-status': s }, s || '–');
export function unitBar(units) {
  const u = units || {};
  const total = Object.values(u).reduce((a, b) => a + b, 0);
  const done = u.done || 0;
  const bar = h('div', { class: 'bar', title: `${done}/${total} done` }, h('span', { style: { width: (total ? (100 * done) / total : 0) + '%' } }));
  return h('div', {}, bar, h('small', { class: 'muted' }, `${done}/${total}`));
}
export function errorBox(err) { return h('div', { class: 'err' }, err && err.message ? err.message : String(err)); }
export function isAdmin() { return session && session.account.admin; }
export function account() { return session && session.account; }

// navigate shows the page for path without a reload.
export function navigate(path) {
  if (location.pathname + location.search !== path) history.pushState({}, '', path);
  route();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest && e.target.closest('a[data-nav]');
  if (a && !e.ctrlKey && !e.metaKey && e.button === 0) { e.preventDefault(); navigate(a.getAttribute('href')); }
});
window.addEventListener('popstate', () => route());

function showLogin(message) {
  if (stream) { stream.close(); stream = null; }
  const token = h('input', { type: 'password', id: 'token', placeholder: 'admin token', style: { width: '100%' }, autocomplete: 'off' });
  const msg = h('div', { class: 'err', id: 'login-error' }, message || '');
  const form = h('form', { class: 'card login', id: 'login', onsubmit: async (e) => {
    e.preventDefault();
    try {
      session = await api('POST', '/console/session', { token: token.value });
      route();
    } catch (err) { msg.textContent = err.status === 401 ? 'That token is not valid.' : err.message; }
  } },
  h('h1', {}, 'taskcenter'),
  h('p', { class: 'muted' }, 'Sign in with a native admin token (an account\'s admin token sees only that account).'),
  token, h('p', {}, h('button', { class: 'primary', type: 'submit', id: 'signin' }, 'Sign in')), msg);
  put(document.getElementById('app'), form);
  token.focus();
}

async function signOut() {
  try { await api('DELETE', '/console/session'); } catch { /* signed out anyway */ }
  session = null;
  history.pushState({}, '', '/');
  showLogin('Signed out.');
}

function layout(current) {
  const links = PAGES.filter((p) => p.nav && (!p.dialect || (config.dialects || []).includes(p.dialect)) && (!p.admin || isAdmin()))
    .map((p) => h('a', { href: p.nav, 'data-nav': '', class: p === current ? 'active' : '' }, p.title));
  const main = h('main', { id: 'main' });
  const nav = h('nav', {}, h('div', { class: 'brand' }, 'taskcenter', h('span', { id: 'live-dot', class: 'live', title: 'live updates' })), links,
    h('div', { class: 'who' }, `${session.account.name} (${session.account.role})`, h('br'),
      h('a', { href: '#', id: 'signout', onclick: (e) => { e.preventDefault(); signOut(); } }, 'Sign out')));
  put(document.getElementById('app'), h('div', { class: 'layout' }, nav, main));
  return main;
}

export async function route() {
  if (!session) {
    try { session = await api('GET', '/console/session'); } catch { showLogin(); return; }
  }
  const path = location.pathname;
  let page = null, params = null;
  for (const p of PAGES) {
    const m = path.match(p.path);
    if (m) { page = p; params = m.slice(1); break; }
  }
  if (!page) { page = overview; params = []; }
  if (stream) { stream.close(); stream = null; }
  const main = layout(page);
  document.title = page.title + ' · taskcenter';
  try {
    await page.render({ main, params, query: new URLSearchParams(location.search) });
  } catch (err) {
    if (err.status === 401) return;
    put(main, h('h1', {}, err.status === 404 ? 'Not found' : 'Error'), errorBox(err));
  }
}

route();
