/**
 * The dashboard's one page: plain HTML, CSS and a script that polls `/stats` and `/health` every second and
 * draws SVG charts of the last few minutes. Self-contained: it loads nothing from anywhere else.
 */
export function dashboardPage(nonce: string, intervalMs: number): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>toolbridge</title>
<style nonce="${nonce}">
  :root { color-scheme: light dark; --fg: #1d2330; --muted: #6b7385; --bg: #f6f7f9; --card: #fff; --grid: #e3e6eb; }
  @media (prefers-color-scheme: dark) { :root { --fg: #e6e9ef; --muted: #98a0b3; --bg: #14171d; --card: #1c2028; --grid: #2c323d; } }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; gap: 16px; align-items: baseline; padding: 16px 24px; }
  h1 { font-size: 20px; margin: 0; }
  #health { font-weight: 600; padding: 2px 10px; border-radius: 10px; background: var(--grid); }
  #health[data-status="healthy"] { background: #2e7d32; color: #fff; }
  #health[data-status="degraded"] { background: #ed8b00; color: #fff; }
  #health[data-status="unhealthy"] { background: #c62828; color: #fff; }
  #summary, #reasons { color: var(--muted); }
  #reasons { padding: 0 24px; min-height: 1em; }
  main { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 16px; padding: 0 24px 24px; }
  section { background: var(--card); border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  h2 { font-size: 14px; margin: 0 0 8px; }
  svg { width: 100%; height: 200px; display: block; }
  svg text { fill: var(--muted); font-size: 11px; }
  table { width: 100%; border-collapse: collapse; font-size: 12px; }
  th, td { text-align: right; padding: 3px 6px; border-bottom: 1px solid var(--grid); }
  th:first-child, td:first-child, td:last-child, th:last-child { text-align: left; }
  .legend { display: flex; flex-wrap: wrap; gap: 4px 12px; font-size: 12px; color: var(--muted); min-height: 18px; }
  .legend span::before { content: ""; display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; background: var(--c); }
</style>
</head>
<body>
<header>
  <h1>toolbridge</h1>
  <span id="health" data-status="unknown">…</span>
  <span id="summary"></span>
</header>
<p id="reasons"></p>
<main>
  <section><h2>Latency per tool (p50 solid, p99 dashed), ms</h2><svg data-chart="latency"></svg><div class="legend" data-legend="latency"></div></section>
  <section><h2>Throughput, calls/s</h2><svg data-chart="throughput"></svg><div class="legend" data-legend="throughput"></div></section>
  <section><h2>Pool utilization, %</h2><svg data-chart="utilization"></svg><div class="legend" data-legend="utilization"></div></section>
  <section><h2>Heap per worker, MiB (line: its recycle threshold)</h2><svg data-chart="heap"></svg><div class="legend" data-legend="heap"></div></section>
  <section><h2>Bytes across threads, MiB/s</h2><svg data-chart="bytes"></svg><div class="legend" data-legend="bytes"></div></section>
  <section><h2>Cache hit rate, %</h2><svg data-chart="cache"></svg><div class="legend" data-legend="cache"></div></section>
  <section id="sessions" hidden><h2>Sessions (bridge.open)</h2><table data-table="sessions"><thead><tr><th>session</th><th>open</th><th>opened</th><th>closed</th><th>lost</th><th>calls</th><th>errors</th><th>p50 ms</th><th>open per worker</th></tr></thead><tbody></tbody></table></section>
  <section id="hosts" hidden><h2>Tool hosts (toolbridge/nats): answer p50, ms</h2><svg data-chart="hosts"></svg><div class="legend" data-legend="hosts"></div></section>
</main>
<script nonce="${nonce}">
"use strict";
const INTERVAL = ${intervalMs};
const KEEP = 180;
const COLORS = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00", "#b82e2e", "#316395"];
const NS = "http://www.w3.org/2000/svg";
const history = [];
const colorOf = new Map();
const color = (name) => { if (!colorOf.has(name)) colorOf.set(name, COLORS[colorOf.size % COLORS.length]); return colorOf.get(name); };

function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

function frame(svg, yMax) {
  svg.replaceChildren();
  const w = svg.clientWidth || 460, h = svg.clientHeight || 200;
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  const box = { x: 52, y: 8, w: w - 60, h: h - 28 };
  for (let i = 0; i <= 4; i++) {
    const y = box.y + box.h - (box.h * i) / 4;
    el("line", { x1: box.x, x2: box.x + box.w, y1: y, y2: y, stroke: "#8886" }, svg);
    el("text", { x: box.x - 6, y: y + 4, "text-anchor": "end" }, svg).textContent = fmt((yMax * i) / 4);
  }
  return box;
}

function fmt(v) { return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2).replace(/\\.?0+$/, ""); }

function legend(id, names) {
  const box = document.querySelector('[data-legend="' + id + '"]');
  box.replaceChildren(...names.map((name) => { const s = document.createElement("span"); s.style.setProperty("--c", color(name)); s.textContent = name; return s; }));
}

/** Lines over time: series = [{ name, key, values: number[] (aligned with history), dash }]. */
function lineChart(id, series, minMax) {
  const svg = document.querySelector('[data-chart="' + id + '"]');
  const all = series.flatMap((s) => s.values.filter((v) => Number.isFinite(v)));
  // Percentages top out at 100; other charts leave a tenth of headroom.
  const yMax = minMax ? Math.max(minMax, ...all) : Math.max(...all, 1e-9) * 1.1;
  const box = frame(svg, yMax);
  const n = history.length;
  for (const s of series) {
    const points = [];
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      // The history fills the width; older points scroll off the left once KEEP are kept.
      const x = box.x + (n <= 1 ? box.w : (box.w * i) / (n - 1));
      points.push(x.toFixed(1) + "," + (box.y + box.h - (box.h * v) / yMax).toFixed(1));
    });
    el("polyline", { points: points.join(" "), fill: "none", stroke: color(s.key || s.name), "stroke-width": 1.8,
      "stroke-dasharray": s.dash ? "4 3" : "none", "data-series": s.name, "data-points": points.length }, svg);
  }
  legend(id, [...new Set(series.map((s) => s.key || s.name))]);
}

function rate(key) {
  return history.map((h, i) => {
    if (i === 0) return NaN;
    const prev = history[i - 1], dt = (h.t - prev.t) / 1000;
    return dt > 0 ? (key(h.stats) - key(prev.stats)) / dt : NaN;
  });
}

function render() {
  const latest = history[history.length - 1].stats;
  const tools = Object.keys(latest.tools);
  lineChart("latency", tools.flatMap((tool) => [
    { name: tool + " p50", key: tool, values: history.map((h) => h.stats.tools[tool] ? h.stats.tools[tool].latency.p50 : NaN) },
    { name: tool + " p99", key: tool, dash: true, values: history.map((h) => h.stats.tools[tool] ? h.stats.tools[tool].latency.p99 : NaN) },
  ]));
  lineChart("throughput", tools.map((tool) => ({ name: tool, values: history.map((h) => h.stats.tools[tool] ? h.stats.tools[tool].throughput : NaN) })));
  lineChart("utilization", Object.keys(latest.pools).map((pool) => ({ name: pool, values: history.map((h) => h.stats.pools[pool] ? 100 * h.stats.pools[pool].utilization : NaN) })), 100);
  lineChart("bytes", [
    { name: "shared", values: rate((s) => s.bytes.shared / 1048576) },
    { name: "copied", values: rate((s) => s.bytes.copied / 1048576) },
  ]);
  lineChart("cache", [{ name: "hit rate", values: history.map((h) => { const c = h.stats.cache; return c.hits + c.misses > 0 ? 100 * c.hitRate : NaN; }) }], 100);
  heapChart(latest.memory.workers);
  const hosts = Object.keys(latest.hosts || {});
  document.getElementById("hosts").hidden = hosts.length === 0;
  if (hosts.length > 0) {
    lineChart("hosts", hosts.map((host) => {
      const h = latest.hosts[host];
      return { name: host + " (" + h.inFlight + " in flight, " + h.queued + " queued, " + h.calls + " calls)", key: host, values: history.map((e) => e.stats.hosts && e.stats.hosts[host] ? e.stats.hosts[host].latency.p50 : NaN) };
    }));
  }
  sessionTable(latest.sessions || {});
  const calls = tools.reduce((n, t) => n + latest.tools[t].calls, 0);
  document.getElementById("summary").textContent = calls + " calls, " + latest.recycles.total + " recycles, RSS " + latest.memory.rssMb + " MiB, shared " + latest.memory.sharedMb + " MiB, up " + (latest.uptimeMs / 1000).toFixed(0) + " s";
}

/** One row per session name: how many are open, their lifecycle counts, calls, and where they live. */
function sessionTable(sessions) {
  const names = Object.keys(sessions);
  document.getElementById("sessions").hidden = names.length === 0;
  const body = document.querySelector('[data-table="sessions"] tbody');
  body.replaceChildren();
  for (const name of names) {
    const s = sessions[name];
    const row = document.createElement("tr");
    row.dataset.session = name;
    const where = Object.entries(s.workers).map(([id, n]) => "worker " + id + ": " + n).join(", ");
    for (const cell of [name, s.open, s.opened, s.closed, s.lost, s.calls, s.errors, s.latency.p50.toFixed(2), where || "-"]) {
      const td = document.createElement("td");
      td.textContent = String(cell);
      row.append(td);
    }
    body.append(row);
  }
}

/** Bars: each worker's heap, with a line at the heap it may reach. */
function heapChart(workers) {
  const svg = document.querySelector('[data-chart="heap"]');
  const yMax = Math.max(1, ...workers.map((w) => Math.max(w.heapMb, Number.isFinite(w.heapLimitMb) ? w.heapLimitMb : 0))) * 1.1;
  const box = frame(svg, yMax);
  const slot = box.w / Math.max(1, workers.length);
  workers.forEach((w, i) => {
    const x = box.x + i * slot + slot * 0.15, bw = slot * 0.7;
    const h = (box.h * w.heapMb) / yMax;
    el("rect", { x, y: box.y + box.h - h, width: bw, height: h, fill: color(w.pool), "data-worker": w.pool + "/" + w.id, "data-heap": w.heapMb }, svg);
    if (w.heapLimitMb > 0) {
      const y = box.y + box.h - (box.h * w.heapLimitMb) / yMax;
      el("line", { x1: x - 2, x2: x + bw + 2, y1: y, y2: y, stroke: "#c62828", "stroke-width": 2, "data-threshold": w.heapLimitMb }, svg);
    }
    el("text", { x: x + bw / 2, y: box.y + box.h + 14, "text-anchor": "middle" }, svg).textContent = w.pool + "/" + w.id + (w.sessions ? " (" + w.sessions + " sessions)" : "");
  });
  legend("heap", [...new Set(workers.map((w) => w.pool))]);
}

async function poll() {
  try {
    const [stats, health] = await Promise.all([fetch("stats" + location.search).then((r) => r.json()), fetch("health" + location.search).then((r) => r.json())]);
    history.push({ t: Date.now(), stats });
    if (history.length > KEEP) history.shift();
    const badge = document.getElementById("health");
    badge.dataset.status = health.status;
    badge.textContent = health.status;
    document.getElementById("reasons").textContent = health.reasons.map((r) => r.message).join("; ");
    render();
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  } catch (error) {
    document.getElementById("health").textContent = "unreachable";
    document.getElementById("health").dataset.status = "unknown";
  } finally {
    setTimeout(poll, INTERVAL);
  }
}
poll();
</script>
</body>
</html>
`;
}
