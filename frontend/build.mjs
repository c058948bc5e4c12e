// Bundle the browser islands and styles into the package's static folder.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
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

// Swagger UI for the API documentation page, served by the app itself: no CDN (our CSP
// allows only our own origin, and a hospital network may have no internet at all).
const swagger = path.join(here, "node_modules/swagger-ui-dist");
const swaggerOut = path.join(outdir, "swagger-ui");
mkdirSync(swaggerOut, { recursive: true });
for (const file of ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE"]) {
  copyFileSync(path.join(swagger, file), path.join(swaggerOut, file));
}
