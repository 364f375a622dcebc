// Showing a job: status, outcome badge, figures, output panes, and the judge table.
// Output from the program is only ever put in the page as text (textContent), never as HTML.

const $ = (id) => document.getElementById(id);

const SIGNALS = { 1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 15: "SIGTERM", 24: "SIGXCPU", 25: "SIGXFSZ", 31: "SIGSYS" };

const STATUS_TEXT = {
  IDLE: "Press Run to start",
  NOT_STARTED: "Not started",
  LOST: "Lost track of the job",
  SUBMITTING: "Submitting…",
  PENDING: "Queued…",
  RUNNING: "Running…",
  COMPLETED: "Finished",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
};

/** A readable name for an outcome or verdict: TIME_LIMIT_EXCEEDED -> "Time limit exceeded". */
export const label = (kind) => kind.charAt(0) + kind.slice(1).toLowerCase().replaceAll("_", " ");

export const ms = (v) => (v == null ? "–" : `${v.toLocaleString("en")} ms`);

export function memory(kb) {
  if (kb == null) return "–";
  return kb >= 1024 ? `${(kb / 1024).toFixed(1)} MiB` : `${kb} KiB`;
}

export function exitText(exitCode, signal) {
  if (signal != null) return `signal ${signal}${SIGNALS[signal] ? ` (${SIGNALS[signal]})` : ""}`;
  if (exitCode != null) return `exit ${exitCode}`;
  return "–";
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

function badgeEl(kind) {
  const b = el("span", { className: "badge", textContent: kind });
  b.dataset.kind = kind;
  b.title = label(kind);
  return b;
}

/** Show the job's status; data-seen keeps every status this job went through, in order. */
export function setStatus(status, extra = "") {
  const node = $("status");
  const seen = (node.dataset.seen || "").split(" ").filter(Boolean);
  if (seen[seen.length - 1] !== status) node.dataset.seen = [...seen, status].join(" ");
  node.dataset.status = status;
  node.textContent = (STATUS_TEXT[status] || status) + extra;
  node.classList.toggle("busy", ["SUBMITTING", "PENDING", "RUNNING"].includes(status));
}

export function setBadge(kind) {
  const b = $("badge");
  b.hidden = !kind;
  b.textContent = kind || "";
  b.dataset.kind = kind || "";
  b.title = kind ? label(kind) : "";
}

export function setTransport(transport) {
  const link = $("job-link");
  link.dataset.transport = transport;
}

let measuring = false; // the judge job being shown also measures performance

/**
 * Clear the result area for a new job of the given mode ("run" or "judge").
 * @param {number} extraRuns the performance runs the job will make after its cases
 */
export function resetResult(mode, cases = [], extraRuns = 0) {
  measuring = extraRuns > 0;
  setBadge(null);
  $("status").dataset.seen = "";
  $("run-view").hidden = mode !== "run";
  $("judge-view").hidden = mode !== "judge";
  for (const id of ["stat-exit", "stat-cpu", "stat-wall", "stat-memory"]) $(id).textContent = "–";
  $("stdout").textContent = "";
  $("stderr").textContent = "";
  $("cut-note").hidden = true;
  $("job-link").hidden = true;
  $("judge-summary").textContent = "";
  $("perf-view").hidden = true;
  $("perf-summary").textContent = "";
  $("perf-rows").replaceChildren();
  const rows = $("verdict-rows");
  rows.replaceChildren(
    ...cases.map((c, i) => {
      const tr = el("tr");
      tr.dataset.case = String(i + 1);
      const verdict = el("td", { className: "verdict" }, el("span", { className: "pending", textContent: "waiting" }));
      tr.append(el("td", { textContent: String(i + 1) }), el("td", { className: "name", textContent: c.name || "" }), verdict, el("td", { textContent: "–" }), el("td", { textContent: "–" }), el("td"));
      return tr;
    }),
  );
  setProgress(0, cases.length + extraRuns);
}

export function showJobLink(id) {
  const p = $("job-link");
  const a = el("a", { href: `jobs/${encodeURIComponent(id)}`, textContent: id });
  a.target = "_blank";
  a.rel = "noopener";
  p.replaceChildren("Job ", a, p.dataset.transport === "polling" ? " · followed by polling (the live connection was lost)" : " · live over WebSocket");
  p.hidden = false;
}

function setProgress(done, total) {
  const bar = $("progress");
  bar.max = Math.max(total, 1);
  bar.value = done;
  bar.dataset.done = String(done);
  bar.dataset.total = String(total);
  const what = measuring ? "runs (tests, then performance)" : "cases";
  $("progress-text").textContent = total ? `${done} of ${total} ${what} finished` : "";
}

/** Show one state of a job (any message of its WebSocket, or a GET). */
export function renderJob(job) {
  const p = job.progress;
  if (p && job.status === "RUNNING") setProgress(p.done, p.total);
  setStatus(job.status, p && job.status === "RUNNING" ? ` ${p.done} of ${p.total}` : "");
  if (job.status === "CANCELLED") setBadge("CANCELLED");
  if (job.status !== "COMPLETED" || !job.result) return;
  if ("verdict" in job.result) renderJudge(job.result, job.progress);
  else renderRun(job.result, job.limits);
}

function renderRun(result, limits) {
  setBadge(result.outcome);
  $("stat-exit").textContent = exitText(result.exit_code, result.signal);
  $("stat-cpu").textContent = ms(result.usage.cpu_time_ms);
  $("stat-wall").textContent = ms(result.usage.wall_time_ms);
  $("stat-memory").textContent = memory(result.usage.memory_kb);
  $("stdout").textContent = result.stdout;
  $("stderr").textContent = result.stderr;
  const cut = result.outcome === "OUTPUT_LIMIT_EXCEEDED";
  $("cut-note").hidden = !cut;
  if (cut) {
    $("cut-note").textContent = `Output was cut at the limit of ${limits.output_kb} KiB per stream; what came before the cut is shown.`;
  }
}

function details(test) {
  const cell = el("td", { className: "details" });
  if (test.hidden) {
    cell.append(el("span", { className: "muted", textContent: "hidden case: only its verdict is shown" }));
    return cell;
  }
  if (test.diff) cell.append(el("pre", { className: "diff", textContent: test.diff }));
  const lines = [];
  if (test.outcome && test.outcome !== "SUCCESS") lines.push(exitText(test.exit_code, test.signal));
  if (lines.length) cell.append(el("span", { className: "muted", textContent: lines.join(" ") }));
  if (test.stdout || test.stderr) {
    const more = el("details", {}, el("summary", { textContent: "output" }));
    if (test.stdout) more.append(el("h4", { textContent: "stdout" }), el("pre", { className: "out small", textContent: test.stdout }));
    if (test.stderr) more.append(el("h4", { textContent: "stderr" }), el("pre", { className: "out small err", textContent: test.stderr }));
    cell.append(more);
  }
  return cell;
}

function renderJudge(result, progress) {
  setBadge(result.verdict);
  const runs = progress ? progress.total : result.total; // with performance runs: more
  setProgress(runs, runs);
  const score = Number.isInteger(result.score) ? String(result.score) : result.score.toFixed(1);
  $("judge-summary").replaceChildren(
    el("strong", { textContent: `${result.passed} of ${result.total} passed` }),
    ` · score ${score} / 100 · max CPU ${ms(result.usage.cpu_time_ms)} · max memory ${memory(result.usage.memory_kb)}`,
  );
  $("verdict-rows").replaceChildren(
    ...result.tests.map((test, i) => {
      const tr = el("tr");
      tr.dataset.case = String(i + 1);
      tr.dataset.verdict = test.verdict;
      tr.append(
        el("td", { textContent: String(i + 1) }),
        el("td", { className: "name", textContent: test.name || "" }),
        el("td", { className: "verdict" }, badgeEl(test.verdict)),
        el("td", { textContent: ms(test.usage && test.usage.cpu_time_ms) }),
        el("td", { textContent: memory(test.usage && test.usage.memory_kb) }),
        details(test),
      );
      return tr;
    }),
  );
  renderPerformance(result);
}

const fixed = (v, digits) => (v == null ? "–" : Number(v).toFixed(digits));
const ratio = (v) => (v == null ? "–" : `×${Number(v).toPrecision(3)}`);

function ratioCell(value, range) {
  const cell = el("td", { textContent: ratio(value) });
  if (range) cell.append(el("span", { className: "range", textContent: `${ratio(range[0])}–${ratio(range[1])}` }));
  return cell;
}

/** The performance score and the per-case comparison, when the job measured it. */
function renderPerformance(result) {
  const perf = result.performance;
  const view = $("perf-view");
  view.hidden = !perf;
  if (!perf) return;
  const byReference = perf.basis === "REFERENCE";
  view.dataset.basis = perf.basis;
  view.dataset.score = result.performance_score == null ? "" : String(result.performance_score);
  const summary = $("perf-summary");
  if (result.performance_score == null) {
    summary.replaceChildren(el("strong", { textContent: "No performance score" }), ` · ${label(perf.reason)}: ${perf.detail}`);
  } else {
    const [low, high] = perf.score_range;
    const basis = byReference ? "against the reference (50: as fast and lean)" : "against the limits (the headroom left)";
    summary.replaceChildren(
      el("strong", { textContent: `Performance score ${fixed(result.performance_score, 1)} / 100` }),
      ` ${basis} · ${fixed(low, 1)} to ${fixed(high, 1)} from the best and worst runs · ${perf.repeat} runs of each · weights: CPU time ${perf.weights.cpu_time}, memory ${perf.weights.memory}`,
    );
  }
  const heads = { cpu: ["Reference CPU", "CPU limit"], memory: ["Reference memory", "Memory limit"] };
  for (const th of document.querySelectorAll("#perf-view .ref-col")) {
    th.textContent = heads[th.dataset.figure][byReference ? 0 : 1];
  }
  $("perf-rows").replaceChildren(
    ...perf.cases.map((c) => {
      const tr = el("tr");
      tr.dataset.case = String(c.case + 1);
      tr.append(
        el("td", { textContent: String(c.case + 1) }),
        el("td", { className: "name", textContent: c.name || "" }),
        el("td", { textContent: ms(c.submission.cpu_time_ms) }),
        el("td", { textContent: ms(c.baseline.cpu_time_ms) }),
        ratioCell(c.cpu_time_ratio, c.cpu_time_ratio_range),
        el("td", { textContent: memory(c.submission.memory_kb) }),
        el("td", { textContent: memory(c.baseline.memory_kb) }),
        ratioCell(c.memory_ratio, c.memory_ratio_range),
        el("td", { className: "score", textContent: fixed(c.score, 1) }),
      );
      return tr;
    }),
  );
}
