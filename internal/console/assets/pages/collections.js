import { h, put, api, debounce, errorBox } from '../app.js';

const PAGE = 50;

// collectionTable lists a dialect's own things (GET /api/v1/collections/{name}: a facade that
// implements native.Collection offers them): search, paging, columns from the items' fields unless
// given. A server whose facade offers no such collection says so.
// cells maps a column to a function drawing its cell (a link, a player) from the item; heading is
// the title's element (h2 for a second list on a page); filters maps a filter the collection takes
// to its choices (a select each, '' for any). It returns {reload}.
export async function collectionTable(el, name, { title = name, columns = null, cells = {}, heading = 'h1', filters = {} } = {}) {
  const offered = (await api('GET', '/api/v1/collections')).collections;
  if (!offered.includes(name)) {
    put(el, h(heading, {}, title), h('p', { class: 'muted', 'data-missing': name }, `This server's ${name.split('.')[0]} facade offers no ${name} list yet.`));
    return;
  }
  let offset = 0, search = '';
  const chosen = {};
  const table = h('div', { class: 'collection-table', 'data-collection': name });
  const info = h('span', { class: 'muted' });
  async function load() {
    let r;
    try { r = await api('GET', `/api/v1/collections/${encodeURIComponent(name)}?limit=${PAGE}&offset=${offset}` + (search ? '&search=' + encodeURIComponent(search) : '') +
      Object.entries(chosen).filter(([, v]) => v).map(([k, v]) => `&${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('')); }
    catch (err) { put(table, errorBox(err)); return; }
    const cols = columns || [...new Set(r.items.flatMap((it) => Object.keys(it).filter((k) => typeof it[k] !== 'object' || it[k] === null)))];
    info.textContent = r.total ? `${offset + 1}–${offset + r.items.length} of ${r.total}` : 'none';
    put(table, h('table', {}, h('tr', {}, cols.map((c) => h('th', {}, c))),
      r.items.map((it) => h('tr', { 'data-id': it.id }, cols.map((c) => h('td', { class: 'wrap' },
        cells[c] ? cells[c](it) : it[c] === undefined || it[c] === null ? '–' : String(it[c])))))),
    h('div', { class: 'toolbar' },
      h('button', { disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, '‹ newer'),
      h('button', { disabled: offset + PAGE >= r.total, onclick: () => { offset += PAGE; load(); } }, 'older ›')));
  }
  put(el, h(heading, {}, title), h('div', { class: 'toolbar' },
    h('input', { placeholder: 'search', oninput: debounce((e) => { search = e.target.value; offset = 0; load(); }, 250) }),
    Object.entries(filters).map(([k, choices]) => h('select', { 'data-filter': k, onchange: (e) => { chosen[k] = e.target.value; offset = 0; load(); } },
      choices.map((c) => h('option', { value: c }, c || `any ${k}`)))), info), table);
  await load();
  return { reload: load };
}
