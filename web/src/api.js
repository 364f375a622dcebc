// The page's client of the public HTTP API and WebSocket: nothing else reaches the server.
// URLs are relative to the page, so the page also works behind a proxy under a path prefix.

export const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

/** An HTTP answer that is not a success, with the server's own message. */
export class ApiError extends Error {
  constructor(status, message, body = null, retryAfterS = null) {
    super(message);
    this.status = status;
    this.body = body;
    this.retryAfterS = retryAfterS;
  }

  /** The fields the server names in a 422, as dotted paths ("limits.memory_mb"). */
  get fields() {
    const detail = (this.body && this.body.detail) || [];
    return detail.map((d) => (d.loc || []).filter((p) => p !== "body" && p !== "query").join("."));
  }
}

const url = (path) => new URL(path, document.baseURI);

async function request(method, path, body) {
  let response;
  try {
    response = await fetch(url(path), {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, `cannot reach the server (${e.message}); check that it is running`);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    // a proxy's HTML error page, say: the status tells what happened
  }
  if (!response.ok) {
    const retry = Number(response.headers.get("retry-after")) || null;
    const message = (data && data.error) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message, data, retry);
  }
  return data;
}

export const languages = () => request("GET", "languages");
export const limits = () => request("GET", "limits");
export const submit = (body) => request("POST", "execute", body);
export const getJob = (id) => request("GET", `jobs/${encodeURIComponent(id)}`);
export const cancelJob = (id) => request("DELETE", `jobs/${encodeURIComponent(id)}`);

function wsUrl(id, what) {
  const u = url(`jobs/${encodeURIComponent(id)}/${what}`);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.href;
}

const eventsUrl = (id) => wsUrl(id, "events");

/** How long the WebSocket may take to open before polling takes over. */
const WS_OPEN_TIMEOUT_MS = 5000;
/** Polling: first delay, growth, cap, and the most polls before giving up (about 20 min). */
const POLL_FIRST_MS = 250;
const POLL_GROWTH = 1.5;
const POLL_MAX_MS = 3000;
const POLL_MAX_TRIES = 400;

/**
 * Follow a job until it finishes: over its WebSocket, or by polling GET /jobs/{id} with
 * backoff when the socket cannot open or is lost before the end.
 * @param {string} id the job
 * @param {object} hooks
 * @param {(job: object) => void} hooks.onJob each state of the job
 * @param {(transport: string) => void} hooks.onTransport "websocket" or "polling"
 * @param {AbortSignal} signal stops following (the job itself goes on)
 * @returns {Promise<object>} the finished job
 */
export function follow(id, { onJob, onTransport, onOutput = () => {} }, signal) {
  return new Promise((resolve, reject) => {
    let done = false;
    let polling = false;
    let socket = null;
    let openTimer = null;
    let socketError = null;

    const finish = (job) => {
      if (done) return;
      done = true;
      clearTimeout(openTimer);
      if (socket) socket.close();
      resolve(job);
    };
    const fail = (error) => {
      if (done) return;
      done = true;
      clearTimeout(openTimer);
      if (socket) socket.close();
      reject(error);
    };
    signal.addEventListener("abort", () => fail(new DOMException("stopped", "AbortError")), {
      once: true,
    });

    const startPolling = async () => {
      if (done || polling) return;
      polling = true;
      if (socket) socket.close();
      onTransport("polling");
      let delay = POLL_FIRST_MS;
      for (let tries = 0; tries < POLL_MAX_TRIES && !done; tries++) {
        try {
          const job = await getJob(id);
          if (done) return;
          onJob(job);
          if (TERMINAL.has(job.status)) return finish(job);
        } catch (e) {
          // 404: the job is gone for good; anything else (503, a network blip): try again
          if (e instanceof ApiError && e.status === 404) return fail(e);
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * POLL_GROWTH, POLL_MAX_MS);
      }
      fail(new ApiError(0, `gave up waiting for job ${id}; it may still finish: GET /jobs/${id}`));
    };

    try {
      socket = new WebSocket(eventsUrl(id));
    } catch {
      startPolling();
      return;
    }
    onTransport("websocket");
    openTimer = setTimeout(startPolling, WS_OPEN_TIMEOUT_MS);
    socket.addEventListener("open", () => clearTimeout(openTimer));
    socket.addEventListener("message", (event) => {
      if (done || polling) return;
      let job;
      try {
        job = JSON.parse(event.data);
      } catch {
        return;
      }
      if (job.type === "stdout" || job.type === "stderr") {
        onOutput(job.type, job.data); // a streamed job's output, as it is printed
        return;
      }
      if (job.error && !job.status) {
        socketError = job.error; // the close that follows says what kind
        return;
      }
      onJob(job);
      if (TERMINAL.has(job.status)) finish(job);
    });
    // Closed before the finished job arrived (network, proxy, server restart): poll instead.
    socket.addEventListener("close", (event) => {
      if (event.code === 4404) fail(new ApiError(404, socketError || `job ${id} not found`));
      else startPolling();
    });
  });
}

/**
 * Talk to a running interactive job over WS /jobs/{id}/session: its output as printed, its
 * changes, and what the person types as its stdin. When the session is lost before the
 * end, the job is followed as any other (its events, else polling), without input.
 * @param {string} id the job (submitted with "interactive": true)
 * @param {object} hooks onJob, onTransport, onOutput(kind, text), and onOpen(send) with
 *   send = {stdin(text), close()} once input can be sent, onClosed() when it no longer can
 * @param {AbortSignal} signal stops following (the job itself goes on)
 * @returns {Promise<object>} the finished job
 */
export function session(id, hooks, signal) {
  const { onJob, onTransport, onOutput, onOpen, onClosed } = hooks;
  return new Promise((resolve, reject) => {
    let done = false;
    let socket = null;
    let socketError = null;
    const end = () => {
      done = true;
      onClosed();
      if (socket) socket.close();
    };
    signal.addEventListener("abort", () => {
      if (done) return;
      end();
      reject(new DOMException("stopped", "AbortError"));
    }, { once: true });
    const fallBack = () => {
      if (done) return;
      end();
      follow(id, { onJob, onTransport, onOutput }, signal).then(resolve, reject);
    };
    try {
      socket = new WebSocket(wsUrl(id, "session"));
    } catch {
      fallBack();
      return;
    }
    onTransport("websocket");
    const send = (message) => {
      if (!done && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
    };
    socket.addEventListener("open", () =>
      onOpen({ stdin: (text) => send({ type: "stdin", data: text }), close: () => send({ type: "close_stdin" }) }),
    );
    socket.addEventListener("message", (event) => {
      if (done) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === "stdout" || message.type === "stderr") onOutput(message.type, message.data);
      else if (message.type === "error") socketError = message.error;
      else if (message.type === "job") {
        onJob(message.job);
        if (TERMINAL.has(message.job.status)) {
          end();
          resolve(message.job);
        }
      }
    });
    socket.addEventListener("close", (event) => {
      if (done) return;
      if (event.code === 4404) {
        end();
        reject(new ApiError(404, socketError || `job ${id} not found`));
      } else fallBack();
    });
  });
}
