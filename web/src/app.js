// app.js — sinkd's dashboard (operator) and portal (network owner): reads /api/v1/, draws with uPlot.
// Everything the server sends is treated as text (textContent), never as markup.
"use strict";

const $ = (id) => document.getElementById(id);
const fmt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const state = { me: null, hostsNext: null, charts: {}, timer: null };

async function api(path, opts) {
  const r = await fetch("/api/v1/" + path, Object.assign({ credentials: "same-origin" }, opts || {}));
  if (r.status === 401) {
    showLogin();
    throw new Error("unauthorised");
  }
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ? body.error.message : "HTTP " + r.status);
  return body;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(tbody, cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = el("td", c.text, c.cls);
    tr.appendChild(td);
  }
  tbody.appendChild(tr);
}

function showLogin() {
  $("app").classList.add("hidden");
  $("logout").classList.add("hidden");
  $("range-box").classList.add("hidden");
  $("login").classList.remove("hidden");
  $("who").textContent = "";
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

function isoDay(d) {
  return d.toISOString().slice(0, 10);
}

function range() {
  const days = Number($("range").value);
  const to = new Date();
  const from = new Date(to.getTime() - (days - 1) * 86400000);
  return { from: isoDay(from), to: isoDay(to), q: "from=" + isoDay(from) + "&to=" + isoDay(to) };
}

function stat(label, value, bad, id) {
  const d = el("div", null, "stat");
  d.appendChild(el("div", label, "label"));
  const v = el("div", value, "value" + (bad ? " bad" : ""));
  if (id) v.id = id;
  d.appendChild(v);
  return d;
}

const palette = ["#1f6feb", "#d9480f", "#2b8a3e", "#9c36b5", "#e67700", "#0b7285", "#c2255c", "#5c940d"];

// Rows {day, family, unique_src} into uPlot's columns: x = every day or calendar week of the range (a bucket
// without rows had no infected address: 0), one series for all families and one per family.
function columns(rows, total, from, to, step) {
  const days = [];
  let t0 = Date.parse(from + "T00:00:00Z");
  if (step === 7) t0 -= ((new Date(t0).getUTCDay() + 6) % 7) * 86400000; // weeks start on Monday
  for (let t = t0; t <= Date.parse(to + "T00:00:00Z"); t += step * 86400000)
    days.push(isoDay(new Date(t)));
  const fams = [...new Set(rows.map((r) => r.family))].sort();
  const x = days.map((d) => Date.parse(d + "T00:00:00Z") / 1000);
  const idx = new Map(days.map((d, i) => [d, i]));
  const ys = fams.map(() => days.map(() => 0));
  rows.forEach((r) => { if (idx.has(r.day)) ys[fams.indexOf(r.family)][idx.get(r.day)] = r.unique_src; });
  const all = days.map(() => 0);
  total.forEach((r) => { if (idx.has(r.day)) all[idx.get(r.day)] = r.unique_src; });
  return { data: [x, all, ...ys], names: ["all families", ...fams] };
}

function drawChart(id, series) {
  const box = $(id);
  if (state.charts[id]) state.charts[id].destroy();
  box.textContent = "";
  const width = Math.max(260, box.clientWidth);
  const opts = {
    width, height: 240,
    scales: { x: { time: true } },
    axes: [{}, { size: 60, values: (u, v) => v.map(fmt) }],
    series: [{}].concat(series.names.map((n, i) => ({
      label: n, stroke: palette[i % palette.length], width: i === 0 ? 2.5 : 1.5,
      points: { show: series.data[0].length < 60 },
      value: (u, v) => fmt(v),
    }))),
  };
  state.charts[id] = new uPlot(opts, series.data, box);
  box.dataset.points = String(series.data[0].length);
  box.dataset.max = String(Math.max(0, ...series.data[1]));
}

async function loadCharts(r) {
  const [d, w] = await Promise.all([api("series?bucket=day&" + r.q), api("series?bucket=week&" + r.q)]);
  drawChart("chart-day", columns(d.rows, d.total, d.from, d.to, 1));
  drawChart("chart-week", columns(w.rows, w.total, w.from, w.to, 7));
}

async function loadSummary(r) {
  const s = await api("summary?" + r.q);
  const cards = $("cards");
  cards.textContent = "";
  cards.appendChild(stat("addresses, last day", fmt(s.last_day_unique_src), false, "stat-last-day"));
  cards.appendChild(stat("addresses, week of " + s.week, fmt(s.week_unique_src), false, "stat-week"));
  cards.appendChild(stat("check-ins, " + $("range").value + " days", fmt(s.events), false, "stat-events"));
  cards.appendChild(stat("families, last day", fmt(s.families.length), false, "stat-families"));
  if (!state.me.admin) return;
  const sensor = s.sensor;
  const stale = !sensor || sensor.stats_age_s > 10;
  cards.appendChild(stat("events/s now", sensor && sensor.events_per_s !== null ? fmt(Math.round(sensor.events_per_s)) : "–", stale, "stat-rate"));
  const lag = s.store && s.store.lag_bytes !== undefined ? s.store.lag_bytes : null;
  cards.appendChild(stat("store lag", lag === null ? "–" : fmt(lag) + " B", lag > 64 << 20, "stat-lag"));
  const lt = $("listeners").tBodies[0];
  lt.textContent = "";
  if (sensor && sensor.stats && Array.isArray(sensor.stats.listeners)) {
    for (const l of sensor.stats.listeners) row(lt, [{ text: l.name }, { text: l.transport }, { text: fmt(l.open), cls: "num" }]);
  }
  $("sensor-state").textContent = sensor
    ? "sensor " + sensor.stats.sensor + ": stats " + sensor.stats_age_s.toFixed(1) + " s old" + (stale ? " (not running?)" : "") +
      ", up " + fmt(sensor.stats.uptime_s) + " s, dropped " + fmt((sensor.stats.events || {}).dropped_disk || 0) + " (disk) / " +
      fmt((sensor.stats.events || {}).dropped_ring || 0) + " (ring)"
    : "no sensor statistics (stats_file)";
  const ct = $("consumers").tBodies[0];
  ct.textContent = "";
  if (s.store) row(ct, [{ text: "store (indexer)" }, { text: s.store.segment + ":" + s.store.offset }, { text: lag === null ? "–" : fmt(lag) + " bytes" }]);
  if (sensor && sensor.stats && sensor.stats.eve_written !== undefined)
    row(ct, [{ text: "EVE writer" }, { text: fmt(sensor.stats.eve_written) + " events" }, { text: fmt(sensor.stats.events.written - sensor.stats.eve_written) + " events" }]);
}

// Top networks of the range's last day: one day is cheap on any store (the store's daily rollup).
async function loadNetworks(r) {
  const q = "from=" + r.to + "&to=" + r.to;
  const [a, c] = await Promise.all([api("networks?by=asn&limit=10&" + q), api("networks?by=country&limit=10&" + q)]);
  const ta = $("top-asn").tBodies[0];
  ta.textContent = "";
  for (const x of a.rows) row(ta, [{ text: "AS" + x.asn }, { text: x.country || "–" }, { text: fmt(x.unique_src), cls: "num" }, { text: fmt(x.events), cls: "num" }]);
  const tc = $("top-cc").tBodies[0];
  tc.textContent = "";
  for (const x of c.rows) row(tc, [{ text: x.country || "unknown" }, { text: fmt(x.unique_src), cls: "num" }, { text: fmt(x.events), cls: "num" }]);
}

function when(s) {
  return s.replace("T", " ").slice(0, 19);
}

async function loadHosts(r, more) {
  const tb = $("hosts").tBodies[0];
  if (!more) {
    tb.textContent = "";
    state.hostsNext = null;
  }
  const after = more && state.hostsNext ? "&after=" + encodeURIComponent(state.hostsNext) : "";
  // An owner sees its hosts over the range; the operator (every network) the last day's.
  const q = state.me.admin ? "from=" + r.to + "&to=" + r.to : r.q;
  const h = await api("hosts?limit=200&" + q + after);
  for (const x of h.rows) {
    const fp = [].concat(x.user_agents, x.tls_server_names, x.bot_ids.map((b) => "bot " + b)).join(" · ");
    row(tb, [{ text: x.addr, cls: "addr" }, { text: "AS" + x.asn + (x.country ? " " + x.country : "") },
      { text: when(x.first_seen) }, { text: when(x.last_seen) }, { text: x.families.join(", ") },
      { text: x.ports.join(", ") }, { text: fp || "–", cls: "wrap" }, { text: fmt(x.events), cls: "num" }]);
  }
  state.hostsNext = h.next;
  $("hosts-more").classList.toggle("hidden", !h.next);
}

async function listReports(ev) {
  if (ev) ev.preventDefault();
  const ul = $("reports");
  ul.textContent = "";
  const day = $("report-day").value;
  const r = await api("reports?day=" + encodeURIComponent(day));
  if (!r.files.length) ul.appendChild(el("li", "no reports for " + day));
  for (const f of r.files) {
    const li = document.createElement("li");
    const a = el("a", f.name);
    a.href = f.url;
    a.setAttribute("download", f.name);
    li.appendChild(a);
    li.appendChild(el("span", " (" + fmt(f.bytes) + " bytes)", "muted"));
    ul.appendChild(li);
  }
}

async function refresh() {
  const r = range();
  try {
    await Promise.all([loadSummary(r), loadCharts(r), loadNetworks(r), loadHosts(r, false)]);
    document.body.dataset.loaded = "1";
  } catch (e) {
    if (e.message !== "unauthorised") console.warn("refresh:", e.message);
  }
}

async function start() {
  try {
    state.me = await api("me");
  } catch (e) {
    return;
  }
  $("login").classList.add("hidden");
  $("app").classList.remove("hidden");
  $("logout").classList.remove("hidden");
  $("range-box").classList.remove("hidden");
  const m = state.me;
  const scope = [].concat(m.scope.asns.map((a) => "AS" + a), m.scope.cidrs, m.scope.countries).join(", ");
  $("who").textContent = m.name + (m.admin ? " (operator)" : " — " + scope);
  $("ops").classList.toggle("hidden", !m.admin);
  $("hosts-title").textContent = m.admin ? "Infected hosts, last day" : "Infected hosts";
  document.body.dataset.role = m.admin ? "operator" : "owner";
  $("report-day").value = isoDay(new Date());
  await refresh();
  if (m.admin) state.timer = setInterval(() => loadSummary(range()).catch(() => {}), 5000);
}

async function login(ev) {
  ev.preventDefault();
  const body = new URLSearchParams({ token: $("token").value.trim() });
  const r = await fetch("/api/v1/login", { method: "POST", body, credentials: "same-origin" });
  $("token").value = "";
  if (!r.ok) {
    $("login-error").textContent = r.status === 401 ? "Unknown or revoked token." : "Sign-in failed (" + r.status + ").";
    $("login-error").classList.remove("hidden");
    return;
  }
  $("login-error").classList.add("hidden");
  await start();
}

async function logout() {
  await fetch("/api/v1/logout", { method: "POST", credentials: "same-origin" });
  document.body.dataset.loaded = "";
  showLogin();
}

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const [id, u] of Object.entries(state.charts)) u.setSize({ width: Math.max(260, $(id).clientWidth), height: 240 });
  }, 150);
});

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("range").addEventListener("change", refresh);
  $("hosts-more").addEventListener("click", () => loadHosts(range(), true));
  $("reports-form").addEventListener("submit", listReports);
  start().then(() => { if (!state.me) showLogin(); });
});
