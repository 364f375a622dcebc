// The terminal panel: a program's output as it is printed (stderr in its own colour), what
// the person typed echoed in between, and the input line that sends the program its stdin.

const $ = (id) => document.getElementById(id);

let sender = null; // {stdin(text), close()} while an interactive program runs

/** Empty the terminal; show it for a run (and its input line when interactive). */
export function resetTerminal(show, interactive) {
  $("terminal").replaceChildren();
  $("terminal-view").hidden = !show;
  $("term-form").hidden = !interactive;
  $("term-input").disabled = true;
  $("term-input").value = "";
  sender = null;
}

/** Append a chunk of output ("stdout", "stderr") or of the person's input ("echo"). */
export function write(kind, text) {
  const term = $("terminal");
  const atBottom = term.scrollTop + term.clientHeight >= term.scrollHeight - 4;
  const last = term.lastElementChild;
  if (last && last.dataset.kind === kind) last.append(text);
  else {
    const span = document.createElement("span");
    span.dataset.kind = kind;
    if (kind !== "stdout") span.className = kind === "stderr" ? "err" : "echo";
    span.textContent = text;
    term.append(span);
  }
  if (atBottom) term.scrollTop = term.scrollHeight;
}

/** The session is open: what the person types goes to the program. */
export function attach(send) {
  sender = send;
  $("term-input").disabled = false;
  $("term-input").focus();
}

/** The program ended: nothing more can be sent. */
export function detach() {
  sender = null;
  $("term-input").disabled = true;
}

export function wire() {
  $("term-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (!sender) return;
    const line = `${$("term-input").value}\n`;
    $("term-input").value = "";
    write("echo", line);
    sender.stdin(line);
  });
  $("term-eof").addEventListener("click", () => {
    if (!sender) return;
    sender.close();
    detach();
  });
}
