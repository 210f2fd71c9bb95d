// Bundles the playground into dist/: the page script with Monaco (no CDN), its CSS and font,
// and Monaco's editor worker. `node build.mjs` (or `npm run build`); serve.mjs calls build().
import { build as esbuild } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
export const DIST = join(HERE, "dist");
export const SRC = join(HERE, "src");

export async function build({ minify = true } = {}) {
  await mkdir(DIST, { recursive: true });
  const common = { bundle: true, minify, sourcemap: false, logLevel: "warning", target: "es2022" };
  await Promise.all([
    esbuild({
      ...common,
      entryPoints: { main: join(HERE, "src/main.js") },
      outdir: DIST,
      format: "esm",
      loader: { ".ttf": "file" },
    }),
    esbuild({
      ...common,
      entryPoints: { "editor.worker": "monaco-editor/editor/editor.worker.js" },
      outdir: DIST,
      format: "iife",
    }),
    copyFile(join(HERE, "src/index.html"), join(DIST, "index.html")),
  ]);
  return DIST;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  await build({ minify: !process.argv.includes("--dev") });
  console.log(`built ${DIST} in ${Math.round(performance.now() - t0)} ms`);
}
