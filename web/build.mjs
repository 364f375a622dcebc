// Build the playground page into onpyrunner/web/dist/, where the server serves it.
//
//   dist/index.html              the page, referring to the hashed assets below
//   dist/assets/app-HASH.js      src/main.js and CodeMirror, bundled and minified
//   dist/assets/app-HASH.css     src/style.css
//   dist/assets/licenses.txt     the licenses of the third-party code in the bundle
//
// Run with `npm run build` after `npm ci`; nothing here reaches the network.
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, "../onpyrunner/web/dist");
const assets = path.join(dist, "assets");

await rm(dist, { recursive: true, force: true });
await mkdir(assets, { recursive: true });

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: "src/main.js" },
  bundle: true,
  format: "esm",
  minify: true,
  target: ["chrome100", "firefox100", "safari15"],
  outdir: assets,
  entryNames: "[name]-[hash]",
  legalComments: "none", // the licenses go to licenses.txt instead
  metafile: true,
  logLevel: "warning",
});

const outputs = Object.entries(result.metafile.outputs);
const [jsPath, js] = outputs.find(([, o]) => o.entryPoint === "src/main.js");
const js_name = path.basename(jsPath);
const css_name = path.basename(js.cssBundle);

const template = await readFile(path.join(here, "src/index.html"), "utf8");
const html = template
  .replace('href="assets/app.css"', `href="assets/${css_name}"`)
  .replace('src="assets/app.js"', `src="assets/${js_name}"`);
if (!html.includes(js_name) || !html.includes(css_name)) {
  throw new Error("src/index.html must refer to assets/app.js and assets/app.css");
}
await writeFile(path.join(dist, "index.html"), html);

// Every package whose code ended up in the bundle, with its license text.
const packages = new Set();
for (const input of Object.keys(js.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) packages.add(m[1]);
}
const notices = [];
for (const name of [...packages].sort()) {
  const dir = path.join(here, "node_modules", name);
  const meta = JSON.parse(await readFile(path.join(dir, "package.json"), "utf8"));
  let text = `(license ${meta.license}; no license file in the package)`;
  for (const file of ["LICENSE", "LICENSE.md", "LICENSE.txt", "license"]) {
    try {
      text = await readFile(path.join(dir, file), "utf8");
      break;
    } catch {
      // try the next name
    }
  }
  notices.push(`${name} ${meta.version} (${meta.license})\n\n${text.trim()}\n`);
}
await writeFile(
  path.join(assets, "licenses.txt"),
  "Third-party code bundled into the OnPyRunner playground page.\n\n" +
    notices.join("\n" + "-".repeat(72) + "\n\n"),
);

console.log(`built ${path.relative(process.cwd(), dist)}: ${js_name}, ${css_name}`);
