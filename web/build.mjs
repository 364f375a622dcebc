// Build the playground and dashboard pages into onpyrunner/web/dist/, where the server
// serves them.
//
//   dist/index.html                  the playground, referring to the hashed assets below
//   dist/dashboard.html              the dashboard, likewise
//   dist/assets/app-HASH.js          src/main.js and CodeMirror, bundled and minified
//   dist/assets/app-HASH.css         src/style.css
//   dist/assets/dashboard-HASH.js    src/dashboard.js and uPlot
//   dist/assets/dashboard-HASH.css   src/dashboard.css and uPlot's
//   dist/assets/licenses.txt         the licenses of the third-party code in the bundles
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
  entryPoints: { app: "src/main.js", dashboard: "src/dashboard.js" },
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
const pages = [
  ["src/main.js", "src/index.html", "index.html", "app"],
  ["src/dashboard.js", "src/dashboard.html", "dashboard.html", "dashboard"],
];
const bundles = [];
for (const [entry, source, target, name] of pages) {
  const [jsPath, js] = outputs.find(([, o]) => o.entryPoint === entry);
  const jsName = path.basename(jsPath);
  const cssName = path.basename(js.cssBundle);
  const template = await readFile(path.join(here, source), "utf8");
  const html = template
    .replace(`href="assets/${name}.css"`, `href="assets/${cssName}"`)
    .replace(`src="assets/${name}.js"`, `src="assets/${jsName}"`);
  if (!html.includes(jsName) || !html.includes(cssName)) {
    throw new Error(`${source} must refer to assets/${name}.js and assets/${name}.css`);
  }
  await writeFile(path.join(dist, target), html);
  bundles.push(js, ...outputs.filter(([p]) => path.basename(p) === cssName).map(([, o]) => o));
}

// Every package whose code ended up in the bundle, with its license text.
const packages = new Set();
for (const bundle of bundles) {
  for (const input of Object.keys(bundle.inputs)) {
    const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
    if (m) packages.add(m[1]);
  }
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
  "Third-party code bundled into the OnPyRunner playground and dashboard pages.\n\n" +
    notices.join("\n" + "-".repeat(72) + "\n\n"),
);

console.log(`built ${path.relative(process.cwd(), dist)}: ${pages.map((p) => p[2]).join(", ")}`);
