// deepslide serve: the viewer. Lists the served slides (/api/slides), opens one in OpenSeadragon
// from its Deep Zoom descriptor, and draws the overlays from /api/slides/<id>/predictions and
// /annotations: a cell per window coloured by its class, a heatmap of one class's probability,
// the annotation polygons, the diagnosis and scores, a scale bar from the slide's mpp, and a
// window's probabilities on click. Plain JavaScript, no framework, nothing from the network.
// `#slide=<id>` opens a slide; `&selftest=1` also toggles the layers and reports what it saw in
// #selftest (the headless browser test reads it).
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const MAX_CANVAS = 4096;  // longer side of an overlay canvas, whatever the slide's size
  const state = { slides: [], slide: null, preds: null, annotations: null, grid: null,
                  tilesLoaded: 0, tilesFailed: 0 };
  let viewer = null;

  async function getJSON(url) {
    const r = await fetch(url, { credentials: 'same-origin' });
    if (!r.ok) throw new Error(url + ': ' + r.status + ' ' + (await r.text()).trim());
    return r.json();
  }

  function hashParams() {
    const p = new URLSearchParams(location.hash.replace(/^#/, ''));
    return { slide: p.get('slide'), selftest: p.get('selftest') === '1' };
  }

  function status(text) { $('status').textContent = text || ''; }

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- slide list ----
  function renderList() {
    const ul = $('slides');
    ul.replaceChildren();
    for (const s of state.slides) {
      const li = el('li', { 'data-id': s.id }, s.name);
      if (s.diagnosis) li.append(' ', el('span', { class: 'dx' }, '(' + s.diagnosis + ')'));
      li.addEventListener('click', () => { location.hash = 'slide=' + encodeURIComponent(s.id); });
      ul.append(li);
    }
  }

  // ---- the grid of windows: each window drawn as the grid cell at its centre ----
  function windowGrid(p) {
    const side = p.window_side, w = p.windows;
    let step = side;
    const xs = new Set(w.map((r) => r[0])), ys = new Set(w.map((r) => r[1]));
    for (const set of [xs, ys]) {
      const v = [...set].sort((a, b) => a - b);
      for (let i = 1; i < v.length; i++) if (v[i] - v[i - 1] > 0) step = Math.min(step, v[i] - v[i - 1]);
    }
    return { side, step, off: (side - step) / 2 };
  }

  function overlayCanvas(s) {
    const scale = Math.min(1, MAX_CANVAS / Math.max(s.width, s.height));
    const c = el('canvas', { class: 'overlay-canvas' });
    c.width = Math.max(1, Math.round(s.width * scale));
    c.height = Math.max(1, Math.round(s.height * scale));
    return { c, ctx: c.getContext('2d'), scale };
  }

  function jet(v) {  // blue .. cyan .. yellow .. red, as the heatmap PNGs of `visualize`
    const f = (x) => Math.round(255 * Math.min(1, Math.max(0, x)));
    return [f(1.5 - Math.abs(4 * v - 3)), f(1.5 - Math.abs(4 * v - 2)), f(1.5 - Math.abs(4 * v - 1))];
  }

  // outline: DeepSlide's colours include white, which needs an edge to show on a slide
  function drawCells(s, fill, outline) {
    const { c, ctx, scale } = overlayCanvas(s);
    const g = state.grid, side = Math.max(1, g.step * scale);
    ctx.strokeStyle = 'rgba(0,0,0,0.35)';
    ctx.lineWidth = 1;
    for (const r of state.preds.windows) {
      ctx.fillStyle = fill(r);
      ctx.fillRect((r[0] + g.off) * scale, (r[1] + g.off) * scale, side, side);
      if (outline && side >= 4) ctx.strokeRect((r[0] + g.off) * scale + 0.5, (r[1] + g.off) * scale + 0.5, side - 1, side - 1);
    }
    return c;
  }

  function addOverlay(name, element) {
    const s = state.slide;
    element.id = 'overlay-' + name;
    viewer.addOverlay({ element, location: viewer.world.getItemAt(0).imageToViewportRectangle(0, 0, s.width, s.height) });
  }

  function removeOverlay(name) {
    const e = $('overlay-' + name);
    if (e) viewer.removeOverlay(e);
  }

  function updateSquares() {
    removeOverlay('squares');
    if (!state.preds || !state.preds.windows.length || !$('show-squares').checked) return;
    const colors = state.preds.colors;
    const c = drawCells(state.slide, (r) => colors[r[2]] + '80', true);
    addOverlay('squares', c);
  }

  function updateHeatmap() {
    removeOverlay('heatmap');
    const k = $('heatmap-class').value;
    if (!state.preds || k === '' || !state.preds.windows.length) return;
    const c = drawCells(state.slide, (r) => 'rgb(' + jet(r[3 + Number(k)]).join(',') + ')', false);
    c.style.opacity = String($('heatmap-opacity').value / 100);
    addOverlay('heatmap', c);
  }

  function classColor(name) {  // annotation classes: a stable colour per name
    let h = 0;
    for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return 'hsl(' + (h % 360) + ',80%,40%)';
  }

  function updateAnnotations() {
    removeOverlay('annotations');
    const fc = state.annotations;
    if (!fc || !fc.features.length || !$('show-annotations').checked) return;
    const s = state.slide, ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'overlay-svg');
    svg.setAttribute('viewBox', '0 0 ' + s.width + ' ' + s.height);
    svg.setAttribute('preserveAspectRatio', 'none');
    for (const f of fc.features) {
      const path = document.createElementNS(ns, 'path');
      path.setAttribute('d', f.geometry.coordinates.map((ring) => 'M' + ring.map((p) => p[0] + ' ' + p[1]).join('L') + 'Z').join(''));
      path.setAttribute('fill-rule', 'evenodd');
      path.setAttribute('fill', 'none');
      path.setAttribute('stroke', classColor(f.properties.name || ''));
      path.setAttribute('stroke-width', '3');
      path.setAttribute('vector-effect', 'non-scaling-stroke');
      const t = document.createElementNS(ns, 'title');
      t.textContent = f.properties.name || '(no class)';
      path.append(t);
      svg.append(path);
    }
    addOverlay('annotations', svg);
  }

  // ---- panels ----
  function renderLegendAndDiagnosis() {
    const p = state.preds, sel = $('heatmap-class'), legend = $('legend'), dx = $('diagnosis');
    sel.replaceChildren(el('option', { value: '' }, 'none'));
    legend.replaceChildren();
    if (!p || !p.source) { dx.textContent = 'no predictions for this slide'; return; }
    if (p.refused) { dx.textContent = 'predictions not shown: ' + p.refused; return; }
    const counts = p.classes.map(() => 0);
    for (const r of p.windows) counts[r[2]]++;
    p.classes.forEach((c, k) => {
      sel.append(el('option', { value: String(k) }, c));
      const item = el('span');
      const sw = el('i');
      sw.style.background = p.colors[k];
      item.append(sw, c + ' (' + counts[k] + ')');
      legend.append(item);
    });
    dx.replaceChildren();
    if (p.diagnosis && p.diagnosis.diagnosis === null) {
      dx.append(el('div', {}, 'no diagnosis: no window counted (' + p.diagnosis.windows + ' windows)'));
    } else if (p.diagnosis) {
      dx.append(el('div', {}, 'diagnosis: ' + p.diagnosis.diagnosis + ' (' + (100 * p.diagnosis.confidence).toFixed(1) + '%)'));
      dx.append(probTable(Object.entries(p.diagnosis.scores)));
      if (p.diagnosis.tissue_mm2 !== null && p.diagnosis.tissue_mm2 !== undefined)
        dx.append(el('div', { class: 'small' }, 'tissue ' + p.diagnosis.tissue_mm2.toFixed(2) + ' mm²'));
    } else {
      dx.append(el('div', {}, p.windows.length + ' windows predicted (' + p.source + '), no slide-level diagnosis'));
    }
  }

  function probTable(pairs) {
    const t = el('table', { class: 'probs' });
    for (const [name, v] of pairs) {
      const tr = el('tr');
      const bar = el('div', { class: 'bar' });
      bar.style.width = (100 * v).toFixed(1) + '%';
      const td = el('td', { class: 'v' });
      td.append(bar);
      tr.append(el('td', {}, name), el('td', {}, (100 * v).toFixed(1) + '%'), td);
      t.append(tr);
    }
    return t;
  }

  function onClick(e) {
    if (!e.quick || !state.preds || !state.preds.windows.length) return;
    const p = viewer.viewport.viewerElementToImageCoordinates(e.position), g = state.grid;
    const hit = state.preds.windows.find((r) => p.x >= r[0] + g.off && p.x < r[0] + g.off + g.step &&
                                                p.y >= r[1] + g.off && p.y < r[1] + g.off + g.step);
    const box = $('window');
    if (!hit) { box.textContent = 'no window at (' + Math.round(p.x) + ', ' + Math.round(p.y) + ')'; return; }
    box.replaceChildren(el('div', {}, 'window at x ' + hit[0] + ', y ' + hit[1] + ' (side ' + g.side + ' px): ' +
                                      state.preds.classes[hit[2]]));
    box.append(probTable(state.preds.classes.map((c, k) => [c, hit[3 + k]])));
  }

  // ---- scale bar ----
  function updateScaleBar() {
    const s = state.slide, bar = $('scalebar');
    if (!s || !s.mpp_x || !viewer.world.getItemCount()) { bar.hidden = true; return; }
    const zoom = viewer.world.getItemAt(0).viewportToImageZoom(viewer.viewport.getZoom(true));
    const umPerPx = s.mpp_x / zoom;
    let len = 1;
    for (const m of [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000])
      if (m / umPerPx <= 150) len = m;
    bar.hidden = false;
    $('scalebar-bar').style.width = Math.round(len / umPerPx) + 'px';
    $('scalebar-label').textContent = len >= 1000 ? len / 1000 + ' mm' : len + ' µm';
  }

  // ---- opening a slide ----
  async function openSlide(id) {
    const s = state.slides.find((x) => x.id === id) || state.slides[0];
    if (!s) { status('no slides'); return; }
    state.slide = s;
    for (const li of $('slides').children) li.classList.toggle('current', li.dataset.id === s.id);
    $('window').textContent = 'click a window';
    viewer.clearOverlays();
    const opened = new Promise((resolve) => viewer.addOnceHandler('open', resolve));
    viewer.open(s.dzi);
    try {
      const [p, a] = await Promise.all([getJSON('/api/slides/' + s.id + '/predictions'),
                                        getJSON('/api/slides/' + s.id + '/annotations')]);
      state.preds = p;
      state.annotations = a;
      state.grid = p.windows.length ? windowGrid(p) : null;
      status('');
    } catch (err) {
      state.preds = null;
      state.annotations = null;
      status(String(err.message || err));
    }
    await opened;
    renderLegendAndDiagnosis();
    updateSquares();
    updateHeatmap();
    updateAnnotations();
    updateScaleBar();
  }

  // ---- self-test: what the headless browser test checks ----
  async function selftest() {
    const visible = (name) => { const e = $('overlay-' + name); return !!e && e.style.display !== 'none'; };
    const wait = (ms) => new Promise((r) => setTimeout(r, ms));
    for (let i = 0; i < 100 && state.tilesLoaded === 0; i++) await wait(100);
    await wait(500);
    const out = { slide: state.slide && state.slide.id, tilesLoaded: state.tilesLoaded, tilesFailed: state.tilesFailed,
                  windows: state.preds ? state.preds.windows.length : 0, squaresOn: visible('squares') };
    $('show-squares').click();
    out.squaresAfterToggle = visible('squares');
    $('show-squares').click();
    out.squaresAfterSecondToggle = visible('squares');
    const sel = $('heatmap-class');
    sel.value = sel.options.length > 1 ? sel.options[1].value : '';
    sel.dispatchEvent(new Event('change'));
    out.heatmapOn = visible('heatmap');
    out.annotationPaths = $('overlay-annotations') ? $('overlay-annotations').querySelectorAll('path').length : 0;
    $('show-annotations').click();
    out.annotationsAfterToggle = visible('annotations');
    if (state.preds && state.preds.windows.length) {  // a click at the centre of the first window
      const w = state.preds.windows[0], g = state.grid;
      const at = new OpenSeadragon.Point(w[0] + g.off + g.step / 2, w[1] + g.off + g.step / 2);
      onClick({ quick: true, position: viewer.viewport.imageToViewerElementCoordinates(at) });
      out.clickedWindow = [w[0], w[1]];
      out.clickText = $('window').textContent;
    }
    $('show-annotations').click();
    out.diagnosisText = $('diagnosis').textContent;
    out.scaleBar = $('scalebar').hidden ? '' : $('scalebar-label').textContent;
    $('selftest').textContent = JSON.stringify(out);
    document.title = 'selftest-done';
  }

  async function main() {
    viewer = OpenSeadragon({ id: 'viewer', showNavigationControl: false, showNavigator: true,
                             navigatorPosition: 'TOP_RIGHT', drawer: 'canvas', maxZoomPixelRatio: 2,
                             gestureSettingsMouse: { clickToZoom: false } });
    viewer.addHandler('tile-loaded', () => { state.tilesLoaded++; });
    viewer.addHandler('tile-load-failed', () => { state.tilesFailed++; });
    viewer.addHandler('canvas-click', onClick);
    viewer.addHandler('animation', updateScaleBar);
    viewer.addHandler('resize', updateScaleBar);
    $('show-squares').addEventListener('change', updateSquares);
    $('heatmap-class').addEventListener('change', updateHeatmap);
    $('heatmap-opacity').addEventListener('input', () => {
      const e = $('overlay-heatmap');
      if (e) e.style.opacity = String($('heatmap-opacity').value / 100);
    });
    $('show-annotations').addEventListener('change', updateAnnotations);
    window.addEventListener('hashchange', () => openSlide(hashParams().slide));
    try {
      state.slides = await getJSON('/api/slides');
    } catch (err) {
      status(String(err.message || err));
      return;
    }
    renderList();
    const h = hashParams();
    await openSlide(h.slide);
    if (h.selftest) selftest();
  }

  main();
})();
