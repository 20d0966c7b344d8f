import { h, put, api, live, badge, fmtTime, errorBox, isAdmin } from '../app.js';

// workerTable lists workers (of a kind, when given) and follows their status live.
export async function workerTable(el, { kind = '', title = 'Workers' } = {}) {
  const table = h('div', { id: 'workers-table' });
  const msg = h('div', {});
  let rows = new Map();
  const draw = () => {
    const ws = [...rows.values()].sort((a, b) => a.id - b.id);
    put(table, ws.length ? h('table', {},
      h('tr', {}, ['Worker', 'Name', 'Kind', 'Status', 'Capabilities', 'Software', 'Last heartbeat', 'Licence', 'Current units'].map((t) => h('th', {}, t))),
      ws.map((w) => h('tr', { 'data-worker': w.id },
        h('td', {}, '#' + w.id), h('td', {}, w.name), h('td', {}, w.kind), h('td', { 'data-status-of': w.id }, badge(w.status), w.drained_at ? [' ', h('span', { class: 'badge', 'data-drained': w.id, title: 'since ' + fmtTime(w.drained_at) }, 'drained')] : null, ' ',
          // A drained worker leases nothing new and finishes what it runs (POST .../drain, .../undrain).
          h('button', { 'data-drain': w.id, title: w.drained_at ? 'let it lease units again' : 'lease it no new units; those it runs finish', onclick: async () => {
            try { const nw = await api('POST', `/api/v1/workers/${w.id}/${w.drained_at ? 'undrain' : 'drain'}`); rows.set(nw.id, nw); draw(); } catch (err) { put(msg, errorBox(err)); }
          } }, w.drained_at ? 'undrain' : 'drain'),
          w.status === 'offline' ? [' ', h('button', { class: 'danger', onclick: async () => {
            try { await api('DELETE', '/api/v1/workers/' + w.id); rows.delete(w.id); draw(); } catch (err) { put(msg, errorBox(err)); }
          } }, 'remove')] : null),
        h('td', { class: 'wrap' }, (w.capabilities || []).join(', ') + ((w.tags || []).length ? ' · tags ' + w.tags.join(', ') : '')),
        h('td', { class: 'wrap' }, software(w.info)), h('td', {}, fmtTime(w.last_heartbeat)),
        h('td', {}, w.licence ? `${w.licence}${w.licence_expires ? ' until ' + fmtTime(w.licence_expires) : ''} ` : '– ',
          isAdmin() ? h('button', { 'data-licence': w.id, onclick: async () => {
            const licence = prompt(`Licence for ${w.name} (empty revokes it)`, w.licence || '');
            if (licence === null) return;
            const until = licence ? prompt('Expires (YYYY-MM-DD, empty: never)', w.licence_expires ? w.licence_expires.slice(0, 10) : '') : '';
            try {
              const nw = await api('PUT', `/api/v1/workers/${w.id}/licence`, { licence, expires_at: until ? new Date(until + 'T00:00:00Z').toISOString() : null });
              rows.set(nw.id, nw); draw();
            } catch (err) { put(msg, errorBox(err)); }
          } }, 'licence') : null),
        h('td', { class: 'wrap', 'data-units': w.id }, w.status === 'busy' ? h('button', { onclick: async (e) => {
          const r = await api('GET', `/api/v1/workers/${w.id}/units?limit=50`);
          put(e.target.parentElement, r.units.length ? r.units.map((u) => h('div', {}, h('a', { href: '/jobs/' + u.job_id, 'data-nav': '' }, `job #${u.job_id}`), ` unit #${u.id} ${Math.round(u.progress)}%`)) : 'none');
        } }, 'show') : '–')))) : h('p', { class: 'muted' }, 'No workers registered.'));
  };
  const kinds = kind ? kind.split(',') : [];
  const r = await api('GET', '/api/v1/workers?limit=1000' + (kinds.length === 1 ? '&kind=' + encodeURIComponent(kind) : ''));
  rows = new Map(r.workers.filter((w) => !kinds.length || kinds.includes(w.kind)).map((w) => [w.id, w]));
  put(el, h('h1', {}, title), msg, table);
  draw();
  live({}, {
    worker: (w) => { if (!kinds.length || kinds.includes(w.kind)) { rows.set(w.id, w); draw(); } },
    worker_removed: (w) => { rows.delete(w.id); draw(); },
  });
}

function software(info) {
  if (!info || typeof info !== 'object') return '';
  const sw = info.software || info.Software;
  if (sw && typeof sw === 'object') return Object.entries(sw).map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ');
  return [info.host || info.hostname, info.os].filter(Boolean).join(' · ');
}

export default {
  path: /^\/workers\/?$/, title: 'Workers', nav: '/workers',
  render: ({ main }) => workerTable(main),
};
