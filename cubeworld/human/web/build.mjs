// Copy the jsPsych browser bundles from node_modules into vendor/, which the Python
// server serves at /vendor: the page loads nothing from a CDN. vendor/manifest.json lists
// what was copied, so the server can say "run scripts/install.sh" when something is missing.
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "vendor");
const nm = join(here, "node_modules");

// [package, file inside the package, name in vendor/]
const FILES = [
  ["jspsych", "dist/index.browser.min.js", "jspsych.js"],
  ["jspsych", "css/jspsych.css", "jspsych.css"],
  ["@jspsych/plugin-preload", "dist/index.browser.min.js", "plugin-preload.js"],
  ["@jspsych/plugin-html-button-response", "dist/index.browser.min.js", "plugin-html-button-response.js"],
  ["@jspsych/plugin-image-button-response", "dist/index.browser.min.js", "plugin-image-button-response.js"],
  ["@jspsych/plugin-instructions", "dist/index.browser.min.js", "plugin-instructions.js"],
  ["@jspsych/plugin-call-function", "dist/index.browser.min.js", "plugin-call-function.js"],
];

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const versions = {};
for (const [pkg, file, name] of FILES) {
  copyFileSync(join(nm, pkg, file), join(out, name));
  versions[pkg] = JSON.parse(readFileSync(join(nm, pkg, "package.json"), "utf8")).version;
}
writeFileSync(
  join(out, "manifest.json"),
  JSON.stringify({ files: FILES.map((f) => f[2]), versions }, null, 2) + "\n",
);
console.log(`[web] copied ${FILES.length} files into vendor/`);
