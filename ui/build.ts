/**
 * Bundles the browser UI: `ui/src/main.ts` -> `ui/dist/app.js` (ES2022, minified, with
 * a source map) and copies `ui/src/index.html`. Prints the bundle's size and its gzipped
 * size, since that is what a browser downloads. Run with `node ui/build.ts`; `npm test`
 * runs it before the tests. Exits non-zero when esbuild reports an error.
 */
import { build } from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const ui = import.meta.dirname;
const dist = join(ui, "dist");
const started = performance.now();

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const result = await build({
  entryPoints: [join(ui, "src", "main.ts")],
  outfile: join(dist, "app.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  legalComments: "none",
  tsconfig: join(ui, "tsconfig.json"),
  logLevel: "warning",
  metafile: false,
});
if (result.errors.length > 0) process.exit(1);

writeFileSync(join(dist, "index.html"), readFileSync(join(ui, "src", "index.html")));

const js = readFileSync(join(dist, "app.js"));
const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
console.log(
  `ui/dist/app.js: ${kib(js.length)} (gzipped ${kib(gzipSync(js, { level: 9 }).length)}), built in ${Math.round(performance.now() - started)} ms`,
);
