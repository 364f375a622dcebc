// The playground page: wires the editor, the inputs and the result area to the public API.
import "./style.css";

import * as api from "./api.js";
import { createEditor } from "./editor.js";
import { renderJob, resetResult, setStatus, setTransport, showJobLink } from "./render.js";
import { CHECKER_EXAMPLE, clean, EXAMPLE, loadDraft, readFragment, saveDraft, shareFragment } from "./state.js";
import * as terminal from "./terminal.js";

const $ = (id) => document.getElementById(id);
const isMac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
const SAVE_DELAY_MS = 300;

/** The server's limit defaults and maximums, from GET /limits. */
async function loadConfig() {
  try {
    const known = await api.limits();
    const limits = {};
    for (const name of Object.keys(LIMIT_FIELDS)) {
      limits[name] = { default: known.defaults[name], max: known.maximums[name] };
    }
    const repeat = { default: known.default_performance_repeat, max: known.max_performance_repeat };
    return { limits, max_test_cases: known.max_test_cases, repeat };
  } catch {
    return {}; // without them the server's 422 still names a limit that is too high
  }
}

let config = {};
let state = clean(EXAMPLE);
let editor = null;
let checkerEditor = null; // the second editor: a checker program, in judge mode
let saveTimer = null;
let current = null; // {id, controller} of the job being followed

// --- the draft -------------------------------------------------------------------------

function saveNow() {
  clearTimeout(saveTimer);
  saveTimer = null;
  saveDraft(state);
}

function changed() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(saveNow, SAVE_DELAY_MS);
}

addEventListener("pagehide", saveNow);
document.addEventListener("visibilitychange", () => document.visibilityState === "hidden" && saveNow());

// --- inputs ----------------------------------------------------------------------------

const LIMIT_FIELDS = { cpu_time_ms: "cpu", memory_mb: "memory" };

function fillInputs() {
  editor.code = state.code;
  $("stdin").value = state.stdin;
  $("cpu").value = state.limits.cpu_time_ms;
  $("memory").value = state.limits.memory_mb;
  $("checker").value = state.checker;
  checkerEditor.code = state.checker_program.code || CHECKER_EXAMPLE;
  showChecker();
  selectLanguage(state.language);
  selectCheckerLanguage(state.checker_program.language);
  renderCases();
  renderSubtasks();
  fillPerformance();
}

// --- performance ---------------------------------------------------------------------------

function fillPerformance() {
  const perf = state.performance;
  $("perf-on").checked = perf.enabled;
  $("perf-fields").hidden = !perf.enabled;
  $("perf-code").value = perf.code;
  $("perf-repeat").value = perf.repeat;
  selectReferenceLanguage(perf.language);
}

function selectReferenceLanguage(id) {
  const select = $("perf-language");
  if (![...select.options].some((o) => o.value === id)) select.append(new Option(id, id));
  select.value = id;
}

/** The request's performance, or null when it is off. */
function performanceBody() {
  const perf = state.performance;
  if (!perf.enabled) return null;
  const body = {};
  if (perf.code.trim()) {
    body.reference = { source_code: perf.code, ...(perf.language ? { language: perf.language } : {}) };
  }
  if (perf.repeat !== "") body.repeat = Number(perf.repeat);
  return body;
}

/** How many performance runs a judge job will make (the server says exactly, as it goes). */
function performanceRuns(body) {
  if (!body.performance) return 0;
  const repeat = body.performance.repeat || (config.repeat && config.repeat.default) || 5;
  return body.test_cases.length * repeat * (body.performance.reference ? 2 : 1);
}

function wirePerformance() {
  // state.performance, not a copy: opening a share link replaces the state
  $("perf-on").addEventListener("change", (e) => {
    state.performance.enabled = e.target.checked;
    $("perf-fields").hidden = !e.target.checked;
    changed();
  });
  $("perf-language").addEventListener("change", (e) => {
    state.performance.language = e.target.value;
    clearFieldError("perf-language");
    changed();
  });
  for (const [id, field] of [["perf-code", "code"], ["perf-repeat", "repeat"]]) {
    $(id).addEventListener("input", (e) => {
      state.performance[field] = e.target.value;
      clearFieldError(id);
      changed();
    });
  }
  const repeat = config.repeat || {};
  if (repeat.default) {
    $("perf-repeat").placeholder = String(repeat.default);
    $("perf-repeat-hint").textContent = `default ${repeat.default}, max ${repeat.max}`;
  }
}

function renderCases() {
  const list = $("cases");
  const template = $("case-template");
  list.replaceChildren(
    ...state.tests.map((c, i) => {
      const item = template.content.firstElementChild.cloneNode(true);
      item.querySelector(".case-num").textContent = `#${i + 1}`;
      item.setAttribute("aria-label", `Test case ${i + 1}`);
      for (const input of item.querySelectorAll("[data-field]")) {
        const field = input.dataset.field;
        if (input.type === "checkbox") input.checked = c[field];
        else input.value = c[field];
        input.addEventListener("input", () => {
          state.tests[i][field] = input.type === "checkbox" ? input.checked : input.value;
          changed();
        });
      }
      const remove = item.querySelector("[data-action=remove]");
      remove.setAttribute("aria-label", `Remove test case ${i + 1}`);
      remove.addEventListener("click", () => {
        state.tests.splice(i, 1);
        changed();
        renderCases();
        const next = $("cases").children[Math.min(i, state.tests.length - 1)];
        (next ? next.querySelector("[data-action=remove]") : $("add-case")).focus();
      });
      return item;
    }),
  );
  $("tests-count").textContent = state.tests.length ? `(${state.tests.length})` : "";
  const most = config.max_test_cases || Infinity;
  $("add-case").disabled = state.tests.length >= most;
  $("add-case").title = state.tests.length >= most ? `The server takes at most ${most} cases` : "";
  $("judge").disabled = state.tests.length === 0;
  $("judge").title = state.tests.length ? "" : "Add a test case first";
}

function showChecker() {
  $("checker-program").hidden = state.checker !== "program";
}

function selectCheckerLanguage(id) {
  const select = $("checker-language");
  if (![...select.options].some((o) => o.value === id)) select.append(new Option(id, id));
  select.value = id;
}

function renderSubtasks() {
  const list = $("subtasks");
  const template = $("subtask-template");
  list.replaceChildren(
    ...state.subtasks.map((t, i) => {
      const item = template.content.firstElementChild.cloneNode(true);
      item.setAttribute("aria-label", `Subtask ${i + 1}`);
      for (const input of item.querySelectorAll("[data-field]")) {
        const field = input.dataset.field;
        input.value = t[field];
        input.addEventListener("input", () => {
          state.subtasks[i][field] = input.value;
          changed();
        });
      }
      const remove = item.querySelector("[data-action=remove]");
      remove.setAttribute("aria-label", `Remove subtask ${i + 1}`);
      remove.addEventListener("click", () => {
        state.subtasks.splice(i, 1);
        changed();
        renderSubtasks();
        const next = $("subtasks").children[Math.min(i, state.subtasks.length - 1)];
        (next ? next.querySelector("[data-action=remove]") : $("add-subtask")).focus();
      });
      return item;
    }),
  );
  $("subtasks-count").textContent = state.subtasks.length ? `(${state.subtasks.length})` : "";
}

/** "1 2 5-7" (case numbers as the table shows them) -> [0, 1, 4, 5, 6]; a word that is not a
 * number is sent as it is, and the server's 422 names it. */
function caseIndexes(text) {
  const indexes = [];
  for (const word of text.split(/[\s,]+/).filter(Boolean)) {
    const range = /^(\d+)-(\d+)$/.exec(word);
    if (range) {
      for (let n = Number(range[1]); n <= Number(range[2]) && indexes.length < 1000; n++) indexes.push(n - 1);
    } else {
      indexes.push(/^\d+$/.test(word) ? Number(word) - 1 : word);
    }
  }
  return indexes;
}

function showLimits() {
  const limits = config.limits || {};
  for (const [name, id] of Object.entries(LIMIT_FIELDS)) {
    const known = limits[name];
    const input = $(id);
    if (known) {
      input.placeholder = String(known.default);
      $(`${id}-hint`).textContent = `default ${known.default}, max ${known.max.toLocaleString("en")}`;
    } else {
      $(`${id}-hint`).textContent = "empty: the server's default";
    }
    input.addEventListener("input", () => {
      state.limits[name] = input.value;
      clearFieldError(id);
      changed();
    });
  }
}

// --- languages ---------------------------------------------------------------------------

let available = [];

function showVersion() {
  const found = available.find((l) => l.id === $("language").value);
  $("language-version").textContent = found ? found.version : "";
}

function selectLanguage(id) {
  const select = $("language");
  const note = $("language-note");
  if (!available.length || available.some((l) => l.id === id)) {
    if (!available.length && ![...select.options].some((o) => o.value === id)) {
      select.append(new Option(id, id));
    }
    select.value = id;
    note.hidden = true;
    showVersion();
    return;
  }
  select.value = available[0].id;
  state.language = select.value;
  showVersion();
  note.textContent = `“${id}” is not available on this server: using ${available[0].name} instead.`;
  note.hidden = false;
}

async function loadLanguages() {
  const select = $("language");
  try {
    available = await api.languages();
  } catch (e) {
    available = [];
    showAlert(`Could not list the languages: ${e.message}`);
  }
  const same = new Option("same as the code", "");
  $("perf-language").replaceChildren(same, ...available.map((l) => new Option(l.name, l.id)));
  selectReferenceLanguage(state.performance.language);
  if (available.length) {
    select.replaceChildren(...available.map((l) => new Option(l.name, l.id)));
    $("checker-language").replaceChildren(...available.map((l) => new Option(l.name, l.id)));
  } else {
    select.replaceChildren(new Option("python (no worker is up yet)", "python"));
    $("language-note").textContent = "No worker is up yet: a job waits in the queue until one starts.";
    $("language-note").hidden = false;
  }
  selectLanguage(state.language);
  selectCheckerLanguage(state.checker_program.language);
}

// --- errors ------------------------------------------------------------------------------

let retry = null;

function showAlert(message, onRetry = null) {
  $("alert-text").textContent = message;
  $("alert").hidden = false;
  retry = onRetry;
  $("alert-retry").hidden = !onRetry;
}

function showNotice(message) {
  $("notice").textContent = message;
  $("notice").hidden = false;
}

function hideAlert() {
  $("alert").hidden = true;
  retry = null;
}

function clearFieldError(id) {
  const input = $(id);
  if (input) input.removeAttribute("aria-invalid");
  const error = $(`${id}-error`);
  if (error) error.hidden = true;
}

function clearFieldErrors() {
  for (const id of ["cpu", "memory", "stdin", "code", "language", "checker", "perf-language", "perf-repeat", "perf-code"]) {
    clearFieldError(id);
  }
  for (const item of [...$("cases").children, ...$("subtasks").children]) {
    item.classList.remove("invalid");
    item.querySelector(".field-error").hidden = true;
  }
}

/** Put a 422's message next to the field it names, and move the focus there. */
function markField(path, message) {
  let target = null;
  const [head, index] = path.split(".").slice(0, 2);
  if (path.startsWith("limits.")) {
    const id = LIMIT_FIELDS[path.slice("limits.".length)];
    if (id) target = { input: $(id), error: $(`${id}-error`) };
  } else if (head === "stdin") {
    target = { input: $("stdin"), error: $("stdin-error") };
  } else if (head === "source_code") {
    target = { input: editor.view.contentDOM, error: $("code-error") };
  } else if (head === "language") {
    target = { input: $("language"), error: null };
  } else if (head === "checker" && state.checker === "program") {
    target = { input: checkerEditor.view.contentDOM, error: $("checker-error") };
  } else if (head === "subtasks" && /^\d+$/.test(index || "")) {
    const item = $("subtasks").children[Number(index)];
    if (item) {
      item.classList.add("invalid");
      target = { input: item.querySelector("input"), error: item.querySelector(".field-error") };
    }
  } else if (head === "performance") {
    const id = { repeat: "perf-repeat", "reference.language": "perf-language" }[path.split(".").slice(1).join(".")] || "perf-code";
    target = { input: $(id), error: $(`${id}-error`) };
  } else if (head === "test_cases" && /^\d+$/.test(index || "")) {
    const item = $("cases").children[Number(index)];
    if (item) {
      item.classList.add("invalid");
      target = { input: item.querySelector("textarea"), error: item.querySelector(".field-error") };
    }
  }
  if (!target) return null;
  target.input.setAttribute("aria-invalid", "true");
  if (target.error) {
    target.error.textContent = message;
    target.error.hidden = false;
  }
  return target.input;
}

function showApiError(error, again) {
  if (error.status === 422) {
    showAlert(error.message);
    const detail = (error.body && error.body.detail) || [];
    let first = null;
    error.fields.forEach((path, i) => {
      const input = markField(path, `${path}: ${detail[i].msg}`);
      first = first || input;
    });
    if (first) first.focus();
  } else if (error.status === 503) {
    const wait = error.retryAfterS ? ` in ${error.retryAfterS} s` : "";
    showAlert(`The server is busy (${error.message}). Please try again${wait}.`, again);
  } else if (error.status === 413) {
    showAlert(`Too large for the server: ${error.message}`);
  } else {
    showAlert(error.message, error.status === 0 ? again : null);
  }
}

// --- running -------------------------------------------------------------------------------

function requestBody(mode) {
  const body = { language: $("language").value, source_code: editor.code, stdin: state.stdin };
  const limits = {};
  for (const name of Object.keys(LIMIT_FIELDS)) {
    if (state.limits[name] !== "") limits[name] = Number(state.limits[name]);
  }
  if (Object.keys(limits).length) body.limits = limits;
  if (mode === "run") {
    // With no stdin given, the program's input() waits for what the person types; with
    // stdin, it runs on it as given. Either way its output shows as it is printed.
    if (state.stdin === "") body.interactive = true;
    else body.stream = true;
  }
  if (mode === "judge") {
    body.test_cases = state.tests.map((c) => ({
      stdin: c.stdin,
      expected_stdout: c.expected_stdout,
      hidden: c.hidden,
      ...(c.name ? { name: c.name } : {}),
    }));
    body.checker = state.checker;
    if (state.checker === "program") {
      body.checker = {
        type: "program",
        language: state.checker_program.language,
        source_code: checkerEditor.code,
      };
    }
    if (state.subtasks.length) {
      body.subtasks = state.subtasks.map((t) => ({
        name: t.name,
        points: t.points === "" ? 0 : Number(t.points),
        cases: caseIndexes(t.cases),
        depends_on: t.depends_on.split(/[\s,]+/).filter(Boolean),
      }));
    }
    const performance = performanceBody();
    if (performance) body.performance = performance;
  }
  return body;
}

function setRunning(running) {
  $("run").disabled = running;
  $("judge").disabled = running || state.tests.length === 0;
  $("cancel").hidden = !running;
  $("result").setAttribute("aria-busy", String(running));
}

function revealResult() {
  // on a narrow screen the result sits below the inputs: bring it into view
  const box = $("result").getBoundingClientRect();
  if (box.top > innerHeight || box.bottom < 0) $("result").scrollIntoView({ block: "start" });
}

async function run(mode) {
  if (current) return; // one job at a time; Cancel stops it
  if (mode === "judge" && !state.tests.length) {
    showAlert("Add a test case first: each has an input and the output it must give.");
    return;
  }
  saveNow();
  hideAlert();
  clearFieldErrors();
  const body = requestBody(mode);
  resetResult(mode, mode === "judge" ? state.tests : [], mode === "judge" ? performanceRuns(body) : 0);
  terminal.resetTerminal(mode === "run", Boolean(body.interactive));
  setStatus("SUBMITTING");
  setRunning(true);
  revealResult();
  const controller = new AbortController();
  current = { id: null, controller };
  try {
    const accepted = await api.submit(body);
    current.id = accepted.job_id;
    setStatus(accepted.status);
    const hooks = {
      onJob: renderJob,
      onTransport: setTransport,
      onOutput: terminal.write,
      onOpen: terminal.attach,
      onClosed: terminal.detach,
    };
    const job = body.interactive
      ? await api.session(accepted.job_id, hooks, controller.signal)
      : await api.follow(accepted.job_id, hooks, controller.signal);
    if (job.status === "FAILED") showAlert(`The service could not run the job: ${job.error}`);
    showJobLink(accepted.job_id);
  } catch (e) {
    if (e.name === "AbortError") {
      setStatus("CANCELLED");
    } else {
      if (!current.id) {
        $("run-view").hidden = true;
        $("judge-view").hidden = true;
      }
      setStatus(current.id ? "LOST" : "NOT_STARTED");
      showApiError(e, () => run(mode));
    }
  } finally {
    terminal.detach();
    current = null;
    setRunning(false);
  }
}

async function cancel() {
  if (!current || !current.id) return;
  const { id } = current;
  try {
    const job = await api.cancelJob(id);
    renderJob(job);
  } catch (e) {
    if (e.status !== 409) showApiError(e); // 409: it finished first; its result arrives
  }
}

// --- sharing -----------------------------------------------------------------------------

async function share() {
  saveNow();
  const link = location.href.split("#")[0] + (await shareFragment(state));
  const input = $("share-link");
  input.value = link;
  $("share-note").textContent = "";
  $("share-dialog").showModal();
  input.select();
}

async function copyLink() {
  const input = $("share-link");
  try {
    await navigator.clipboard.writeText(input.value);
    $("share-note").textContent = "Copied to the clipboard.";
  } catch {
    input.select();
    $("share-note").textContent = "Select the link and copy it (Ctrl+C).";
  }
}

async function openFragment() {
  let shared = null;
  try {
    shared = await readFragment(location.hash);
  } catch {
    showAlert("This share link is damaged: it could not be read. Your draft was kept.");
  }
  if (!shared) return false;
  state = shared;
  saveNow();
  // the draft now holds it: later reloads keep the edits made from here on
  history.replaceState(null, "", location.pathname + location.search);
  return true;
}

// --- start -------------------------------------------------------------------------------

async function start() {
  for (const kbd of document.querySelectorAll("kbd[data-keys]")) {
    kbd.textContent = `${isMac ? "⌘" : "Ctrl"}+${kbd.dataset.keys}`;
  }
  const fromLink = await openFragment();
  if (!fromLink) state = loadDraft() || clean(EXAMPLE);
  editor = createEditor($("editor"), {
    doc: state.code, // not an edit: undo starts from here
    label: "Code",
    onRun: () => run("run"),
    onJudge: () => run("judge"),
    onChange: (code) => {
      state.code = code;
      clearFieldError("code");
      changed();
    },
  });
  editor.view.contentDOM.setAttribute("aria-labelledby", "code-title");
  editor.view.contentDOM.setAttribute("aria-describedby", "code-error");
  checkerEditor = createEditor($("checker-editor"), {
    doc: state.checker_program.code || CHECKER_EXAMPLE,
    label: "Checker code",
    onRun: () => run("run"),
    onJudge: () => run("judge"),
    onChange: (code) => {
      state.checker_program.code = code;
      clearFieldError("checker");
      changed();
    },
  });
  checkerEditor.view.contentDOM.setAttribute("aria-describedby", "checker-error");

  config = await loadConfig();
  showLimits();
  fillInputs();
  wirePerformance();
  if (fromLink) showNotice("Opened from a share link: the code, stdin, limits and tests are the link's.");

  $("stdin").addEventListener("input", (e) => {
    state.stdin = e.target.value;
    clearFieldError("stdin");
    changed();
  });
  $("checker").addEventListener("change", (e) => {
    state.checker = e.target.value;
    showChecker();
    changed();
  });
  $("checker-language").addEventListener("change", (e) => {
    state.checker_program.language = e.target.value;
    changed();
  });
  $("add-subtask").addEventListener("click", () => {
    const n = state.subtasks.length + 1;
    state.subtasks.push({ name: `subtask ${n}`, points: "", cases: "", depends_on: "" });
    changed();
    renderSubtasks();
    $("subtasks").lastElementChild.querySelector("input").focus();
  });
  $("language").addEventListener("change", (e) => {
    state.language = e.target.value;
    $("language-note").hidden = true;
    showVersion();
    changed();
  });
  $("add-case").addEventListener("click", () => {
    state.tests.push({ name: "", stdin: "", expected_stdout: "", hidden: false });
    changed();
    renderCases();
    $("cases").lastElementChild.querySelector("textarea").focus();
  });
  terminal.wire();
  $("run").addEventListener("click", () => run("run"));
  $("judge").addEventListener("click", () => run("judge"));
  $("cancel").addEventListener("click", cancel);
  $("share").addEventListener("click", share);
  $("share-copy").addEventListener("click", copyLink);
  $("alert-retry").addEventListener("click", () => retry && retry());
  addEventListener("hashchange", async () => {
    if (!(await openFragment())) return;
    fillInputs();
    showNotice("Opened from a share link: the code, stdin, limits and tests are the link's.");
  });
  // Ctrl/Cmd+Enter anywhere on the page (the editor binds it itself)
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || !(isMac ? e.metaKey : e.ctrlKey) || e.defaultPrevented) return;
    if ($("share-dialog").open) return;
    e.preventDefault();
    run(e.shiftKey ? "judge" : "run");
  });

  await loadLanguages();
  document.body.dataset.ready = "true";
}

start();
