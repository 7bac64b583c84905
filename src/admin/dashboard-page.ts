/**
 * The admin dashboard: one self-contained page (inline CSS and JS, no external assets,
 * so it works on an isolated admin network and under a strict CSP). It holds no data:
 * the script polls GET /api/dashboard every POLL_MS and draws each panel. Elements
 * carry stable ids and data-* attributes with the raw numbers, so a test (or a
 * scraper) can compare what is shown with the API.
 *
 * With admin.token set the page itself is served without it (a browser cannot send a
 * bearer header on navigation); the script takes the token from the URL fragment
 * (`/#token=…`, which never reaches the server or its logs) or asks for it, and keeps
 * it in sessionStorage.
 */
export const POLL_MS = 5000;

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f5f7;color:#1d2330}
header{display:flex;gap:16px;align-items:baseline;background:#1d2330;color:#fff;padding:10px 20px}
header h1{font-size:18px;margin:0}
header span{opacity:.8;font-size:13px}
#problem{background:#fde2e1;color:#8a1c17;margin:0;padding:8px 20px}
#token-form{padding:8px 20px;background:#fff6d6}
.cards{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;padding:16px 20px 0}
.card{background:#fff;border-radius:6px;padding:10px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .label{font-size:12px;color:#5b6475}
.card .value{font-size:26px;font-weight:600;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px;padding:12px 20px 20px}
.panel{background:#fff;border-radius:6px;padding:10px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08);min-width:0}
.panel.wide{grid-column:1/3}
.panel h2{font-size:14px;margin:0 0 8px;color:#3a4254}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eceef2;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:260px}
th{font-weight:600;color:#5b6475;font-size:12px}
td.n,th.n{text-align:right}
tr.empty td{color:#8a93a3;font-style:italic}
.bar{display:inline-block;height:8px;background:#4c7bd9;border-radius:2px;vertical-align:middle;margin-right:6px}
.deny .bar{background:#d9534c}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px;background:#8a93a3}
.dot.up{background:#2e9e52}.dot.down,.dot.ejected{background:#d9534c}.dot.half-open{background:#e0a526}
svg text{font-size:11px;fill:#5b6475}
.cache{display:flex;gap:16px;align-items:center}
`;

const SCRIPT = `(function () {
  'use strict';
  var POLL_MS = ${POLL_MS};
  var token = '';
  var m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (m) {
    token = decodeURIComponent(m[1]);
    try { sessionStorage.setItem('egressd-token', token); } catch (e) {}
    history.replaceState(null, '', location.pathname);
  } else {
    try { token = sessionStorage.getItem('egressd-token') || ''; } catch (e) {}
  }
  function $(id) { return document.getElementById(id); }
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; }); }
  function bytes(n) {
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0, v = n;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return i === 0 ? n + ' B' : v.toFixed(v < 10 ? 2 : 1) + ' ' + u[i];
  }
  function pct(x) { return x === null || x === undefined ? '\\u2013' : (x * 100).toFixed(1) + '%'; }
  function dur(s) {
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, mi = Math.floor(s / 60) % 60;
    return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + mi + 'm ' + Math.floor(s % 60) + 's';
  }
  function num(id, v, text) {
    var el = $(id);
    el.textContent = text === undefined ? String(v) : text;
    el.setAttribute('data-value', v === null ? '' : String(v));
  }
  function bar(v, max) { return '<span class="bar" style="width:' + (max > 0 ? Math.max(2, Math.round(v / max * 120)) : 0) + 'px"></span>'; }
  function rows(id, list, cells, cols, none) {
    $(id).tBodies[0].innerHTML = list.length ? list.map(cells).join('') : '<tr class="empty"><td colspan="' + cols + '">' + (none || 'none in the window') + '</td></tr>';
  }
  function rateChart(series) {
    var W = 1140, H = 130, top = 14, max = 1, n = series.length, w = W / n;
    series.forEach(function (p) { if (p.rate > max) max = p.rate; });
    var out = '<line x1="0" y1="' + H + '" x2="' + W + '" y2="' + H + '" stroke="#ccd1db"/>';
    out += '<text x="2" y="10">' + esc(max) + ' req/s</text><text x="2" y="' + (H + 14) + '">-' + Math.round(n * 10 / 60) + ' min</text><text x="' + (W - 24) + '" y="' + (H + 14) + '">now</text>';
    series.forEach(function (p, i) {
      var h = Math.round(p.rate / max * (H - top));
      out += '<rect class="rate" data-start="' + esc(p.start) + '" data-rate="' + p.rate + '" data-requests="' + p.requests + '" data-denied="' + p.denied + '" x="' + (i * w + 1).toFixed(1) + '" y="' + (H - h) + '" width="' + (w - 2).toFixed(1) + '" height="' + h + '" fill="' + (p.denied > 0 ? '#d98a4c' : '#4c7bd9') + '"><title>' + esc(p.start.slice(11, 19)) + ': ' + p.rate + ' req/s, ' + p.denied + ' denied</title></rect>';
    });
    $('rate-chart').innerHTML = out;
  }
  function donut(ratio) {
    var r = 38, c = 2 * Math.PI * r, f = ratio === null ? 0 : ratio;
    $('cache-chart').innerHTML = '<circle cx="50" cy="50" r="' + r + '" fill="none" stroke="#eceef2" stroke-width="14"/>' +
      '<circle cx="50" cy="50" r="' + r + '" fill="none" stroke="#2e9e52" stroke-width="14" stroke-dasharray="' + (f * c).toFixed(1) + ' ' + c.toFixed(1) + '" transform="rotate(-90 50 50)"/>' +
      '<text x="50" y="55" text-anchor="middle" style="font-size:15px;fill:#1d2330">' + pct(ratio) + '</text>';
  }
  function render(d) {
    $('meta').textContent = 'v' + d.version + ' \\u00b7 config generation ' + d.generation + ' \\u00b7 up ' + dur(d.uptimeSeconds);
    $('updated').textContent = 'updated ' + new Date(d.generatedAt).toLocaleTimeString();
    var s = d.series, last = s.length > 1 ? s[s.length - 2] : s[0];
    num('rate-now', last ? last.rate : 0);
    num('total-requests', d.totals.requests);
    num('total-tunnels', d.totals.tunnels);
    num('total-denied', d.totals.denied);
    num('total-errors', d.totals.errors);
    num('active-connections', d.active.connections);
    num('cache-ratio', d.totals.cacheHitRatio, pct(d.totals.cacheHitRatio));
    rateChart(s);
    var mu = d.topUsers.length ? d.topUsers[0].requests : 0;
    rows('top-users', d.topUsers, function (u) {
      return '<tr data-user="' + esc(u.user) + '" data-requests="' + u.requests + '"><td title="' + esc(u.user) + '">' + esc(u.user) + '</td><td class="n">' + bar(u.requests, mu) + u.requests + '</td><td class="n">' + bytes(u.bytesOut) + '</td></tr>';
    }, 3);
    var mh = d.topDestinations.length ? d.topDestinations[0].requests : 0;
    rows('top-destinations', d.topDestinations, function (h) {
      return '<tr data-host="' + esc(h.host) + '" data-requests="' + h.requests + '"><td title="' + esc(h.host) + '">' + esc(h.host) + '</td><td class="n">' + bar(h.requests, mh) + h.requests + '</td><td class="n">' + bytes(h.bytesOut) + '</td></tr>';
    }, 3);
    var md = d.denials.length ? d.denials[0].count : 0;
    rows('denials', d.denials, function (r) {
      return '<tr class="deny" data-rule="' + esc(r.rule) + '" data-count="' + r.count + '"><td>' + esc(r.rule) + '</td><td class="n">' + bar(r.count, md) + r.count + '</td></tr>';
    }, 2);
    donut(d.totals.cacheHitRatio);
    var c = d.cache;
    $('cache-detail').innerHTML = 'last ' + Math.round(d.windowSeconds / 60) + ' min: <b>' + d.totals.cacheServed + '</b> served from cache of <b>' + d.totals.cacheLookups + '</b> lookups' +
      (c ? '<br>store: ' + c.entries + ' entries, ' + bytes(c.bytes) + '; since start ' + pct(c.hitRatio) : '<br>the cache is disabled');
    rows('parents', d.parents, function (p) {
      return '<tr data-parent="' + esc(p.group + '/' + p.name) + '" data-state="' + esc(p.state) + '"><td>' + esc(p.group) + '</td><td>' + esc(p.name) + '</td><td><span class="dot ' + esc(p.state) + '"></span>' + esc(p.state) +
        '</td><td class="n">' + p.active + '</td><td class="n">' + p.requests + '</td><td class="n">' + p.failures + '</td></tr>';
    }, 6, 'none configured: requests go direct');
    document.body.setAttribute('data-generated-at', d.generatedAt);
    document.body.setAttribute('data-loaded', '1');
  }
  function problem(text) { var p = $('problem'); p.textContent = text; p.hidden = !text; }
  function poll() {
    var h = { accept: 'application/json' };
    if (token) h.authorization = 'Bearer ' + token;
    fetch('/api/dashboard', { headers: h, cache: 'no-store' }).then(function (r) {
      if (r.status === 401) { $('token-form').hidden = false; throw new Error('the admin API needs its token (admin.token)'); }
      if (!r.ok) throw new Error('GET /api/dashboard: HTTP ' + r.status);
      return r.json();
    }).then(function (d) { render(d); problem(''); })
      // A failed poll (or a render that threw) shows its reason; polling goes on.
      .catch(function (e) { problem(String(e && e.message || e)); })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  $('token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    token = $('token').value.trim();
    try { sessionStorage.setItem('egressd-token', token); } catch (e) {}
    $('token-form').hidden = true;
  });
  poll();
})();`;

function card(id: string, label: string): string {
  return `<div class="card"><div class="label">${label}</div><div class="value" id="${id}" data-value="">\u2013</div></div>`;
}

function table(id: string, heads: string[]): string {
  const th = heads.map((h, i) => `<th${i > 0 && !['State', 'Parent', 'Group'].includes(h) ? ' class="n"' : ''}>${h}</th>`).join('');
  return `<table id="${id}"><thead><tr>${th}</tr></thead><tbody></tbody></table>`;
}

/** The page, built once per process (it has no data in it). */
export function dashboardHtml(name: string): string {
  const title = `${name} dashboard`.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title}</title><style>${STYLE}</style></head>
<body data-loaded="0">
<header><h1>${title}</h1><span id="meta"></span><span id="updated"></span></header>
<p id="problem" hidden></p>
<form id="token-form" hidden><label>Admin token <input id="token" type="password" autocomplete="off"></label> <button>Use</button></form>
<section class="cards">
${card('rate-now', 'Requests/s (last 10 s)')}
${card('total-requests', 'Requests, last 5 min')}
${card('total-tunnels', 'Tunnels, last 5 min')}
${card('total-denied', 'Denied, last 5 min')}
${card('total-errors', 'Errors, last 5 min')}
${card('active-connections', 'Open connections')}
</section>
<section class="grid">
<div class="panel wide"><h2>Requests per second (10 s buckets)</h2><svg id="rate-chart" viewBox="0 -2 1140 150" width="100%" height="150" role="img" aria-label="requests per second"></svg></div>
<div class="panel"><h2>Top users</h2>${table('top-users', ['User', 'Requests', 'Bytes out'])}</div>
<div class="panel"><h2>Top destinations</h2>${table('top-destinations', ['Host', 'Requests', 'Bytes out'])}</div>
<div class="panel"><h2>Denials by rule</h2>${table('denials', ['Rule', 'Denied'])}</div>
<div class="panel"><h2>Cache hit ratio</h2><div class="cache"><svg id="cache-chart" viewBox="0 0 100 100" width="110" height="110" role="img" aria-label="cache hit ratio"></svg><div><div>hit ratio <b id="cache-ratio" data-value="">\u2013</b></div><p id="cache-detail"></p></div></div></div>
<div class="panel wide"><h2>Parent proxies</h2>${table('parents', ['Group', 'Parent', 'State', 'Active', 'Requests', 'Failures'])}</div>
</section>
<script>${SCRIPT}</script>
</body></html>
`;
}
