import { h, put, api, live, badge, unitBar, fmtTime, money, debounce, errorBox, isAdmin, navigate } from '../app.js';
import { renderingNow } from './rendering.js';

const STATUSES = ['', 'waiting', 'queued', 'running', 'paused', 'succeeded', 'partial', 'failed', 'cancelled'];
const PAGE = 50;

// jobList renders a filterable, server-paged job table with bulk actions into el. fixed are filters
// the caller sets (a dialect's page fixes kind); the rest come from the URL's query.
export async function jobList(el, { fixed = {}, query = new URLSearchParams(), title = 'Jobs', submit = false } = {}) {
  const f = { kind: '', status: '', search: '', account_id: '', offset: '0', ...Object.fromEntries(query), ...fixed };
  const selected = new Set();
  const table = h('div', { id: 'jobs-table' });
  const info = h('span', { class: 'muted', id: 'jobs-total' });
  const msg = h('div', {});
  const input = (name, attrs) => h('input', { name, value: f[name] || '', ...attrs, onchange: (e) => { f[name] = e.target.value; f.offset = '0'; load(); } });
  const filters = h('form', { class: 'toolbar', id: 'job-filters', onsubmit: (e) => { e.preventDefault(); f.offset = '0'; load(); } },
    fixed.kind === undefined ? input('kind', { placeholder: 'kind', size: 10 }) : null,
    h('select', { name: 'status', onchange: (e) => { f.status = e.target.value; f.offset = '0'; load(); } },
      STATUSES.map((s) => h('option', { value: s, selected: s === f.status }, s || 'any status'))),
    isAdmin() ? input('account_id', { placeholder: 'account', size: 6 }) : null,
    input('search', { placeholder: 'search name, alias, project', size: 24, id: 'job-search', oninput: debounce((e) => { f.search = e.target.value; f.offset = '0'; load(); }, 250) }),
    info);
  const bulk = (action, extra) => async () => {
    if (!selected.size) return;
    if (action === 'delete' && !confirm(`Delete ${selected.size} job(s)?`)) return;
    try {
      const res = await api('POST', '/api/v1/jobs/bulk', { ids: [...selected], action, ...extra });
      const bad = res.results.filter((r) => r.error);
      put(msg, bad.length ? errorBox(bad.map((r) => `#${r.id}: ${r.error}`).join('\n')) : h('span', { class: 'ok' }, `${action}: ${res.results.length} job(s)`));
      selected.clear();
      load();
    } catch (err) { put(msg, errorBox(err)); }
  };
  const prio = h('input', { type: 'number', size: 4, placeholder: 'prio', style: { width: '70px' } });
  const actions = h('div', { class: 'toolbar', id: 'bulk' }, h('span', { class: 'muted' }, 'Selected:'),
    ['pause', 'resume', 'abort', 'restart-failed', 'delete'].map((a) => h('button', { type: 'button', 'data-bulk': a, class: a === 'delete' || a === 'abort' ? 'danger' : '', onclick: bulk(a) }, a)),
    prio, h('button', { type: 'button', 'data-bulk': 'priority', onclick: () => bulk('priority', { priority: Number(prio.value) })() }, 'set priority'), msg);

  // Next and previous ask for the page next to the one shown by key (before_id / after_id), which
  // costs the same at any depth; the offset stays the page's position, in the URL and for reloads.
  let key = null;
  async function load() {
    const q = new URLSearchParams();
    for (const k of ['kind', 'status', 'search', 'account_id', 'offset', 'parent_id']) if (f[k]) q.set(k, f[k]);
    q.set('limit', String(PAGE));
    if (!fixed.kind) history.replaceState({}, '', location.pathname + '?' + q.toString());
    const by = new URLSearchParams(q);
    if (key) { by.delete('offset'); for (const [k, v] of Object.entries(key)) by.set(k, v); }
    key = null;
    let page;
    try { page = await api('GET', '/api/v1/jobs?' + by.toString()); } catch (err) { put(table, errorBox(err)); return; }
    const off = Number(f.offset) || 0;
    info.textContent = page.total ? `${off + 1}–${off + page.jobs.length} of ${page.total}${page.total_capped ? '+' : ''}` : 'no jobs';
    const all = h('input', { type: 'checkbox', onchange: (e) => { page.jobs.forEach((j) => (e.target.checked ? selected.add(j.id) : selected.delete(j.id))); load(); } });
    put(table, h('table', {},
      h('tr', {}, h('th', {}, all), ['Job', 'Kind', 'Name', 'Status', 'Units', 'Priority', 'Cost', 'Account', 'Created'].map((t) => h('th', {}, t))),
      page.jobs.map((j) => h('tr', { 'data-job': j.id },
        h('td', {}, h('input', { type: 'checkbox', checked: selected.has(j.id), onchange: (e) => (e.target.checked ? selected.add(j.id) : selected.delete(j.id)) })),
        h('td', {}, h('a', { href: '/jobs/' + j.id, 'data-nav': '' }, '#' + j.id)), h('td', {}, j.kind), h('td', { class: 'wrap' }, j.name || j.alias || ''),
        h('td', {}, badge(j.status), j.pause_reason ? h('small', { class: 'muted' }, ' ' + j.pause_reason) : null),
        h('td', {}, unitBar(j.units)), h('td', {}, String(j.priority)), h('td', {}, money(j.cost_milli)), h('td', {}, String(j.account_id)), h('td', {}, fmtTime(j.created_at))))),
    h('div', { class: 'toolbar' },
      h('button', { id: 'jobs-newer', disabled: off === 0, onclick: () => { f.offset = String(Math.max(0, off - PAGE)); key = off > PAGE && page.jobs.length ? { after_id: page.jobs[0].id } : null; load(); } }, '‹ newer'),
      h('button', { id: 'jobs-older', disabled: page.jobs.length < PAGE || (!page.total_capped && off + PAGE >= page.total), onclick: () => { f.offset = String(off + PAGE); key = page.jobs.length ? { before_id: page.jobs[page.jobs.length - 1].id } : null; load(); } }, 'older ›')));
  }

  const submitBox = submit ? submitForm(load) : null;
  put(el, h('h1', {}, title), filters, actions, table, submitBox);
  await load();
  // Jobs created, controlled or finished anywhere show without a reload.
  const reload = debounce(load, 700);
  live({}, { ready: reload, event: (ev) => { if (ev.type.startsWith('job.') || ev.type === 'units.deleted') reload(); } });
}

function submitForm(after) {
  const spec = h('textarea', { id: 'submit-spec', rows: 6 }, JSON.stringify({ kind: 'batch', name: 'hello', units: [{ capability: 'shell', spec: { command: ['echo', 'hello'] } }] }, null, 2));
  const msg = h('div', {});
  return h('details', { class: 'card' }, h('summary', {}, 'Submit a job (JSON job spec, api/native.yaml JobSpec)'), spec,
    h('p', {}, h('button', { class: 'primary', id: 'submit-job', onclick: async () => {
      try {
        const j = await api('POST', '/api/v1/jobs', spec.value);
        put(msg, h('span', { class: 'ok' }, 'Submitted ', h('a', { href: '/jobs/' + j.id, 'data-nav': '', id: 'submitted-link' }, '#' + j.id)));
        after();
      } catch (err) { put(msg, errorBox(err)); }
    } }, 'Submit')), msg);
}

export const jobsPage = {
  path: /^\/jobs\/?$/, title: 'Jobs', nav: '/jobs',
  render: ({ main, query }) => jobList(main, { query, submit: true }),
};

// outputsOf lists a unit's outputs as [name, {hash, size, content_type}].
const outputsOf = (u) => Object.entries(u.outputs || {});
export const blobURL = (hash) => '/api/v1/blobs/' + hash;

// thumbGrid shows the thumbnails among units' outputs; a click opens the full image when there is one.
export function thumbGrid(units) {
  const figs = [];
  for (const u of units) {
    for (const [name, ref] of outputsOf(u)) {
      if (!name.startsWith('thumbnail')) continue;
      const full = (u.outputs[name.replace('thumbnail', 'image')] || ref).hash;
      const label = name.includes('.') ? 'frame ' + name.split('.')[1] : (u.name || '#' + u.id);
      figs.push(h('figure', { 'data-thumb': ref.hash, onclick: () => {
        const ov = h('div', { class: 'overlay', id: 'full-frame', onclick: () => ov.remove() }, h('img', { src: blobURL(full), alt: label }));
        document.body.append(ov);
      } }, h('img', { src: blobURL(ref.hash), alt: label, loading: 'lazy' }), h('figcaption', {}, label)));
    }
  }
  return figs.length ? h('div', { class: 'thumbs', id: 'thumbs' }, figs) : h('p', { class: 'muted', id: 'no-thumbs' }, 'No frames finished yet.');
}

export const jobPage = {
  path: /^\/jobs\/(\d+)$/, title: 'Job',
  async render({ main, params }) {
    const id = params[0];
    let job = await api('GET', '/api/v1/jobs/' + id);
    const head = h('div', {});
    const counts = h('div', { id: 'job-counts' });
    const unitsEl = h('div', { id: 'units' });
    const thumbs = h('div', {});
    const nowEl = h('div', {}), showNow = renderingNow(nowEl);
    const children = h('div', {});
    const eventsEl = h('div', {});
    const blockEl = h('div', {});
    const logEl = h('div', {});
    const msg = h('div', {});
    let units = [];

    const act = (action) => async () => {
      try {
        if (action === 'delete') { if (!confirm('Delete this job?')) return; await api('DELETE', '/api/v1/jobs/' + id); navigate('/jobs'); return; }
        const r = await api('POST', `/api/v1/jobs/${id}/${action}`);
        job = { ...job, ...r.job, units: job.units };
        drawHead();
        put(msg, h('span', { class: 'ok' }, `${action}: done` + (r.units_changed ? ` (${r.units_changed} units)` : '')));
        loadUnits();
      } catch (err) { put(msg, errorBox(err)); }
    };
    const prio = h('input', { type: 'number', value: job.priority, style: { width: '80px' } });
    function drawHead() {
      put(head, 
        h('h1', {}, `Job #${job.id} `, badge(job.status), job.pause_reason ? h('small', { class: 'muted' }, ' ' + job.pause_reason) : null),
        h('table', { class: 'kv card' },
          [['kind', job.kind], ['name', job.name], ['account', job.account_id], ['project', job.project], ['priority', job.priority],
            ['cost', money(job.cost_milli)], ['created', fmtTime(job.created_at)], ['started', fmtTime(job.started_at)], ['finished', fmtTime(job.finished_at)]]
            .filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, String(v)))),
          job.parent_id ? h('tr', {}, h('td', {}, 'parent'), h('td', {}, h('a', { href: '/jobs/' + job.parent_id, 'data-nav': '' }, '#' + job.parent_id))) : null,
          job.wait_for ? h('tr', {}, h('td', {}, 'waits for'), h('td', {}, h('a', { href: '/jobs/' + job.wait_for, 'data-nav': '' }, '#' + job.wait_for))) : null),
        h('div', { class: 'toolbar', id: 'job-actions' },
          ['pause', 'resume', 'abort', 'restart-failed'].map((a) => h('button', { 'data-action': a, onclick: act(a) }, a)),
          h('button', { class: 'danger', 'data-action': 'delete', onclick: act('delete') }, 'delete'),
          prio, h('button', { onclick: async () => {
            try { job = await api('PATCH', '/api/v1/jobs/' + id, { priority: Number(prio.value) }); drawHead(); } catch (err) { put(msg, errorBox(err)); }
          } }, 'set priority')), msg);
    }
    function drawCounts() {
      const u = job.units || {};
      put(counts, unitBar(u), h('div', {}, Object.entries(u).map(([s, n]) => h('span', { 'data-count': s }, badge(s), ` ${n}  `))));
    }
    const progress = {};
    function drawUnits() {
      put(unitsEl, h('table', {},
        h('tr', {}, ['Unit', 'Name', 'Status', 'Worker', 'Attempts', 'Started', 'Finished', 'Progress', 'Outputs', 'Log'].map((t) => h('th', {}, t))),
        units.map((u) => h('tr', { 'data-unit': u.id },
          h('td', {}, '#' + u.id), h('td', {}, u.name || String(u.index)), h('td', {}, badge(u.status), u.error ? h('div', { class: 'err wrap' }, u.error) : null),
          h('td', {}, u.worker_id ? '#' + u.worker_id : '–'), h('td', {}, String(u.attempts)), h('td', {}, fmtTime(u.started_at)), h('td', {}, fmtTime(u.finished_at)),
          h('td', {}, h('div', { class: 'bar' }, h('span', { class: u.status === 'running' ? 'run' : '', style: { width: (u.status === 'done' ? 100 : progress[u.id] ?? u.progress ?? 0) + '%' } }))),
          h('td', { class: 'wrap' }, outputsOf(u).map(([n, r]) => h('a', { href: blobURL(r.hash), target: '_blank', rel: 'noopener' }, n + ' '))),
          h('td', {}, h('button', { onclick: () => showLog(u) }, 'tail'),
            ['failed', 'timed_out', 'cancelled'].includes(u.status) ? h('button', { 'data-retry': u.id, onclick: async () => {
              try { await api('POST', `/api/v1/jobs/${id}/restart-units`, { unit_ids: [u.id] }); loadUnits(); } catch (err) { put(msg, errorBox(err)); }
            } }, 'retry') : null)))));
    }
    async function showLog(u) {
      const r = await api('GET', `/api/v1/jobs/${id}/units?log=1&limit=1&offset=${u.index}`);
      const text = (r.units[0] && r.units[0].log) || '';
      const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
      put(logEl, h('h2', {}, `Log of unit #${u.id} (last 8 KB) `, h('a', { href: url, download: `unit-${u.id}.log` }, 'download')),
        h('pre', { id: 'unit-log' }, text.slice(-8192) || '(empty)'));
    }
    const unitStatus = h('select', { id: 'unit-status', onchange: () => loadUnits() },
      ['', 'queued', 'running', 'paused', 'done', 'failed', 'timed_out', 'cancelled', 'blocked'].map((s) => h('option', { value: s }, s || 'every status')));
    async function loadUnits() {
      const r = await api('GET', `/api/v1/jobs/${id}/units?limit=500` + (unitStatus.value ? '&status=' + unitStatus.value : ''));
      units = r.units;
      drawUnits();
      let all = units;
      const kids = await api('GET', `/api/v1/jobs?parent_id=${id}&limit=200`);
      if (kids.jobs.length) {
        put(children, h('h2', {}, `Children (${kids.total})`), h('table', {}, kids.jobs.map((c) => h('tr', {},
          h('td', {}, h('a', { href: '/jobs/' + c.id, 'data-nav': '' }, '#' + c.id)), h('td', {}, c.kind), h('td', {}, c.name || ''), h('td', {}, badge(c.status)), h('td', {}, unitBar(c.units)),
          h('td', {}, (c.units && (c.units.failed || c.units.timed_out)) ? h('button', { onclick: async () => { await api('POST', `/api/v1/jobs/${c.id}/restart-failed`); loadUnits(); } }, 'restart failed frames') : null)))));
        for (const c of kids.jobs) all = all.concat((await api('GET', `/api/v1/jobs/${c.id}/units?limit=1000`)).units);
      }
      put(thumbs, h('h2', {}, 'Frames'), thumbGrid(all));
    }
    async function loadSide() {
      const [ev, bl] = await Promise.all([api('GET', `/api/v1/jobs/${id}/events?limit=200`), api('GET', `/api/v1/jobs/${id}/blocklist`)]);
      put(eventsEl, h('h2', {}, 'Events'), h('table', { id: 'events' }, ev.events.slice(-50).reverse().map((e) => h('tr', {},
        h('td', {}, fmtTime(e.at)), h('td', {}, e.type), h('td', { class: 'wrap' }, e.data ? JSON.stringify(e.data) : '')))));
      put(blockEl, h('h2', {}, 'Blocklist'), bl.blocklist.length ? h('div', {}, h('table', {}, bl.blocklist.map((b) => h('tr', {},
        h('td', {}, 'worker #' + b.worker_id), h('td', {}, `${b.failures} failures`), h('td', {}, b.blocked ? badge('failed') : '')))),
      h('button', { onclick: async () => { await api('DELETE', `/api/v1/jobs/${id}/blocklist`); loadSide(); } }, 'clear blocklist')) : h('p', { class: 'muted' }, 'Empty.'));
    }
    drawHead();
    drawCounts();
    put(main, head, counts, h('h2', {}, 'Units ', unitStatus), unitsEl, logEl, children, nowEl, thumbs, h('div', { class: 'grid2' }, eventsEl, blockEl));
    await Promise.all([loadUnits(), loadSide()]);
    const reloadUnits = debounce(loadUnits, 300);
    const reloadSide = debounce(loadSide, 500);
    live({ job: id }, {
      job: async (j) => {
        const changed = showNow(j.running) || JSON.stringify(j.units) !== JSON.stringify(job.units);
        const moved = j.status !== job.status;
        job = { ...job, status: j.status, pause_reason: j.pause_reason, units: j.units };
        drawHead(); drawCounts();
        if (moved) { job = { ...(await api('GET', '/api/v1/jobs/' + id)), units: j.units }; drawHead(); }
        for (const r of j.running) progress[r.id] = r.progress;
        if (changed) reloadUnits(); else drawUnits();
      },
      event: (e) => { if (e.job_id === Number(id) || e.job_id === job.parent_id) reloadSide(); },
    });
  },
};
