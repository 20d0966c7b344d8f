import { h, fmtTime } from '../app.js';
import { collectionTable } from './collections.js';

// files plays each of a recording's files in place: the slice is the account's blob (the native blob route).
function files(it) {
  return h('div', {}, it.files.map((f) => h('div', { class: 'file' },
    h('button', {
      'data-play': f.name, onclick: (e) => {
        const audio = f.name.endsWith('.mp3');
        e.target.replaceWith(h(audio ? 'audio' : 'video', { src: f.url, controls: true, autoplay: true, preload: 'metadata', style: { maxWidth: '360px' } }));
      },
    }, `▶ ${f.name}`),
    ' ', h('a', { href: f.url, download: f.name }, 'download'), h('span', { class: 'muted' }, ` ${f.size >= 1048576 ? (f.size / 1048576).toFixed(1) + ' MB' : Math.ceil(f.size / 1024) + ' KB'}`))));
}

// Cloud recording: each recording's status, app and group, times, and its files played in place;
// the recording's job page (units, logs, events) is a click away.
export default {
  path: /^\/recordings\/?$/, title: 'Recordings', nav: '/recordings', dialect: 'recording',
  render: ({ main }) => collectionTable(main, 'recording.recordings', {
    title: 'Recordings',
    columns: ['id', 'file_name', 'status', 'app_id', 'group_id', 'created_at', 'started_at', 'stopped_at', 'duration_ms', 'files'],
    cells: {
      id: (it) => h('a', { href: `/jobs/${it.id}`, 'data-nav': '' }, String(it.id)),
      status: (it) => h('span', { class: 'badge', 'data-status': it.status, title: it.reason || '' }, it.status + (it.paused ? ' (paused)' : '')),
      created_at: (it) => fmtTime(it.created_at), started_at: (it) => fmtTime(it.started_at), stopped_at: (it) => fmtTime(it.stopped_at),
      duration_ms: (it) => it.duration_ms ? `${Math.round(it.duration_ms / 1000)} s` : '–',
      files,
    },
  }),
};
