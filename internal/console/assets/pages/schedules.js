import { h, put, api, badge, fmtTime, errorBox } from '../app.js';

// cronOf builds a Quartz cron (seconds first) from the helper's choice.
function cronOf(kind, a, b) {
  switch (kind) {
    case 'minutes': return `0 0/${Math.max(1, Number(a) || 5)} * * * ?`;
    case 'hourly': return `0 ${Number(a) || 0} * * * ?`;
    case 'daily': { const [hh, mm] = (a || '02:00').split(':'); return `0 ${Number(mm) || 0} ${Number(hh) || 0} * * ?`; }
    case 'weekly': { const [hh, mm] = (a || '02:00').split(':'); return `0 ${Number(mm) || 0} ${Number(hh) || 0} ? * ${b || 2}`; }
  }
  return '';
}

// cronHelper is a small form that writes a cron expression into target.
function cronHelper(target) {
  const kind = h('select', {}, [['minutes', 'every N minutes'], ['hourly', 'hourly at minute'], ['daily', 'daily at'], ['weekly', 'weekly on']].map(([v, t]) => h('option', { value: v }, t)));
  const a = h('input', { size: 6, placeholder: '5 / 02:00', id: 'cron-a' });
  const day = h('select', {}, ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].map((d, i) => h('option', { value: String(i + 1) }, d)));
  return h('div', { class: 'toolbar', id: 'cron-helper' }, h('span', { class: 'muted' }, 'Cron helper:'), kind, a, day,
    h('button', { type: 'button', id: 'cron-apply', onclick: () => { target.value = cronOf(kind.value, a.value, day.value); } }, 'use'),
    h('small', { class: 'muted' }, 'Quartz: sec min hour day month weekday (1 = Sunday)'));
}

// scheduleEditor lists schedules (of a job kind, when given) and creates or edits one in place.
export async function scheduleEditor(el, { kind = '', title = 'Schedules' } = {}) {
  const list = h('div', { id: 'schedules-table' });
  const form = h('div', {});
  async function load() {
    const r = await api('GET', '/api/v1/schedules?limit=1000' + (kind ? '&kind=' + encodeURIComponent(kind) : ''));
    put(list, r.schedules.length ? h('table', {},
      h('tr', {}, ['Schedule', 'Name', 'Cron', 'Time zone', 'Enabled', 'Next run', 'Last run', 'Account', ''].map((t) => h('th', {}, t))),
      r.schedules.map((s) => h('tr', { 'data-schedule': s.id }, h('td', {}, '#' + s.id), h('td', {}, s.name), h('td', {}, h('code', {}, s.cron)), h('td', {}, s.timezone || 'UTC'),
        h('td', {}, s.enabled ? badge('idle') : badge('paused')), h('td', { class: 'next-run' }, fmtTime(s.next_run)), h('td', {}, fmtTime(s.last_run)), h('td', {}, String(s.account_id)),
        h('td', {}, h('button', { 'data-edit': s.id, onclick: () => edit(s) }, 'edit'), ' ',
          h('button', { class: 'danger', onclick: async () => { if (confirm('Delete schedule?')) { await api('DELETE', '/api/v1/schedules/' + s.id); load(); } } }, 'delete')))))
      : h('p', { class: 'muted' }, 'No schedules.'));
  }
  function edit(s) {
    const isNew = !s;
    s = s || { name: '', cron: '0 0 2 * * ?', timezone: 'UTC', enabled: true, job: { kind: kind || 'batch', name: 'scheduled', units: [{ capability: 'shell', spec: { command: ['true'] } }] } };
    const name = h('input', { id: 'sched-name', value: s.name, size: 24 });
    const cron = h('input', { id: 'sched-cron', value: s.cron, size: 22 });
    const tz = h('input', { id: 'sched-tz', value: s.timezone || 'UTC', size: 16 });
    const enabled = h('input', { type: 'checkbox', id: 'sched-enabled', checked: s.enabled });
    const job = h('textarea', { id: 'sched-job' }, JSON.stringify(s.job, null, 2));
    const msg = h('div', { id: 'sched-msg' });
    put(form, h('div', { class: 'card', id: 'schedule-form' }, h('h2', {}, isNew ? 'New schedule' : `Edit schedule #${s.id}`),
      h('div', { class: 'toolbar' }, 'Name', name, 'Cron', cron, 'Time zone', tz, h('label', {}, enabled, ' enabled')), cronHelper(cron),
      h('div', { class: 'muted' }, 'Job template (JSON job spec)'), job,
      h('p', {}, h('button', { class: 'primary', id: 'sched-save', onclick: async () => {
        let tmpl;
        try { tmpl = JSON.parse(job.value); } catch (err) { put(msg, errorBox('job template: ' + err.message)); return; }
        const body = { name: name.value, cron: cron.value, timezone: tz.value, disabled: !enabled.checked, job: tmpl };
        try {
          const saved = isNew ? await api('POST', '/api/v1/schedules', body) : await api('PUT', '/api/v1/schedules/' + s.id, body);
          put(msg, h('span', { class: 'ok' }, `Saved; next run ${fmtTime(saved.next_run)}`));
          load();
        } catch (err) { put(msg, errorBox(err)); }
      } }, 'Save'), ' ', h('button', { onclick: () => put(form) }, 'Close')), msg));
  }
  put(el, h('h1', {}, title), h('div', { class: 'toolbar' }, h('button', { id: 'sched-new', onclick: () => edit(null) }, 'New schedule')), form, list);
  await load();
}

export default {
  path: /^\/schedules\/?$/, title: 'Schedules', nav: '/schedules',
  render: ({ main }) => scheduleEditor(main),
};
