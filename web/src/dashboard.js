// The dashboard: a client of the public API only (GET /stats, GET /history, GET /health),
// on its own origin, drawn with uPlot. Refreshed every REFRESH_MS; the queue chart keeps the
// /health samples taken since the page opened.
import uPlot from "uplot";

import "./dashboard.css";

const REFRESH_MS = 10_000;
const HEALTH_SAMPLES = 120;
/** The queue chart shows this many seconds (the samples come every REFRESH_MS). */
const QUEUE_WINDOW_S = (HEALTH_SAMPLES * REFRESH_MS) / 1000;
const RANGES = {
  "1h": { spanS: 3600, bucket: "1m" },
  "6h": { spanS: 6 * 3600, bucket: "5m" },
  "24h": { spanS: 86400, bucket: "1h" },
  "7d": { spanS: 7 * 86400, bucket: "6h" },
};
/** Outcomes in stacking order (bottom first), each with its palette colour. */
const OUTCOMES = [
  ["SUCCESS", "--ok"],
  ["ACCEPTED", "--ok"],
  ["WRONG_ANSWER", "--accent"],
  ["RUNTIME_ERROR", "--re"],
  ["TIME_LIMIT_EXCEEDED", "--tle"],
  ["MEMORY_LIMIT_EXCEEDED", "--mle"],
  ["OUTPUT_LIMIT_EXCEEDED", "--ole"],
  ["COMPILE_ERROR", "--grey"],
  ["SKIPPED", "--grey"],
  ["CANCELLED", "--grey"],
  ["FAILED", "--bad"],
];
const STAGES = [
  ["queue_wait_ms", "queue wait", "--accent"],
  ["run_ms", "run", "--ok"],
  ["total_ms", "end to end", "--re"],
];

const $ = (id) => document.getElementById(id);
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const number = (n) => (n == null ? "–" : n.toLocaleString("en"));

async function get(path) {
  const response = await fetch(new URL(path, document.baseURI), { headers: { accept: "application/json" } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: the status says enough
  }
  if (!response.ok) {
    throw new Error((body && body.error) || `${path}: ${response.status} ${response.statusText}`);
  }
  return body;
}

/** Every bucket start from since to until, so that buckets without jobs show as zero. */
function timeline(stats) {
  const xs = [];
  const since = Date.parse(stats.since) / 1000;
  const until = Date.parse(stats.until) / 1000;
  for (let t = since; t < until; t += stats.bucket_s) xs.push(t);
  const index = new Map(xs.map((t, i) => [t, i]));
  return { xs, at: (bucket) => index.get(Date.parse(bucket.start) / 1000) };
}

const charts = {};

function size(el) {
  const width = Math.max(240, el.clientWidth);
  const height = el.classList.contains("small") ? 180 : window.innerWidth < 760 ? 200 : 240;
  return { width, height };
}

function axes(yLabel) {
  const grid = { stroke: css("--line"), width: 1 };
  const stroke = css("--muted");
  return [
    { stroke, grid, ticks: grid },
    { stroke, grid, ticks: grid, label: yLabel, size: 50 },
  ];
}

/** Draw (or redraw) a chart into the element with this id. */
function draw(id, opts, data) {
  const el = $(id);
  if (charts[id]) charts[id].destroy();
  charts[id] = new uPlot({ ...size(el), ...opts }, data, el);
}

function drawRate(stats) {
  const { xs, at } = timeline(stats);
  const perMinute = stats.bucket_s / 60;
  const seen = new Set(stats.buckets.flatMap((b) => Object.keys(b.by_outcome)));
  const present = OUTCOMES.filter(([name]) => seen.has(name));
  for (const name of seen) if (!OUTCOMES.some(([o]) => o === name)) present.push([name, "--grey"]);
  const raw = present.map(() => xs.map(() => 0));
  const empty = xs.map(() => true);
  for (const bucket of stats.buckets) {
    const i = at(bucket);
    if (i === undefined) continue;
    empty[i] = false;
    present.forEach(([name], k) => {
      raw[k][i] = (bucket.by_outcome[name] || 0) / perMinute;
    });
  }
  // stacked: each series is the sum of those below it; drawn from the top one down
  const stacked = [];
  raw.forEach((values, k) => stacked.push(values.map((v, i) => v + (k ? stacked[k - 1][i] : 0))));
  // a bucket without jobs draws no bar (null), not a bar of height zero
  const shown = stacked.map((values) => values.map((v, i) => (empty[i] ? null : v)));
  const order = present.map((_, k) => k).reverse();
  const bars = uPlot.paths.bars({ size: [0.8, 40] });
  draw(
    "rate-chart",
    {
      axes: axes("jobs/min"),
      scales: { y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      series: [
        {},
        ...order.map((k) => ({
          label: present[k][0],
          stroke: css(present[k][1]),
          fill: css(present[k][1]),
          paths: bars,
          points: { show: false },
          value: (u, v, si, i) => (i == null ? "–" : (Math.round(raw[k][i] * 100) / 100).toString()),
        })),
      ],
    },
    [xs, ...order.map((k) => shown[k])],
  );
}

function drawLatency(stats) {
  const { xs, at } = timeline(stats);
  const series = [{}];
  const data = [xs];
  for (const [key, label, colour] of STAGES) {
    for (const p of ["p50", "p95"]) {
      const values = xs.map(() => null);
      for (const bucket of stats.buckets) {
        const i = at(bucket);
        if (i !== undefined) values[i] = bucket[key][p];
      }
      data.push(values);
      series.push({
        label: `${label} ${p}`,
        stroke: css(colour),
        width: p === "p50" ? 2 : 1.5,
        dash: p === "p95" ? [6, 4] : undefined,
        spanGaps: false,
        points: { show: true, size: 4 },
      });
    }
  }
  draw("latency-chart", { axes: axes("ms"), series }, data);
}

const health = { xs: [], pending: [], running: [], workers: [] };

const clock = (u, ticks) =>
  ticks.map((t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));

function drawQueue() {
  const [x, y] = axes("");
  draw(
    "queue-chart",
    {
      axes: [{ ...x, values: clock }, y],
      scales: {
        // the last QUEUE_WINDOW_S seconds, however few samples there are yet
        x: { time: true, range: (u, min, max) => [max - QUEUE_WINDOW_S, max] },
        y: { range: (u, min, max) => [0, Math.max(2, max)] },
      },
      series: [
        {},
        { label: "waiting", stroke: css("--tle"), width: 2, points: { size: 4 } },
        { label: "running", stroke: css("--accent"), width: 2, points: { size: 4 } },
        { label: "workers alive", stroke: css("--ok"), width: 2, points: { size: 4 } },
      ],
    },
    [health.xs, health.pending, health.running, health.workers],
  );
}

function showLanguages(stats) {
  const list = $("languages");
  const entries = Object.entries(stats.by_language).sort((a, b) => b[1] - a[1]);
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  list.replaceChildren(
    ...entries.map(([name, n]) => {
      const li = document.createElement("li");
      li.dataset.language = name;
      const label = document.createElement("span");
      label.textContent = name;
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${(100 * n) / total}%`;
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = `${Math.round((100 * n) / total)}% · ${number(n)}`;
      const track = document.createElement("span");
      track.className = "track";
      track.append(bar);
      li.append(label, track, count);
      return li;
    }),
  );
  if (!entries.length) {
    const li = document.createElement("li");
    li.textContent = "No job in this range.";
    list.replaceChildren(li);
  }
}

function showFailures(page) {
  const rows = page.entries.map((entry) => {
    const tr = document.createElement("tr");
    const cells = [
      new Date(entry.ended_at).toLocaleString(),
      null,
      entry.language,
      entry.api,
      entry.error || "",
    ];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      if (i === 1) {
        const a = document.createElement("a");
        a.href = `history/${encodeURIComponent(entry.job_id)}`;
        a.textContent = entry.job_id.slice(0, 8);
        a.title = entry.job_id;
        td.className = "mono";
        td.append(a);
      } else {
        td.textContent = text;
        if (i === 4) td.className = "error";
      }
      tr.append(td);
    });
    return tr;
  });
  $("failures").replaceChildren(...rows);
  $("no-failures").hidden = rows.length > 0;
}

function showFigures(stats) {
  $("fig-jobs").textContent = number(stats.jobs);
  const ok = (stats.by_outcome.SUCCESS || 0) + (stats.by_outcome.ACCEPTED || 0);
  $("fig-ok").textContent = stats.jobs ? `${Math.round((100 * ok) / stats.jobs)}%` : "–";
  const p95 = stats.total_ms.p95;
  $("fig-p95").textContent = p95 == null ? "–" : `${number(p95)} ms`;
}

async function sampleHealth() {
  let body;
  try {
    const response = await fetch(new URL("health", document.baseURI));
    body = await response.json(); // 503 carries the same figures, with its problems
  } catch {
    return;
  }
  health.xs.push(Date.now() / 1000);
  health.pending.push(body.pending ?? null);
  health.running.push(body.running ?? null);
  health.workers.push(body.workers ?? null);
  for (const key of Object.keys(health)) health[key] = health[key].slice(-HEALTH_SAMPLES);
  $("fig-pending").textContent = number(body.pending);
  $("fig-running").textContent = number(body.running);
  $("fig-workers").textContent = number(body.workers);
  drawQueue();
}

let rendered = null;

async function refresh() {
  const range = RANGES[$("range").value] || RANGES["1h"];
  const until = new Date();
  const since = new Date(until.getTime() - range.spanS * 1000);
  const window = `since=${since.toISOString()}&until=${until.toISOString()}`;
  try {
    const [stats, failures] = await Promise.all([
      get(`stats?${window}&bucket=${range.bucket}`),
      get(`history?status=FAILED&limit=10&${window}`),
      sampleHealth(),
    ]);
    rendered = stats;
    showFigures(stats);
    drawRate(stats);
    drawLatency(stats);
    showLanguages(stats);
    showFailures(failures);
    $("problem").hidden = true;
    $("updated").textContent = `updated ${until.toLocaleTimeString()}`;
  } catch (e) {
    $("problem").textContent = `Cannot read the statistics: ${e.message}`;
    $("problem").hidden = false;
  }
  document.body.dataset.ready = "true";
}

function redrawAll() {
  if (!rendered) return;
  drawRate(rendered);
  drawLatency(rendered);
  drawQueue();
}

$("range").addEventListener("change", refresh);
let resizing = null;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(redrawAll, 150);
});
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redrawAll);
refresh();
setInterval(refresh, REFRESH_MS);
