// Bundle the browser islands and styles into the package's static folder.
import { build } from "esbuild";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(here, "../src/yiyun/web/static/build");
const islands = readdirSync(path.join(here, "islands"))
  .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
  .map((f) => path.join(here, "islands", f));

await build({
  entryPoints: [...islands, path.join(here, "styles/app.css")],
  outdir,
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "esm",
  target: ["chrome110", "firefox110", "safari16"],
  logLevel: "info",
});
