import { h, put, api, live, debounce, fmtTime, errorBox, account } from '../app.js';
import { collectionTable } from './collections.js';

const STATUSES = ['', 'NOT_START', 'SUBMITTED', 'QUEUED', 'IN_PROGRESS', 'SUCCESS', 'FAILURE', 'UNKNOWN'];
const status = (it) => h('span', { class: 'badge s-' + ({ SUCCESS: 'succeeded', FAILURE: 'failed', IN_PROGRESS: 'running', QUEUED: 'queued' }[it.status] || ''),
  'data-status': it.status, title: it.fail_reason || '', style: { whiteSpace: 'nowrap' } }, it.status + (it.progress && it.progress !== '0%' && it.status !== 'SUCCESS' ? ` ${it.progress}` : ''));

// ledger shows the quota ledger of a user's account (the native ledger route, which the account, its
// tenant and an admin may read): each charge, refund and top-up, the task it names.
async function ledger(el, user) {
  put(el, h('h2', {}, `Quota ledger: ${user.username}`), h('p', { class: 'muted' }, 'loading…'));
  let r;
  try { r = await api('GET', `/api/v1/accounts/${user.account_id}/ledger?limit=100`); } catch (err) { put(el, h('h2', {}, 'Quota ledger'), errorBox(err)); return; }
  const task = (ref) => (ref || '').replace(/^refund:/, '').replace(/^aitask:/, '');
  put(el, h('h2', {}, `Quota ledger: ${user.username}`, h('span', { class: 'muted' }, ` (${r.total} lines)`)),
    h('table', { 'data-ledger': user.account_id }, h('tr', {}, ['time', 'kind', 'quota', 'task', 'note'].map((c) => h('th', {}, c))),
      r.lines.map((l) => {
        const q = -(l.coupon_milli + l.balance_milli + l.credit_milli);
        return h('tr', { 'data-kind': l.kind, 'data-task': task(l.ref) }, h('td', {}, fmtTime(l.created_at)), h('td', {}, l.kind),
          h('td', { class: q < 0 ? 'err' : 'ok' }, (q > 0 ? '+' : '') + q), h('td', {}, task(l.ref) || '–'), h('td', { class: 'wrap' }, l.note || '–'));
      })));
}

// The AI task center: its generation tasks (filter by status; a search names a task id or a user),
// the upstream channels (never their keys; a disabled one says why), the users with their quota,
// and a user's quota ledger. Task changes reload the list live.
export default {
  path: /^\/aitasks\/?$/, title: 'AI tasks', nav: '/aitasks', dialect: 'aitasks',
  async render({ main }) {
    const tasks = h('div'), channels = h('div'), users = h('div'), book = h('div', { id: 'ai-ledger' });
    put(main, tasks, channels, users, book);
    const [t] = await Promise.all([
      collectionTable(tasks, 'aitasks.tasks', {
        title: 'AI tasks', filters: { status: STATUSES },
        columns: ['task_id', 'platform', 'action', 'model', 'status', 'username', 'channel', 'quota', 'refunded', 'submit_time', 'finish_time', 'fail_reason'],
        cells: {
          status, submit_time: (it) => fmtTime(it.submit_time), finish_time: (it) => fmtTime(it.finish_time),
          refunded: (it) => (it.refunded ? 'yes' : '–'), channel: (it) => it.channel || '–',
        },
      }),
      collectionTable(channels, 'aitasks.channels', {
        title: 'Channels', heading: 'h2',
        columns: ['id', 'name', 'platform', 'base_url', 'models', 'priority', 'weight', 'enabled', 'status_reason'],
        cells: {
          models: (it) => it.models.join(', ') || 'any',
          enabled: (it) => h('span', { class: 'badge ' + (it.enabled ? 's-succeeded' : 's-failed') }, it.enabled ? 'enabled' : 'disabled'),
          status_reason: (it) => it.status_reason || '–',
        },
      }),
      collectionTable(users, 'aitasks.users', {
        title: 'Users', heading: 'h2',
        columns: ['username', 'role', 'quota', 'used_quota', 'keys', 'keys_enabled', 'created_at'],
        cells: {
          username: (it) => h('a', { href: '#', 'data-user-ledger': it.account_id, onclick: (e) => { e.preventDefault(); ledger(book, it); } }, it.username),
          created_at: (it) => fmtTime(it.created_at),
        },
      }),
    ]);
    const me = account();
    const mine = me && (await api('GET', `/api/v1/collections/aitasks.users?limit=1&account_id=${me.id}`).catch(() => null));
    if (mine && mine.items.length && mine.items[0].account_id === me.id) ledger(book, mine.items[0]); // a user's own console
    else put(book, h('p', { class: 'muted' }, 'A user\'s name shows its quota ledger.'));
    const reload = debounce(() => t && t.reload(), 500);
    live({}, { event: (ev) => { if (ev.type.startsWith('job.')) reload(); } });
  },
};
