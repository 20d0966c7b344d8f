import { h, put, api, live, badge, fmtTime } from '../app.js';

// The overview: units per kind and status, workers, ready units, throughput (units done per
// interval since the page opened, from the live stream) and recent failures.
export default {
  path: /^\/$|^\/overview$/, title: 'Overview', nav: '/',
  async render({ main }) {
    const [o, failed] = await Promise.all([
      api('GET', '/api/v1/overview'),
      api('GET', '/api/v1/jobs?status=failed,partial&limit=8'),
    ]);
    const kinds = h('div', { class: 'cards', id: 'kinds' });
    const workers = h('div', { class: 'card' });
    const chart = h('div', { class: 'card' });
    const points = [];
    const draw = (ov) => {
      put(kinds, ...Object.entries(ov.units || {}).map(([kind, c]) => h('div', { class: 'card', 'data-kind': kind },
        h('div', { class: 'muted' }, kind),
        h('div', { class: 'stat' }, String((c.queued || 0) + (c.running || 0)), h('small', { class: 'muted' }, ' to do')),
        ['queued', 'running', 'done', 'failed', 'paused'].filter((s) => c[s]).map((s) => h('div', {}, badge(s), ' ', String(c[s])))))
      );
      if (!Object.keys(ov.units || {}).length) put(kinds, h('p', { class: 'muted' }, 'No work yet.'));
      const w = ov.workers || {};
      put(workers, h('h2', {}, 'Workers'),
        h('div', { class: 'stat', id: 'workers-online' }, String((w.idle || 0) + (w.busy || 0)), h('small', { class: 'muted' }, ' online')),
        h('div', {}, ['idle', 'busy', 'offline'].map((s) => h('span', {}, badge(s), ` ${w[s] || 0}  `))),
        Object.keys(ov.ready || {}).length ? h('p', { class: 'muted' }, 'Ready: ' + Object.entries(ov.ready).map(([c, n]) => `${c} ${n}`).join(', ')) : null);
      const done = Object.values(ov.units || {}).reduce((a, c) => a + (c.done || 0), 0);
      points.push({ t: Date.now(), done });
      if (points.length > 60) points.shift();
      put(chart, h('h2', {}, 'Throughput (units done per update, live)'), sparkline(points));
    };
    draw(o);
    put(main, h('h1', {}, 'Overview'), kinds, h('div', { class: 'grid2' }, workers, chart),
      h('h2', {}, 'Recent failures'),
      failed.jobs.length ? h('table', {}, h('tr', {}, ['Job', 'Kind', 'Name', 'Status', 'Finished'].map((t) => h('th', {}, t))),
        failed.jobs.map((j) => h('tr', {}, h('td', {}, h('a', { href: '/jobs/' + j.id, 'data-nav': '' }, '#' + j.id)), h('td', {}, j.kind),
          h('td', { class: 'wrap' }, j.name || ''), h('td', {}, badge(j.status)), h('td', {}, fmtTime(j.finished_at)))))
        : h('p', { class: 'muted' }, 'None.'));
    live({ overview: 1 }, { overview: draw });
  },
};

// sparkline draws the units finished between successive snapshots as bars.
function sparkline(points) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'chart');
  svg.setAttribute('viewBox', '0 0 600 120');
  svg.setAttribute('preserveAspectRatio', 'none');
  const deltas = points.slice(1).map((p, i) => Math.max(0, p.done - points[i].done));
  const top = Math.max(1, ...deltas);
  deltas.forEach((d, i) => {
    const r = document.createElementNS(ns, 'rect');
    const hgt = (110 * d) / top;
    r.setAttribute('x', String(i * 10));
    r.setAttribute('y', String(115 - hgt));
    r.setAttribute('width', '8');
    r.setAttribute('height', String(hgt));
    r.setAttribute('fill', '#2f6fed');
    svg.append(r);
  });
  if (!deltas.length) {
    const t = document.createElementNS(ns, 'text');
    t.setAttribute('x', '10'); t.setAttribute('y', '60'); t.setAttribute('fill', '#6b7385');
    t.textContent = 'waiting for changes…';
    svg.append(t);
  }
  return svg;
}
