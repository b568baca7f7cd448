// promlab's web UI: an expression browser and the status pages, in plain
// JavaScript (no framework, no build step). Every page reads Prometheus's
// HTTP API, so the same file works against any server that speaks it.
// The graph is drawn on a canvas by drawChart() below: a time-series line
// chart with stacking, hover values and a legend, which is all the expression
// browser needs; a charting library would be most of the page's weight.
'use strict';

const $ = (sel, el) => (el || document).querySelector(sel);
const main = () => $('#main');

function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

async function api(path, params) {
  const qs = params ? '?' + new URLSearchParams(params).toString() : '';
  const resp = await fetch(path + qs, { headers: { Accept: 'application/json' } });
  let body;
  try { body = await resp.json(); } catch (e) { throw new Error(`${path}: HTTP ${resp.status}`); }
  if (body.status !== 'success') throw new Error(body.error || `${path}: HTTP ${resp.status}`);
  return body;
}

function metricName(m) {
  const name = m.__name__ || '';
  const rest = Object.keys(m).filter(k => k !== '__name__').sort()
    .map(k => `${k}=${JSON.stringify(m[k])}`).join(', ');
  return rest ? `${name}{${rest}}` : (name || '{}');
}

function labelsHTML(m) {
  return Object.keys(m).sort().map(k => `<span class="lbl">${esc(k)}="${esc(m[k])}"</span>`).join('');
}

// ---- durations and times -------------------------------------------------

const UNITS = { y: 31536000, w: 604800, d: 86400, h: 3600, m: 60, s: 1, ms: 0.001 };

function parseDuration(s) {
  const re = /(\d+(?:\.\d+)?)(ms|y|w|d|h|m|s)/g;
  let m, total = 0, consumed = 0;
  s = String(s).trim();
  while ((m = re.exec(s)) !== null) { total += parseFloat(m[1]) * UNITS[m[2]]; consumed += m[0].length; }
  if (consumed !== s.length || consumed === 0) return null;
  return total;
}

function formatDuration(sec) {
  if (sec <= 0) return '0s';
  let out = '';
  for (const u of ['w', 'd', 'h', 'm', 's']) {
    const n = Math.floor(sec / UNITS[u]);
    if (n > 0) { out += n + u; sec -= n * UNITS[u]; }
  }
  return out || (Math.round(sec * 1000) + 'ms');
}

function pad2(n) { return n < 10 ? '0' + n : '' + n; }
function formatTime(ms) {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}
function ago(iso) {
  const t = Date.parse(iso);
  if (!t || t < 0) return 'never';
  const s = (Date.now() - t) / 1000;
  return s < 1 ? 'just now' : formatDuration(Math.round(s)) + ' ago';
}

function formatValue(v) {
  if (!isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return String(Math.round(v * 1e6) / 1e6);
}

// ---- the expression browser ---------------------------------------------

const HISTORY_KEY = 'promlab.history';
function loadHistory() { try { return JSON.parse(localStorage.getItem(HISTORY_KEY)) || []; } catch (e) { return []; } }
function remember(expr) {
  const h = loadHistory().filter(e => e !== expr);
  h.unshift(expr);
  localStorage.setItem(HISTORY_KEY, JSON.stringify(h.slice(0, 20)));
}

// Panel state, encoded in the URL as Prometheus encodes it:
// /graph?g0.expr=...&g0.tab=0 (graph) | 1 (table)&g0.range_input=1h&g0.end_input=&g0.step_input=&g0.stacked=0
function readState() {
  const p = new URLSearchParams(location.search);
  return {
    expr: p.get('g0.expr') || '',
    tab: p.get('g0.tab') === '0' ? 'graph' : 'table',
    range: p.get('g0.range_input') || '1h',
    end: p.get('g0.end_input') || '',
    step: p.get('g0.step_input') || '',
    stacked: p.get('g0.stacked') === '1',
  };
}
function writeState(st) {
  const p = new URLSearchParams();
  p.set('g0.expr', st.expr);
  p.set('g0.tab', st.tab === 'graph' ? '0' : '1');
  p.set('g0.range_input', st.range);
  if (st.end) p.set('g0.end_input', st.end);
  if (st.step) p.set('g0.step_input', st.step);
  p.set('g0.stacked', st.stacked ? '1' : '0');
  window.history.replaceState(null, '', location.pathname + '?' + p.toString());
}

function renderQueryPage() {
  const st = readState();
  main().innerHTML = `
    <div class="panel">
      <textarea id="expr" placeholder="Expression (press Shift+Enter for newlines)" spellcheck="false">${esc(st.expr)}</textarea>
      <div class="row" style="margin-top:8px">
        <button class="primary" id="exec">Execute</button>
        <span class="muted" id="stats"></span>
      </div>
      <div id="history"></div>
      <div class="tabs"><button data-tab="table">Table</button><button data-tab="graph">Graph</button></div>
      <div id="controls" class="row" style="margin:10px 0">
        <button id="range-minus" title="shrink range">−</button>
        <input type="text" id="range" value="${esc(st.range)}" title="range">
        <button id="range-plus" title="grow range">+</button>
        <input type="text" id="end" class="wide" value="${esc(st.end)}" placeholder="end (now)" title="end time, RFC 3339 or unix seconds">
        <input type="text" id="step" value="${esc(st.step)}" placeholder="res. (auto)" title="resolution (step)">
        <label><input type="checkbox" id="stacked" ${st.stacked ? 'checked' : ''}> stacked</label>
      </div>
      <div id="result"></div>
    </div>`;
  const showTab = tab => {
    st.tab = tab;
    for (const b of document.querySelectorAll('.tabs button')) b.classList.toggle('active', b.dataset.tab === tab);
    $('#controls').style.display = tab === 'graph' ? 'flex' : 'none';
  };
  for (const b of document.querySelectorAll('.tabs button')) b.onclick = () => { showTab(b.dataset.tab); run(); };
  showTab(st.tab);
  const steps = ['1m', '5m', '15m', '30m', '1h', '2h', '6h', '12h', '1d', '2d', '1w', '2w', '4w'];
  const bump = dir => {
    const cur = parseDuration($('#range').value) || 3600;
    const secs = steps.map(parseDuration);
    let i = secs.findIndex(s => s >= cur);
    if (i < 0) i = secs.length - 1;
    i = dir > 0 ? Math.min(secs.length - 1, secs[i] > cur ? i : i + 1) : Math.max(0, i - 1);
    $('#range').value = steps[i];
    run();
  };
  $('#range-minus').onclick = () => bump(-1);
  $('#range-plus').onclick = () => bump(1);
  for (const id of ['range', 'end', 'step']) $('#' + id).onchange = () => run();
  $('#stacked').onchange = () => run();
  $('#exec').onclick = () => run();
  $('#expr').onkeydown = e => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); run(); } };
  const drawHistory = () => {
    $('#history').innerHTML = loadHistory().slice(0, 8).map((e, i) => `<a data-i="${i}" title="${esc(e)}">${esc(e.length > 60 ? e.slice(0, 57) + '…' : e)}</a>`).join('');
    for (const a of document.querySelectorAll('#history a')) a.onclick = () => { $('#expr').value = loadHistory()[+a.dataset.i]; run(); };
  };
  drawHistory();

  async function run() {
    st.expr = $('#expr').value.trim();
    st.range = $('#range').value.trim() || '1h';
    st.end = $('#end').value.trim();
    st.step = $('#step').value.trim();
    st.stacked = $('#stacked').checked;
    writeState(st);
    const out = $('#result');
    if (!st.expr) { out.innerHTML = '<p class="muted">Enter an expression.</p>'; return; }
    remember(st.expr);
    drawHistory();
    out.innerHTML = '<p class="muted">Loading…</p>';
    const t0 = performance.now();
    try {
      const endSec = st.end ? (isNaN(+st.end) ? Date.parse(st.end) / 1000 : +st.end) : Date.now() / 1000;
      if (!isFinite(endSec)) throw new Error('bad end time: ' + st.end);
      if (st.tab === 'table') {
        const body = await api('/api/v1/query', { query: st.expr, time: endSec });
        renderTable(out, body);
        $('#stats').textContent = `Load time: ${Math.round(performance.now() - t0)}ms · Result series: ${seriesCount(body.data)}`;
      } else {
        const range = parseDuration(st.range);
        if (!range) throw new Error('bad range: ' + st.range);
        let step = st.step ? parseDuration(st.step) || parseFloat(st.step) : Math.max(Math.round(range / 250), 1);
        if (!step || step <= 0) throw new Error('bad resolution: ' + st.step);
        const body = await api('/api/v1/query_range', { query: st.expr, start: endSec - range, end: endSec, step });
        renderGraph(out, body, (endSec - range) * 1000, endSec * 1000, step, st.stacked);
        $('#stats').textContent = `Load time: ${Math.round(performance.now() - t0)}ms · Resolution: ${step}s · Result series: ${body.data.result.length}`;
      }
    } catch (e) {
      out.innerHTML = `<div class="error">Error executing query: ${esc(e.message)}</div>`;
      $('#stats').textContent = '';
    }
  }
  if (st.expr) run();
}

function seriesCount(data) {
  return Array.isArray(data.result) ? data.result.length : 1;
}

function warningsHTML(body) {
  return [...(body.warnings || []), ...(body.infos || [])].map(w => `<div class="warning">${esc(w)}</div>`).join('');
}

function renderTable(out, body) {
  const d = body.data;
  let rows = '';
  if (d.resultType === 'scalar' || d.resultType === 'string') {
    rows = `<tr><td class="mono">scalar</td><td class="num mono">${esc(d.result[1])}</td></tr>`;
  } else if (d.resultType === 'vector') {
    rows = d.result.map(s => `<tr><td class="mono">${esc(metricName(s.metric))}</td><td class="num mono">${esc(s.value[1])}</td></tr>`).join('');
  } else if (d.resultType === 'matrix') {
    rows = d.result.map(s => `<tr><td class="mono">${esc(metricName(s.metric))}</td><td class="mono">${s.values.map(v => `${esc(v[1])} @${v[0]}`).join('<br>')}</td></tr>`).join('');
  }
  out.innerHTML = warningsHTML(body) + (rows
    ? `<table id="result-table"><thead><tr><th>Series</th><th>Value</th></tr></thead><tbody>${rows}</tbody></table>`
    : '<p class="muted">Empty query result</p>');
}

// ---- the graph -------------------------------------------------------------

const PALETTE = ['#3366cc', '#dc3912', '#ff9900', '#109618', '#990099', '#0099c6', '#dd4477', '#66aa00', '#b82e2e',
  '#316395', '#994499', '#22aa99', '#aaaa11', '#6633cc', '#e67300', '#8b0707', '#651067', '#329262', '#5574a6', '#3b3eac'];

function renderGraph(out, body, startMs, endMs, step, stacked) {
  const series = body.data.result.map((s, i) => ({
    name: metricName(s.metric),
    color: PALETTE[i % PALETTE.length],
    on: true,
    points: s.values.map(v => [v[0] * 1000, parseFloat(v[1])]),
  }));
  out.innerHTML = warningsHTML(body) + (series.length ? '' : '<p class="muted">Empty query result</p>') +
    `<div id="chart-wrap"><canvas id="chart" data-series="${series.length}"></canvas><div id="tooltip"></div></div><div id="legend"></div>`;
  if (!series.length) { $('#chart').style.display = 'none'; return; }
  const legend = $('#legend');
  legend.innerHTML = series.map((s, i) => `<div data-i="${i}" class="legend-item"><span class="sw" style="background:${s.color}"></span><span class="mono">${esc(s.name)}</span></div>`).join('');
  const redraw = () => drawChart($('#chart'), series, startMs, endMs, step * 1000, stacked);
  for (const el of legend.children) {
    el.onclick = ev => {
      const i = +el.dataset.i;
      if (ev.ctrlKey || ev.metaKey) series[i].on = !series[i].on;
      else {
        const only = series.every((s, k) => s.on === (k === i));
        series.forEach((s, k) => { s.on = only || k === i; });
      }
      series.forEach((s, k) => legend.children[k].classList.toggle('off', !s.on));
      redraw();
    };
  }
  redraw();
  window.onresize = redraw;
}

function niceStep(span, target) {
  const raw = span / Math.max(target, 1);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800].map(s => s * 1000);

// Draws the series (points [ms, value]; gaps where steps are missing) into
// the canvas. Stacked: each series is drawn on top of the sum of the visible
// ones before it, timestamp by timestamp.
function drawChart(canvas, series, startMs, endMs, stepMs, stacked) {
  const dpr = window.devicePixelRatio || 1;
  const W = canvas.clientWidth, H = canvas.clientHeight;
  canvas.width = W * dpr; canvas.height = H * dpr;
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  ctx.clearRect(0, 0, W, H);
  const visible = series.filter(s => s.on);
  // Stacked values per series, keyed by timestamp.
  const base = new Map();
  const drawn = visible.map(s => {
    const pts = s.points.filter(p => isFinite(p[1])).map(([t, v]) => {
      if (!stacked) return [t, v, 0];
      const b = base.get(t) || 0;
      base.set(t, b + v);
      return [t, b + v, b];
    });
    return { s, pts };
  });
  let lo = Infinity, hi = -Infinity;
  for (const d of drawn) for (const p of d.pts) { lo = Math.min(lo, p[1], p[2]); hi = Math.max(hi, p[1]); }
  if (!isFinite(lo)) { lo = 0; hi = 1; }
  if (lo === hi) { lo -= 1; hi += 1; }
  const yStep = niceStep(hi - lo, 6);
  lo = Math.floor(lo / yStep) * yStep; hi = Math.ceil(hi / yStep) * yStep;
  const left = 70, right = 12, top = 10, bottom = 26;
  const pw = W - left - right, ph = H - top - bottom;
  const x = t => left + (t - startMs) / (endMs - startMs) * pw;
  const y = v => top + (1 - (v - lo) / (hi - lo)) * ph;
  ctx.font = '11px system-ui, sans-serif';
  ctx.strokeStyle = '#e4e7ec'; ctx.fillStyle = '#6b7686'; ctx.lineWidth = 1;
  ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
  for (let v = lo; v <= hi + yStep / 2; v += yStep) {
    ctx.beginPath(); ctx.moveTo(left, y(v) + 0.5); ctx.lineTo(W - right, y(v) + 0.5); ctx.stroke();
    ctx.fillText(formatValue(Math.abs(v) < yStep / 1e6 ? 0 : v), left - 6, y(v));
  }
  const tStep = TIME_STEPS.find(s => (endMs - startMs) / s <= 8) || 604800000;
  ctx.textAlign = 'center'; ctx.textBaseline = 'top';
  for (let t = Math.ceil(startMs / tStep) * tStep; t <= endMs; t += tStep) {
    ctx.beginPath(); ctx.moveTo(x(t) + 0.5, top); ctx.lineTo(x(t) + 0.5, top + ph); ctx.stroke();
    const d = new Date(t);
    const label = tStep >= 86400000 ? `${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}` : `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}${tStep < 60000 ? ':' + pad2(d.getUTCSeconds()) : ''}`;
    ctx.fillText(label, x(t), top + ph + 6);
  }
  ctx.lineWidth = 1.5;
  for (const { s, pts } of drawn) {
    ctx.strokeStyle = s.color;
    if (stacked) ctx.fillStyle = s.color + '55';
    let run = [];
    const flush = () => {
      if (!run.length) return;
      ctx.beginPath();
      run.forEach((p, i) => (i ? ctx.lineTo(x(p[0]), y(p[1])) : ctx.moveTo(x(p[0]), y(p[1]))));
      if (run.length === 1) ctx.arc(x(run[0][0]), y(run[0][1]), 1.5, 0, 2 * Math.PI);
      ctx.stroke();
      if (stacked) {
        for (let i = run.length - 1; i >= 0; i--) ctx.lineTo(x(run[i][0]), y(run[i][2]));
        ctx.closePath(); ctx.fill();
      }
      run = [];
    };
    for (let i = 0; i < pts.length; i++) {
      if (i && pts[i][0] - pts[i - 1][0] > stepMs * 1.5) flush();
      run.push(pts[i]);
    }
    flush();
  }
  // Hover: the values of every visible series at the nearest step.
  const tip = $('#tooltip');
  canvas.onmousemove = ev => {
    const r = canvas.getBoundingClientRect();
    const mx = ev.clientX - r.left, my = ev.clientY - r.top;
    if (mx < left || mx > W - right) { tip.style.display = 'none'; return; }
    const t = startMs + (mx - left) / pw * (endMs - startMs);
    let best = null;
    const rows = [];
    for (const { s, pts } of drawn) {
      let near = null;
      for (const p of pts) if (!near || Math.abs(p[0] - t) < Math.abs(near[0] - t)) near = p;
      if (!near || Math.abs(near[0] - t) > stepMs) continue;
      const dist = Math.abs(y(near[1]) - my);
      rows.push({ s, near, dist });
      if (!best || dist < best.dist) best = { s, near, dist };
    }
    if (!best) { tip.style.display = 'none'; return; }
    rows.sort((a, b) => b.near[1] - a.near[1]);
    tip.innerHTML = `<div>${formatTime(best.near[0])}</div>` + rows.slice(0, 12).map(r =>
      `<div style="${r === rows.find(q => q.s === best.s) ? 'font-weight:700' : ''}"><span class="sw" style="display:inline-block;width:8px;height:8px;background:${r.s.color};margin-right:5px"></span>${esc(r.s.name)}: ${formatValue(stacked ? r.near[1] - r.near[2] : r.near[1])}</div>`).join('');
    tip.style.display = 'block';
    tip.style.left = Math.min(mx + 14, W - 300) + 'px';
    tip.style.top = (my + 14) + 'px';
  };
  canvas.onmouseleave = () => { tip.style.display = 'none'; };
}

// ---- status pages ------------------------------------------------------------

async function renderTargets() {
  const body = await api('/api/v1/targets');
  const pools = new Map();
  for (const t of body.data.activeTargets) {
    if (!pools.has(t.scrapePool)) pools.set(t.scrapePool, []);
    pools.get(t.scrapePool).push(t);
  }
  let html = '<h1>Targets</h1>';
  for (const [pool, ts] of pools) {
    const up = ts.filter(t => t.health === 'up').length;
    html += `<h2 class="pool">${esc(pool)} <span class="muted">(${up}/${ts.length} up)</span></h2>
      <table class="targets"><thead><tr><th>Endpoint</th><th>State</th><th>Labels</th><th>Last scrape</th><th>Scrape duration</th><th>Error</th></tr></thead><tbody>` +
      ts.map(t => `<tr class="target"><td class="mono"><a href="${esc(t.scrapeUrl)}">${esc(t.scrapeUrl)}</a></td>
        <td><span class="badge ${esc(t.health)}">${esc(t.health.toUpperCase())}</span></td>
        <td>${labelsHTML(t.labels)}</td><td>${esc(ago(t.lastScrape))}</td>
        <td>${(t.lastScrapeDuration * 1000).toFixed(1)}ms</td><td class="mono">${esc(t.lastError || '')}</td></tr>`).join('') +
      '</tbody></table>';
  }
  if (!pools.size) html += '<p class="muted">No targets.</p>';
  const dropped = body.data.droppedTargets || [];
  if (dropped.length) html += `<h2>Dropped targets <span class="muted">(${dropped.length})</span></h2><details><summary>show</summary><table><tbody>` +
    dropped.map(t => `<tr><td>${labelsHTML(t.discoveredLabels)}</td></tr>`).join('') + '</tbody></table></details>';
  main().innerHTML = html;
}

async function renderRules() {
  const body = await api('/api/v1/rules');
  let html = '<h1>Rules</h1>';
  for (const g of body.data.groups) {
    html += `<h2>${esc(g.name)} <span class="muted">${esc(g.file)} · every ${formatDuration(g.interval)} · last evaluation ${esc(ago(g.lastEvaluation))}</span></h2>
      <table class="rules"><thead><tr><th>Rule</th><th>State</th><th>Error</th><th>Last evaluation</th><th>Evaluation time</th></tr></thead><tbody>` +
      g.rules.map(r => `<tr class="rule"><td class="mono">${r.type === 'alerting' ? 'alert' : 'record'}: ${esc(r.name)}<br>expr: ${esc(r.query)}${r.duration ? '<br>for: ' + formatDuration(r.duration) : ''}${r.labels && Object.keys(r.labels).length ? '<br>' + labelsHTML(r.labels) : ''}</td>
        <td><span class="badge ${r.health === 'ok' ? 'ok' : r.health === 'err' ? 'err' : 'unknown'}">${esc(r.health)}</span></td>
        <td class="mono">${esc(r.lastError || '')}</td><td>${esc(ago(r.lastEvaluation))}</td><td>${((r.evaluationTime || 0) * 1000).toFixed(2)}ms</td></tr>`).join('') +
      '</tbody></table>';
  }
  if (!body.data.groups.length) html += '<p class="muted">No rule groups loaded.</p>';
  main().innerHTML = html;
}

async function renderAlerts() {
  const body = await api('/api/v1/rules', { type: 'alert' });
  let html = '<h1>Alerts</h1>';
  let n = 0;
  for (const g of body.data.groups) {
    for (const r of g.rules) {
      n++;
      const state = r.state || 'inactive';
      html += `<div class="panel alert-rule"><div><span class="badge ${esc(state)}">${esc(state.toUpperCase())}</span> <b class="mono">${esc(r.name)}</b> <span class="muted">(${(r.alerts || []).length} active) · ${esc(g.file)} > ${esc(g.name)}</span></div>
        <div class="mono muted" style="margin:6px 0">expr: ${esc(r.query)}${r.duration ? ' · for: ' + formatDuration(r.duration) : ''}</div>` +
        ((r.alerts || []).length ? `<table><thead><tr><th>Labels</th><th>State</th><th>Active since</th><th>Value</th><th>Annotations</th></tr></thead><tbody>` +
          r.alerts.map(a => `<tr><td>${labelsHTML(a.labels)}</td><td><span class="badge ${esc(a.state)}">${esc(a.state)}</span></td><td>${esc(a.activeAt || '')}</td><td class="mono">${esc(a.value)}</td>
            <td>${Object.keys(a.annotations || {}).map(k => `<div><b>${esc(k)}</b>: ${esc(a.annotations[k])}</div>`).join('')}</td></tr>`).join('') + '</tbody></table>' : '') +
        '</div>';
    }
  }
  if (!n) html += '<p class="muted">No alerting rules.</p>';
  main().innerHTML = html;
}

function kvTable(rows, heads, id) {
  return `<table${id ? ` id="${id}"` : ''}><thead><tr>${heads.map(h => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>` +
    rows.map(r => `<tr>${r.map((c, i) => `<td class="${i ? 'num' : 'mono'}">${esc(c)}</td>`).join('')}</tr>`).join('') + '</tbody></table>';
}

async function renderTSDB() {
  const body = await api('/api/v1/status/tsdb');
  const d = body.data, h = d.headStats || {};
  const stat = (k, label) => (k in d && Array.isArray(d[k]))
    ? `<h2>${esc(label)}</h2>` + kvTable(d[k].map(e => [e.name, e.value]), ['Name', 'Count'], k) : '';
  main().innerHTML = `<h1>TSDB status</h1><h2>Head stats</h2>` +
    kvTable([['Number of series', h.numSeries], ['Number of chunks', h.chunkCount], ['Number of label pairs', h.numLabelPairs],
      ['Current min time', h.minTime !== undefined ? `${formatTime(h.minTime)} (${h.minTime})` : ''],
      ['Current max time', h.maxTime !== undefined ? `${formatTime(h.maxTime)} (${h.maxTime})` : '']], ['Stat', 'Value'], 'headStats') +
    stat('seriesCountByMetricName', 'Top 10 series count by metric names') +
    stat('labelValueCountByLabelName', 'Top 10 label names with value count') +
    stat('memoryInBytesByLabelName', 'Top 10 label names with high memory usage') +
    stat('seriesCountByLabelValuePair', 'Top 10 series count by label value pairs');
}

async function renderConfig() {
  const body = await api('/api/v1/status/config');
  main().innerHTML = `<h1>Configuration</h1><pre class="yaml" id="config-yaml">${esc(body.data.yaml)}</pre>`;
}

async function renderFlags() {
  const body = await api('/api/v1/status/flags');
  const keys = Object.keys(body.data).sort();
  main().innerHTML = '<h1>Command-line flags</h1>' + kvTable(keys.map(k => ['--' + k, body.data[k]]), ['Flag', 'Value'], 'flags');
}

async function renderStatus() {
  const build = await api('/api/v1/status/buildinfo');
  let runtime = null;
  try { runtime = await api('/api/v1/status/runtimeinfo'); } catch (e) { /* older servers */ }
  const rows = o => Object.keys(o).map(k => [k, typeof o[k] === 'object' ? JSON.stringify(o[k]) : String(o[k])]);
  main().innerHTML = '<h1>Status</h1>' + (runtime ? '<h2>Runtime information</h2>' + kvTable(rows(runtime.data), ['', ''], 'runtime') : '') +
    '<h2>Build information</h2>' + kvTable(rows(build.data), ['', ''], 'build');
}

// ---- routing -------------------------------------------------------------------

const PAGES = {
  query: renderQueryPage, graph: renderQueryPage, targets: renderTargets, rules: renderRules, alerts: renderAlerts,
  'tsdb-status': renderTSDB, config: renderConfig, flags: renderFlags, status: renderStatus,
};

async function route() {
  const page = location.pathname.replace(/^\/+|\/+$/g, '') || 'query';
  for (const a of document.querySelectorAll('nav a[data-page]'))
    a.classList.toggle('active', a.dataset.page === page || (page === 'graph' && a.dataset.page === 'query'));
  const fn = PAGES[page];
  if (!fn) { main().innerHTML = '<p class="error">Unknown page.</p>'; return; }
  try {
    await fn();
  } catch (e) {
    main().innerHTML = `<div class="error">${esc(e.message)}</div>`;
  }
  document.body.dataset.loadedMs = String(Math.round(performance.now()));
  document.body.dataset.loaded = page;
}

route();
