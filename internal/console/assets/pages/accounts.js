import { h, put, api, config, money, fmtTime, errorBox, isAdmin, account } from '../app.js';

// Accounts: the list (an admin's: every one), and for the chosen one its funds, prices, limits,
// tokens and dialect keys (a secret is shown once, when made); for an admin the render catalog.
export default {
  path: /^\/accounts(?:\/(\d+))?\/?$/, title: 'Accounts', nav: '/accounts',
  async render({ main, params }) {
    const r = await api('GET', '/api/v1/accounts?limit=1000');
    const id = Number(params[0]) || (account() && account().id);
    const detail = h('div', { id: 'account-detail' });
    put(main, h('h1', {}, 'Accounts'),
      h('table', { id: 'accounts-table' }, h('tr', {}, ['Account', 'Name', 'Role', 'Parent', 'Balance', 'Coupon', 'Credit', 'Quota'].map((t) => h('th', {}, t))),
        r.accounts.map((a) => h('tr', { 'data-account': a.id }, h('td', {}, h('a', { href: '/accounts/' + a.id, 'data-nav': '' }, '#' + a.id)), h('td', {}, a.name), h('td', {}, a.role),
          h('td', {}, a.parent_id ? '#' + a.parent_id : '–'), h('td', {}, money(a.balance_milli)), h('td', {}, money(a.coupon_milli)), h('td', {}, money(a.credit_milli)), h('td', {}, String(a.quota))))),
      isAdmin() ? createAccount() : null, detail, isAdmin() ? catalogEditor() : null);
    const a = r.accounts.find((x) => x.id === id);
    if (a) await accountDetail(detail, a);
  },
};

function createAccount() {
  const name = h('input', { placeholder: 'name' });
  const parent = h('input', { placeholder: 'parent id (optional)', size: 8 });
  const msg = h('span', {});
  return h('div', { class: 'toolbar card' }, 'New account', name, parent, h('button', { onclick: async () => {
    try { const a = await api('POST', '/api/v1/accounts', { name: name.value, parent_id: Number(parent.value) || 0 }); put(msg, h('span', { class: 'ok' }, `created #${a.id}`)); }
    catch (err) { put(msg, errorBox(err)); }
  } }, 'Create'), msg);
}

async function accountDetail(el, a) {
  const secret = h('div', { id: 'secret-once' });
  const tokens = h('div', { id: 'tokens' });
  const funds = h('div', {});
  const prices = h('div', {});
  const limits = h('div', {});
  async function loadTokens() {
    const t = await api('GET', `/api/v1/accounts/${a.id}/tokens?limit=1000`);
    put(tokens, h('table', {}, h('tr', {}, ['Id', 'Kind', 'Key id', 'Label', 'Created', 'Expires', 'Revoked', ''].map((x) => h('th', {}, x))),
      t.tokens.map((c) => h('tr', { 'data-token': c.id }, h('td', {}, '#' + c.id), h('td', {}, c.kind), h('td', {}, h('code', {}, c.key_id)), h('td', {}, c.label || ''),
        h('td', {}, fmtTime(c.created_at)), h('td', {}, c.expires_at ? fmtTime(c.expires_at) : '–'), h('td', {}, c.revoked_at ? fmtTime(c.revoked_at) : '–'),
        h('td', {}, c.revoked_at ? '' : h('button', { class: 'danger', onclick: async () => { await api('DELETE', `/api/v1/accounts/${a.id}/tokens/${c.id}`); loadTokens(); } }, 'revoke'))))));
  }
  // showOnce shows a secret with a warning; it is not kept anywhere, so leaving the page loses it.
  const showOnce = (title, fields) => put(secret, h('div', { class: 'card' }, h('h2', {}, title),
    h('p', { class: 'err' }, 'Copy it now: it is shown this once and cannot be read again.'),
    Object.entries(fields).map(([k, v]) => h('div', {}, h('b', {}, k + ': '), h('span', { class: 'secret', 'data-secret': k }, String(v)))),
    h('p', {}, h('button', { id: 'secret-done', onclick: () => put(secret) }, 'Done'))));
  const tokenKind = h('select', { id: 'token-kind' }, ['admin', 'agent'].map((k) => h('option', { value: k }, k)));
  const tokenLabel = h('input', { placeholder: 'label', id: 'token-label' });
  const keyKind = h('select', { id: 'key-kind' }, (config.dialects || []).map((k) => h('option', { value: k }, k)));
  const keyName = h('input', { placeholder: 'user name (rpa)', id: 'key-name', size: 12 });
  const msg = h('div', {});
  put(el, h('h2', {}, `Account #${a.id} ${a.name}`), msg, secret,
    h('div', {},
      h('div', { class: 'card' }, h('h2', {}, 'Tokens and keys'),
        h('div', { class: 'toolbar' }, 'Token', tokenKind, tokenLabel, h('button', { id: 'token-create', onclick: async () => {
          try { const t = await api('POST', `/api/v1/accounts/${a.id}/tokens`, { kind: tokenKind.value, label: tokenLabel.value }); showOnce(`New ${t.kind} token`, { token: t.token }); loadTokens(); }
          catch (err) { put(msg, errorBox(err)); }
        } }, 'Create token')),
        h('div', { class: 'toolbar' }, 'Dialect key', keyKind, keyName, h('button', { id: 'key-create', onclick: async () => {
          try { const k = await api('POST', `/api/v1/accounts/${a.id}/keys`, { kind: keyKind.value, name: keyName.value }); showOnce(`New ${k.kind} key`, k.key); loadTokens(); }
          catch (err) { put(msg, errorBox(err)); }
        } }, 'Create key')), tokens),
      h('div', { class: 'grid2' }, funds, prices), limits));
  if (isAdmin()) {
    const bal = h('input', { type: 'number', step: '0.01', placeholder: 'balance +/-', id: 'funds-balance', size: 8 });
    const cou = h('input', { type: 'number', step: '0.01', placeholder: 'coupon +/-', size: 8 });
    const note = h('input', { placeholder: 'note' });
    const fm = h('span', {});
    put(funds, h('div', { class: 'card' }, h('h2', {}, 'Funds'),
      h('p', {}, `Balance ${money(a.balance_milli)} · coupon ${money(a.coupon_milli)} · credit ${money(a.credit_milli)} · quota ${a.quota}`),
      h('div', { class: 'toolbar' }, bal, cou, note, h('button', { onclick: async () => {
        try {
          const n = await api('POST', `/api/v1/accounts/${a.id}/funds`, { balance_milli: Math.round((Number(bal.value) || 0) * 1000), coupon_milli: Math.round((Number(cou.value) || 0) * 1000), note: note.value });
          put(fm, h('span', { class: 'ok' }, `balance now ${money(n.balance_milli)}`));
        } catch (err) { put(fm, errorBox(err)); }
      } }, 'Add')), fm));
    if ((config.dialects || []).includes('render')) {
      try {
        const s = await api('GET', `/api/v1/accounts/${a.id}/settings/render`);
        const cpu = h('input', { type: 'number', step: '0.01', value: s.cpuPrice, size: 6 });
        const gpu = h('input', { type: 'number', step: '0.01', value: s.gpuPrice, size: 6 });
        const pm = h('span', {});
        put(prices, h('div', { class: 'card' }, h('h2', {}, 'Render prices (per node-hour)'),
          h('div', { class: 'toolbar' }, 'CPU', cpu, 'GPU', gpu, h('button', { onclick: async () => {
            try { await api('PATCH', `/api/v1/accounts/${a.id}/settings/render`, { cpuPrice: Number(cpu.value), gpuPrice: Number(gpu.value) }); put(pm, h('span', { class: 'ok' }, 'saved')); }
            catch (err) { put(pm, errorBox(err)); }
          } }, 'Save')), pm));
      } catch { /* the setting is not offered */ }
    }
  }
  try {
    const l = await api('GET', `/api/v1/accounts/${a.id}/limits`);
    const upj = h('input', { type: 'number', value: l.units_per_job, size: 8, disabled: !isAdmin() });
    const jif = h('input', { type: 'number', value: l.jobs_in_flight, size: 8, disabled: !isAdmin() });
    const lm = h('span', {});
    put(limits, h('div', { class: 'card' }, h('h2', {}, 'Limits'), h('div', { class: 'toolbar' }, 'units per job', upj, 'unfinished jobs', jif,
      isAdmin() ? h('button', { onclick: async () => {
        try { await api('PATCH', `/api/v1/accounts/${a.id}/limits`, { units_per_job: Number(upj.value), jobs_in_flight: Number(jif.value) }); put(lm, h('span', { class: 'ok' }, 'saved')); }
        catch (err) { put(lm, errorBox(err)); }
      } }, 'Save') : null), lm));
  } catch (err) { put(limits, errorBox(err)); }
  await loadTokens();
}

// catalogEditor edits the render catalog whole; the server validates it and its error is shown in place.
function catalogEditor() {
  if (!(config.dialects || []).includes('render')) return null;
  const box = h('div', { class: 'card', id: 'catalog' });
  const text = h('textarea', { id: 'catalog-json', rows: 14 });
  const msg = h('div', { id: 'catalog-msg' });
  api('GET', '/api/v1/settings/render-catalog').then((doc) => { text.value = JSON.stringify(doc, null, 2); }).catch((err) => put(msg, errorBox(err)));
  box.append(h('h2', {}, 'Render catalog (software, versions, plugins, error codes)'), text,
    h('p', {}, h('button', { class: 'primary', id: 'catalog-save', onclick: async () => {
      let doc;
      try { doc = JSON.parse(text.value); } catch (err) { put(msg, errorBox('not JSON: ' + err.message)); return; }
      try { await api('PUT', '/api/v1/settings/render-catalog', doc); put(msg, h('span', { class: 'ok' }, 'saved')); }
      catch (err) { put(msg, errorBox(err)); }
    } }, 'Save catalog')), msg);
  return box;
}
