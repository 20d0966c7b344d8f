import { h, put } from '../app.js';

// renderingNow shows, in el, what each running unit of a job (and of its children: a render task's
// frames) renders now: the live stream's image of the unit (a frame's progress image while it
// renders, then its thumbnail), replaced when a new one lands. It returns update(running), to call
// with each live message's running units; update answers whether a unit's outputs changed (a frame
// of a block finished) or a unit stopped running, so that the page reloads its units and frame grid
// (a render task's frames run in its children, whose counts its own do not show).
export function renderingNow(el) {
  const shown = new Map(); // unit id -> {fig, img, cap, hash}
  const outputs = new Map(); // unit id -> output count last seen
  return function update(running) {
    let changed = false;
    const now = new Set();
    for (const r of running || []) {
      if (outputs.get(r.id) !== r.outputs && r.outputs) changed = true;
      outputs.set(r.id, r.outputs);
      if (!r.image) continue;
      now.add(r.id);
      let s = shown.get(r.id);
      if (!s) {
        const img = h('img', { alt: 'unit ' + r.id });
        const cap = h('figcaption', {});
        const fig = h('figure', { 'data-live-unit': r.id, onclick: () => {
          const ov = h('div', { class: 'overlay', id: 'full-frame', onclick: () => ov.remove() }, h('img', { src: img.src, alt: cap.textContent }));
          document.body.append(ov);
        } }, img, cap);
        s = { fig, img, cap, hash: '' };
        shown.set(r.id, s);
      }
      if (s.hash !== r.image) {
        s.hash = r.image;
        s.img.src = '/api/v1/blobs/' + r.image;
        s.fig.dataset.image = r.image_name;
      }
      const [kind, frame] = r.image_name.split('.');
      const what = frame ? 'frame ' + frame : (r.name || '#' + r.id);
      s.cap.textContent = `${what} · ${kind === 'progress' ? 'rendering' : 'done'} · ${Math.round(r.progress)}%`;
    }
    for (const id of [...shown.keys()]) if (!now.has(id)) shown.delete(id);
    // A unit that left running (done, failed) changed what the page lists too.
    for (const id of [...outputs.keys()]) if (!(running || []).some((r) => r.id === id)) { outputs.delete(id); changed = true; }
    if (shown.size) put(el, h('h2', {}, 'Rendering now'), h('div', { class: 'thumbs', id: 'rendering-now' }, [...shown.values()].map((s) => s.fig)));
    else put(el);
    return changed;
  };
}
