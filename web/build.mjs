// build.mjs — copies the UI (src/) and the chart library from node_modules into OUTDIR: index.html and assets/.
// usage: node build.mjs OUTDIR [STAMP]   (STAMP: a file written last, for meson)
// No bundler: the page loads two local scripts and two style sheets; nothing comes from a CDN.
import { copyFileSync, mkdirSync, readFileSync, existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error("usage: node build.mjs OUTDIR");
  process.exit(2);
}
const uplot = join(here, "node_modules", "uplot", "dist");
if (!existsSync(join(uplot, "uPlot.iife.min.js"))) {
  console.error("build.mjs: web/node_modules/uplot is missing: run `npm ci` in web/ (scripts/setup does)");
  process.exit(1);
}
mkdirSync(join(out, "assets"), { recursive: true });
const files = [
  [join(here, "src", "index.html"), join(out, "index.html")],
  [join(here, "src", "app.js"), join(out, "assets", "app.js")],
  [join(here, "src", "app.css"), join(out, "assets", "app.css")],
  [join(here, "src", "favicon.svg"), join(out, "assets", "favicon.svg")],
  [join(uplot, "uPlot.iife.min.js"), join(out, "assets", "uPlot.iife.min.js")],
  [join(uplot, "uPlot.min.css"), join(out, "assets", "uPlot.min.css")],
  [join(here, "node_modules", "uplot", "LICENSE"), join(out, "assets", "uPlot.LICENSE.txt")],
];
for (const [from, to] of files) copyFileSync(from, to);
// The page must not carry inline script or style: the server's CSP forbids both.
const html = readFileSync(join(here, "src", "index.html"), "utf8");
if (/<script(?![^>]*\bsrc=)[^>]*>/i.test(html) || /\sstyle=|<style/i.test(html) || /\son[a-z]+=/i.test(html)) {
  console.error("build.mjs: index.html has inline script or style");
  process.exit(1);
}
if (process.argv[3]) writeFileSync(process.argv[3], "built\n");
