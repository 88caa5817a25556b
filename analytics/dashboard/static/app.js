// Switchyard analytics dashboard: loads api/summary for the chosen filters, draws SVG charts and
// tables, and reloads every data-refresh-ms. No libraries, nothing fetched from elsewhere.
// Any failure (HTTP, JSON, script) is written into #error, which stays empty otherwise.
(function () {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const errorBox = $('error');
  const COLORS = ['#2f6fde', '#d9483b', '#e5a000', '#2a9d6f', '#8456c9', '#1a9bb0', '#b5487d'];

  function showError(msg) {
    errorBox.textContent = msg;
    document.body.dataset.state = 'error';
  }
  window.addEventListener('error', (e) => showError('script error: ' + e.message));
  window.addEventListener('unhandledrejection', (e) =>
    showError('script error: ' + ((e.reason && e.reason.message) || e.reason)));

  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) =>
      ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  }

  // Cell formats follow `switchyard report`: money with 6 decimals, milliseconds with 1, rates and
  // shares as percentages; null (no value, e.g. no first-token sample) as a dash.
  function isRate(col) { return /(rate|share|burn)$/.test(col); }
  function fmt(col, v) {
    if (v === null || v === undefined) return '–';
    if (typeof v !== 'number') return String(v);
    if (/_usd$/.test(col)) return v.toFixed(6);
    if (/_ms$/.test(col)) return v.toFixed(1);
    if (isRate(col)) return (100 * v).toFixed(1) + '%';
    return String(v);
  }
  function money(v) { return (v < 0 ? '-$' : '$') + Math.abs(v).toFixed(Math.abs(v) >= 100 ? 2 : 6); }
  function pct(v) { return (100 * v).toFixed(1) + '%'; }

  // ---- tables ------------------------------------------------------------------------------
  function renderTable(id, table) {
    const el = $(id);
    if (!table || !table.rows || table.rows.length === 0) {
      el.innerHTML = '<p class="none">no rows in this window</p>';
      return;
    }
    const numeric = table.columns.map((_, i) => table.rows.some((r) => typeof r[i] === 'number'));
    let h = '<table><thead><tr>';
    table.columns.forEach((c, i) => { h += '<th' + (numeric[i] ? ' class="num"' : '') + '>' + esc(c.replace(/_/g, ' ')) + '</th>'; });
    h += '</tr></thead><tbody>';
    for (const row of table.rows) {
      h += '<tr>';
      row.forEach((v, i) => {
        h += '<td' + (numeric[i] ? ' class="num"' : '') + ' data-col="' + esc(table.columns[i]) + '">' + esc(fmt(table.columns[i], v)) + '</td>';
      });
      h += '</tr>';
    }
    el.innerHTML = h + '</tbody></table>';
  }

  function col(table, name) { return table.columns.indexOf(name); }
  function values(table, name) { const i = col(table, name); return table.rows.map((r) => r[i]); }

  // ---- charts ------------------------------------------------------------------------------
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function short(v) {
    if (v === 0) return '0';
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (a >= 1e3) return (v / 1e3).toFixed(1) + 'k';
    if (a >= 1) return String(+v.toFixed(2));
    return String(+v.toPrecision(2));
  }
  // Times are shown in UTC, like the buckets the server computes.
  function timeLabel(d, bucket) {
    const p = (n) => String(n).padStart(2, '0');
    const day = p(d.getUTCMonth() + 1) + '-' + p(d.getUTCDate());
    const hm = p(d.getUTCHours()) + ':' + p(d.getUTCMinutes());
    return bucket === 'day' ? day : bucket === 'minute' ? hm : day + ' ' + hm;
  }
  const STEP_MS = { minute: 60e3, hour: 3600e3, day: 86400e3 };

  // fillBuckets spreads the time series over every bucket of the window: buckets without
  // requests (absent from the query's rows) count zero, and have no latency (null).
  function fillBuckets(ts, since, until, bucket) {
    const step = STEP_MS[bucket];
    const at = new Map(ts.rows.map((r) => [Date.parse(r[col(ts, 'bucket')]), r]));
    const start = Math.floor(Date.parse(since) / step) * step, end = Math.floor(Date.parse(until) / step) * step;
    const xs = [], cols = {};
    for (const c of ts.columns) cols[c] = [];
    for (let t = start; t <= end; t += step) {
      const r = at.get(t);
      xs.push(new Date(t));
      for (const c of ts.columns) {
        cols[c].push(r ? r[col(ts, c)] : (/_ms$/.test(c) ? null : 0));
      }
    }
    return { xs, cols };
  }
  function empty(el) { el.innerHTML = '<div class="empty">no data in this window</div>'; }

  // lineChart draws series over time: xs are Dates, each series {name, values} (null: a gap).
  function lineChart(el, xs, series, bucket) {
    if (xs.length === 0) return empty(el);
    const W = 600, H = 230, L = 52, R = 12, T = 12, B = 40;
    const all = series.flatMap((s) => s.values.filter((v) => v !== null));
    const ymax = niceMax(Math.max(0, ...all));
    const t0 = xs[0].getTime(), t1 = xs[xs.length - 1].getTime();
    const x = (t) => (t1 === t0 ? L + (W - L - R) / 2 : L + (W - L - R) * (t - t0) / (t1 - t0));
    const y = (v) => T + (H - T - B) * (1 - v / ymax);
    let s = '<svg class="line-chart" viewBox="0 0 ' + W + ' ' + H + '" role="img">';
    for (let i = 0; i <= 4; i++) {
      const v = ymax * i / 4;
      s += '<line class="grid" x1="' + L + '" x2="' + (W - R) + '" y1="' + y(v) + '" y2="' + y(v) + '"/>';
      s += '<text x="' + (L - 6) + '" y="' + (y(v) + 4) + '" text-anchor="end">' + esc(short(v)) + '</text>';
    }
    s += '<line class="axis" x1="' + L + '" x2="' + (W - R) + '" y1="' + y(0) + '" y2="' + y(0) + '"/>';
    const ticks = xs.length <= 3 ? xs.map((_, i) => i) : [0, Math.floor((xs.length - 1) / 2), xs.length - 1];
    for (const i of ticks) {
      const anchor = xs.length > 1 && i === 0 ? 'start' : xs.length > 1 && i === xs.length - 1 ? 'end' : 'middle';
      s += '<text x="' + x(xs[i].getTime()) + '" y="' + (H - B + 16) + '" text-anchor="' + anchor + '">' + esc(timeLabel(xs[i], bucket)) + '</text>';
    }
    series.forEach((ser, k) => {
      const c = COLORS[k % COLORS.length];
      let seg = [];
      const flush = () => {
        if (seg.length > 1) s += '<polyline class="series" fill="none" stroke="' + c + '" stroke-width="2" points="' + seg.join(' ') + '"/>';
        seg = [];
      };
      ser.values.forEach((v, i) => {
        if (v === null) { flush(); return; }
        const px = x(xs[i].getTime()).toFixed(1), py = y(v).toFixed(1);
        seg.push(px + ',' + py);
        const alone = (i === 0 || ser.values[i - 1] === null) && (i === xs.length - 1 || ser.values[i + 1] === null);
        if (xs.length <= 60 || alone) s += '<circle class="point" cx="' + px + '" cy="' + py + '" r="3" fill="' + c + '"><title>' +
          esc(ser.name + ' ' + timeLabel(xs[i], bucket) + ': ' + short(v)) + '</title></circle>';
      });
      flush();
      s += '<rect x="' + (L + k * 120) + '" y="' + (H - 14) + '" width="10" height="10" fill="' + c + '"/>' +
        '<text x="' + (L + k * 120 + 14) + '" y="' + (H - 5) + '">' + esc(ser.name) + '</text>';
    });
    el.innerHTML = s + '</svg>';
  }

  // barChart draws horizontal bars: groups of labelled values, one bar per series in a group.
  function barChart(el, labels, series, format) {
    if (labels.length === 0) return empty(el);
    const W = 600, L = 170, R = 90, bh = 14, gap = 8;
    const n = series.length;
    const H = 10 + labels.length * (n * bh + gap) + (n > 1 ? 18 : 0);
    const vmax = niceMax(Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== null))));
    let s = '<svg class="bar-chart" viewBox="0 0 ' + W + ' ' + H + '" role="img">';
    labels.forEach((lab, i) => {
      const top = 6 + i * (n * bh + gap);
      const shown = lab.length > 26 ? lab.slice(0, 25) + '…' : lab;
      s += '<text class="bar-label" x="' + (L - 6) + '" y="' + (top + n * bh / 2 + 4) + '" text-anchor="end">' + esc(shown) + '<title>' + esc(lab) + '</title></text>';
      series.forEach((ser, k) => {
        const v = ser.values[i];
        const w = v === null ? 0 : (W - L - R) * v / vmax;
        const yy = top + k * bh;
        s += '<rect class="bar" x="' + L + '" y="' + yy + '" width="' + w.toFixed(1) + '" height="' + (bh - 2) + '" fill="' + COLORS[k % COLORS.length] + '">' +
          '<title>' + esc(lab + ' ' + ser.name + ': ' + (v === null ? '–' : format(v))) + '</title></rect>';
        s += '<text x="' + (L + w + 4).toFixed(1) + '" y="' + (yy + bh - 4) + '">' + esc(v === null ? '–' : format(v)) + '</text>';
      });
    });
    if (n > 1) {
      series.forEach((ser, k) => {
        s += '<rect x="' + (L + k * 90) + '" y="' + (H - 13) + '" width="10" height="10" fill="' + COLORS[k % COLORS.length] + '"/>' +
          '<text x="' + (L + k * 90 + 14) + '" y="' + (H - 4) + '">' + esc(ser.name) + '</text>';
      });
    }
    el.innerHTML = s + '</svg>';
  }

  // ---- page --------------------------------------------------------------------------------
  function kpis(t, premium) {
    const cards = [
      ['Requests', String(t.requests), t.cache_hits + ' from cache'],
      ['Cost', money(t.cost_usd), 'USD over the window'],
      ['Errors', String(t.errors), pct(t.error_rate) + ' of requests'],
      ['Degraded', String(t.degraded), pct(t.degraded_share) + ' of requests'],
      ['Fallbacks', pct(t.fallback_rate), t.fallbacks + ' of ' + t.requests + ' requests'],
      ['Hedged', pct(t.hedge_rate), t.hedged + ' of ' + t.requests + ' requests'],
      ['Attempt errors', pct(t.attempt_error_rate), t.failed_attempts + ' of ' + t.attempts + ' attempts'],
      ['Retries', pct(t.retry_rate), t.retry_attempts + ' of ' + t.attempts + ' attempts'],
    ];
    if (t.savings_usd !== null && t.savings_usd !== undefined) {
      cards.push(['Saved vs premium', money(t.savings_usd), premium ? 'against ' + premium.model : '']);
    }
    $('kpis').innerHTML = cards.map(([label, value, sub]) =>
      '<div class="kpi"><div class="label">' + esc(label) + '</div><div class="value">' + esc(value) +
      '</div><div class="sub">' + esc(sub) + '</div></div>').join('');
  }

  function render(d) {
    kpis(d.totals, d.premium);
    document.querySelectorAll('.bucket-name').forEach((e) => { e.textContent = d.bucket; });
    const { xs, cols } = fillBuckets(d.timeseries, d.since, d.generated_at, d.bucket);
    lineChart($('chart-cost'), xs, [{ name: 'cost USD', values: cols.total_cost_usd }], d.bucket);
    lineChart($('chart-requests'), xs, [
      { name: 'requests', values: cols.requests },
      { name: 'errors', values: cols.errors },
      { name: 'degraded', values: cols.degraded },
    ], d.bucket);
    lineChart($('chart-latency-time'), xs, [
      { name: 'p50 ms', values: cols.p50_total_ms },
      { name: 'p95 ms', values: cols.p95_total_ms },
    ], d.bucket);

    const costBars = (id, table, label) => barChart($(id), table.rows.map(label),
      [{ name: 'cost', values: values(table, 'total_cost_usd') }], money);
    costBars('chart-cost-provider', d.cost_by_provider, (r) => r[0]);
    costBars('chart-cost-model', d.cost_by_model, (r) => r[1]);
    costBars('chart-cost-tenant', d.cost_by_tenant, (r) => r[0]);
    renderTable('table-cost-provider', d.cost_by_provider);
    renderTable('table-cost-model', d.cost_by_model);
    renderTable('table-cost-tenant', d.cost_by_tenant);

    const lat = d.latency;
    barChart($('chart-latency'), lat.rows.map((r) => r[1]), [
      { name: 'p50', values: values(lat, 'p50_total_ms') },
      { name: 'p95', values: values(lat, 'p95_total_ms') },
      { name: 'p99', values: values(lat, 'p99_total_ms') },
    ], (v) => v.toFixed(1) + ' ms');
    renderTable('table-latency', lat);
    renderTable('table-request-outcomes', d.request_outcomes);
    renderTable('table-attempt-outcomes', d.attempt_outcomes);
    renderTable('table-error-kinds', d.error_kinds);
    renderTable('table-degraded', d.degraded);
    if (d.savings) {
      const p = d.premium;
      $('premium-note').textContent = 'Premium model ' + p.model + ': $' + p.input_per_mtok + ' in / $' +
        (p.cached_input_per_mtok || p.input_per_mtok) + ' cached / $' + p.output_per_mtok + ' out per million tokens.';
      renderTable('table-savings', d.savings);
    } else {
      $('premium-note').textContent = 'No priced model is configured, so there is no premium to compare with.';
      $('table-savings').innerHTML = '';
    }
  }

  // ---- filters, loading and refresh --------------------------------------------------------
  const sinceSel = $('since'), tenantIn = $('tenant'), bucketSel = $('bucket');
  const initial = new URLSearchParams(location.search);
  if (initial.get('since')) {
    const v = initial.get('since');
    if (![...sinceSel.options].some((o) => o.value === v)) sinceSel.add(new Option(v, v));
    sinceSel.value = v;
  }
  if (initial.get('tenant')) tenantIn.value = initial.get('tenant');
  if (initial.get('bucket')) bucketSel.value = initial.get('bucket');

  function query() {
    const q = new URLSearchParams({ since: sinceSel.value, bucket: bucketSel.value });
    if (tenantIn.value.trim() !== '') q.set('tenant', tenantIn.value.trim());
    return q;
  }

  let timer = null, seq = 0;
  async function load() {
    clearTimeout(timer);
    const mine = ++seq;
    const q = query();
    try {
      const resp = await fetch('api/summary?' + q.toString(), { cache: 'no-store' });
      let body;
      try { body = await resp.json(); } catch (e) { throw new Error('HTTP ' + resp.status + ': not JSON'); }
      if (!resp.ok) throw new Error('HTTP ' + resp.status + ': ' + (body.error || resp.statusText));
      if (mine !== seq) return; // a newer load started meanwhile
      render(body);
      errorBox.textContent = '';
      document.body.dataset.state = 'ready';
      $('status').textContent = 'updated ' + new Date().toLocaleTimeString() + ' · since ' + body.since +
        (body.tenant ? ' · tenant ' + body.tenant : '') + ' · refresh every ' + (refreshMs / 1000) + ' s';
    } catch (e) {
      if (mine === seq) showError('could not load the dashboard data: ' + e.message);
    } finally {
      if (mine === seq) timer = setTimeout(load, refreshMs);
    }
  }

  const refreshMs = Math.max(1000, parseInt(document.body.dataset.refreshMs, 10) || 5000);
  $('filters').addEventListener('change', () => {
    history.replaceState(null, '', '?' + query().toString());
    load();
  });
  $('filters').addEventListener('submit', (e) => { e.preventDefault(); load(); });
  load();
})();
