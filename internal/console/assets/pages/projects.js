import { h, put, fmtTime } from '../app.js';
import { collectionTable } from './collections.js';

const jobLink = (it) => h('a', { href: `/jobs/${it.id}`, 'data-nav': '' }, String(it.id));

// The project service: template projects with their templates, the extended projects made from
// them, and every template's render history with its status (a render's job page shows its log).
export default {
  path: /^\/projects\/?$/, title: 'Projects', nav: '/projects', dialect: 'kms',
  async render({ main }) {
    const tps = h('div', {}), projects = h('div', {}), renders = h('div', {});
    put(main, tps, projects, renders);
    await Promise.all([
      collectionTable(tps, 'projects.template-projects', {
        title: 'Template projects',
        columns: ['name', 'display_name', 'templates', 'template_center', 'roles', 'webhook', 'max_deletes', 'updated_at'],
        cells: { updated_at: (it) => fmtTime(it.updated_at) },
      }),
      collectionTable(projects, 'projects.projects', {
        title: 'Extended projects', heading: 'h2',
        columns: ['name', 'display_name', 'template_project', 'appid', 'time_zone', 'created_by', 'created_at'],
        cells: { created_at: (it) => fmtTime(it.created_at) },
      }),
      collectionTable(renders, 'projects.renders', {
        title: 'Renders (search a template: project.template)', heading: 'h2',
        columns: ['id', 'template', 'status', 'created_at', 'finished_at', 'attempts', 'uploaded', 'unchanged', 'deleted', 'error'],
        cells: {
          id: jobLink, created_at: (it) => fmtTime(it.created_at), finished_at: (it) => fmtTime(it.finished_at),
          status: (it) => h('span', { class: 'badge', 'data-status': it.status }, it.status),
          error: (it) => it.error ? `${it.error_file ? `${it.error_file}:${it.error_line}: ` : ''}${it.error}` : '–',
        },
      }),
    ]);
  },
};
