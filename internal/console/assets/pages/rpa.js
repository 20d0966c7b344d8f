import { h, put } from '../app.js';
import { jobList } from './jobs.js';
import { workerTable } from './workers.js';
import { scheduleEditor } from './schedules.js';
import { collectionTable } from './collections.js';

const TABS = [
  ['robots', 'Robots and studios', (el) => workerTable(el, { kind: 'robot,studio', title: 'Robots and studios' })],
  ['jobs', 'Jobs', (el, query) => jobList(el, { fixed: { kind: 'rpa.job' }, query, title: 'RPA jobs' })],
  ['queues', 'Work queues', (el, query) => jobList(el, { fixed: { kind: 'rpa.queue' }, query, title: 'Work queues (a queue\'s page lists its items)' })],
  ['schedules', 'Schedules', (el) => scheduleEditor(el, { kind: 'rpa.job', title: 'RPA schedules' })],
  // The RPA facade's own things, offered as native collections (native.Collection).
  ['processes', 'Processes', async (el) => {
    const procs = h('div', {}), versions = h('div', {});
    put(el, procs, versions);
    await Promise.all([collectionTable(procs, 'rpa.processes', { title: 'Processes' }),
      collectionTable(versions, 'rpa.versions', { title: 'Versions', heading: 'h2' })]);
  }],
  ['assets', 'Assets', (el) => collectionTable(el, 'rpa.assets', { title: 'Assets (values of password assets are never listed)' })],
  ['files', 'Shared files', (el) => collectionTable(el, 'rpa.files', { title: 'Shared files' })],
];

// RPA: robots, jobs, queues and schedules through the native API.
export default {
  path: /^\/rpa(?:\/(\w+))?\/?$/, title: 'RPA', nav: '/rpa', dialect: 'rpa',
  async render({ main, params, query }) {
    const tab = TABS.find((t) => t[0] === params[0]) || TABS[0];
    const body = h('div', {});
    put(main, h('div', { class: 'tabs' }, TABS.map(([k, label]) => h('a', { href: '/rpa/' + k, 'data-nav': '', class: k === tab[0] ? 'active' : '' }, label))), body);
    await tab[2](body, query);
  },
};
