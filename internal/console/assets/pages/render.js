import { jobList } from './jobs.js';

// The render farm: its tasks (a task's page shows its children, frames, thumbnails and the
// restart of failed frames). A dialect's page is this small: a list fixed to its kinds, and the job
// page does the rest.
export default {
  path: /^\/render\/?$/, title: 'Render farm', nav: '/render', dialect: 'render',
  render: ({ main, query }) => jobList(main, { fixed: { kind: 'render.task' }, query, title: 'Render farm: tasks' }),
};
