// What the person is working on: kept as a draft in localStorage, and packed into a share
// link's URL fragment (the fragment never reaches the server: nothing is stored there).

const DRAFT_KEY = "onpyrunner.playground.draft.v1";
const MAX_TESTS = 100;

export const EXAMPLE = {
  language: "python",
  code: [
    "# Read a name from stdin and greet it.",
    "name = input()",
    'print(f"Hello, {name}!")',
    "",
  ].join("\n"),
  stdin: "world\n",
  limits: { cpu_time_ms: "", memory_mb: "" },
  checker: "lines",
  tests: [
    { name: "world", stdin: "world\n", expected_stdout: "Hello, world!\n", hidden: false },
    { name: "Ada", stdin: "Ada\n", expected_stdout: "Hello, Ada!\n", hidden: false },
  ],
  performance: { enabled: false, language: "", code: "", repeat: "" },
};

const str = (v, fallback = "") => (typeof v === "string" ? v : fallback);
/** A limit as typed in its field: digits, or empty for the server's default. */
const limit = (v) => (/^\d{1,9}$/.test(String(v ?? "")) ? String(v) : "");

/** A state made safe to use from anything that came from storage or a link. */
export function clean(raw) {
  const s = raw && typeof raw === "object" ? raw : {};
  const tests = Array.isArray(s.tests) ? s.tests.slice(0, MAX_TESTS) : [];
  const p = s.performance && typeof s.performance === "object" ? s.performance : {};
  return {
    language: str(s.language, "python"),
    code: str(s.code),
    stdin: str(s.stdin),
    limits: {
      cpu_time_ms: limit(s.limits && s.limits.cpu_time_ms),
      memory_mb: limit(s.limits && s.limits.memory_mb),
    },
    checker: ["lines", "tokens", "exact"].includes(s.checker) ? s.checker : "lines",
    performance: {
      enabled: Boolean(p.enabled),
      language: str(p.language),
      code: str(p.code),
      repeat: limit(p.repeat),
    },
    tests: tests.map((c) => ({
      name: str(c && c.name),
      stdin: str(c && c.stdin),
      expected_stdout: str(c && c.expected_stdout),
      hidden: Boolean(c && c.hidden),
    })),
  };
}

export function loadDraft() {
  try {
    const text = localStorage.getItem(DRAFT_KEY);
    return text ? clean(JSON.parse(text)) : null;
  } catch {
    return null; // storage off or a damaged draft: start from the example
  }
}

export function saveDraft(state) {
  try {
    localStorage.setItem(DRAFT_KEY, JSON.stringify(state));
    return true;
  } catch {
    return false; // full or disabled: the page still works, the draft is not kept
  }
}

// --- share links: #s=<base64url of deflate-raw(JSON)>, or #j=<base64url of JSON> ----------

function toBase64Url(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text) {
  const bin = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

async function pipe(bytes, stream) {
  const out = new Blob([bytes]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

/** The fragment ("#s=...") that reopens the page with this state. */
export async function shareFragment(state) {
  const json = new TextEncoder().encode(JSON.stringify(clean(state)));
  if (typeof CompressionStream === "function") {
    return "#s=" + toBase64Url(await pipe(json, new CompressionStream("deflate-raw")));
  }
  return "#j=" + toBase64Url(json);
}

/**
 * The state in a share fragment, null when the fragment holds none.
 * @throws {Error} when the fragment is a share link that cannot be read
 */
export async function readFragment(hash) {
  const m = /^#([sj])=([A-Za-z0-9_-]+)$/.exec(hash || "");
  if (!m) return null;
  let bytes = fromBase64Url(m[2]);
  if (m[1] === "s") bytes = await pipe(bytes, new DecompressionStream("deflate-raw"));
  return clean(JSON.parse(new TextDecoder().decode(bytes)));
}
