/**
 * `make docs`, after `redocly build-docs` has prerendered openapi.yaml into one HTML file:
 *   inline <html>  make the file self-contained. build-docs links Redoc's script from a CDN, so
 *                  put the very bundle that CLI prerendered with inline instead (same version),
 *                  inline the fonts /docs serves, and add a Content-Security-Policy that lets the
 *                  page reach nothing outside itself. The CLI prerenders with React 19 but the
 *                  bundle is React 18, so hydrating fails (React errors 418, 423) and React
 *                  re-renders anyway: render from the same embedded state directly instead.
 *                  Run under `npx -p @redocly/cli@<v> -c`, so that `redocly` (and the redoc
 *                  package beside it) is on PATH.
 *   check <html>   open it in Chromium as file:// with every other request blocked and recorded;
 *                  fail unless every operation of openapi.yaml renders, Redoc's script runs
 *                  (its search answers), no error is thrown, and no request left the file.
 */
import { existsSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

import { REPO_ROOT, launch, outputPath, recordRequests } from "./browser.js";

const HYDRATE = "Redoc.hydrate(__redoc_state, container);";
const RENDER = "Redoc.init(__redoc_state.spec.data, __redoc_state.options, container);";
const CDN_SCRIPT = /<script src="https:\/\/cdn\.redocly\.com\/redoc\/v([\w.-]+)\/bundles\/redoc\.standalone\.js"><\/script>/;
const FONTS = resolve(REPO_ROOT, "server/static/docs");
/** What the file may load: only what it carries (Redoc's search runs in a blob: worker). */
const CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; " +
  "font-src data:; worker-src blob:; connect-src 'none'";

/** The redoc package that the `redocly` on PATH renders with. */
function redocNextToCli(): { version: string; bundle: string } {
  const bin = (process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, "redocly")).find((p) => existsSync(p));
  if (!bin) throw new Error("no `redocly` on PATH: run this under `npx -p @redocly/cli@<version> -c '...'`");
  const require = createRequire(realpathSync(bin));
  const manifest = require.resolve("redoc/package.json");
  const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version: string };
  return { version, bundle: join(dirname(manifest), "bundles/redoc.standalone.js") };
}

function inlineFonts(): string {
  const css = readFileSync(join(FONTS, "fonts.css"), "utf8");
  return css.replace(/url\("\/docs\/assets\/([\w.-]+\.woff2)"\)/g, (_match, file: string) => {
    const data = readFileSync(join(FONTS, file)).toString("base64");
    return `url("data:font/woff2;base64,${data}")`;
  });
}

/** A script's text can hold "</script" inside strings; keep it from closing the tag. */
const asInlineScript = (code: string): string => `<script>${code.replace(/<\/script/gi, "<\\/script")}</script>`;

function inline(htmlPath: string): void {
  const html = readFileSync(htmlPath, "utf8");
  const linked = CDN_SCRIPT.exec(html);
  if (!linked || !html.includes(HYDRATE)) {
    throw new Error(`${htmlPath}: not the page redocly build-docs writes (no CDN script or no Redoc.hydrate)`);
  }
  const redoc = redocNextToCli();
  if (redoc.version !== linked[1]) {
    throw new Error(`the page was prerendered for Redoc ${linked[1]} but the CLI ships Redoc ${redoc.version}`);
  }
  const head = `<meta http-equiv="Content-Security-Policy" content="${CSP}">\n  <style>${inlineFonts()}</style>`;
  const out = html
    .replace(/<meta charset="utf8" \/>/, (charset) => `${charset}\n  ${head}`)
    .replace(CDN_SCRIPT, () => asInlineScript(readFileSync(redoc.bundle, "utf8")))
    .replace(HYDRATE, () => RENDER);
  if (!out.includes(head)) throw new Error(`${htmlPath}: no <meta charset> to put the CSP after`);
  writeFileSync(htmlPath, out);
  console.log(`inlined Redoc ${redoc.version} and the fonts: ${htmlPath} (${Math.round(statSync(htmlPath).size / 1024)} KiB)`);
}

/** operationIds in openapi.yaml, read without a YAML parser: every `operationId:` line. */
function operationIds(): string[] {
  const contract = readFileSync(resolve(REPO_ROOT, "openapi.yaml"), "utf8");
  return [...contract.matchAll(/^\s+operationId:\s*([\w-]+)\s*$/gm)].map((m) => m[1] ?? "");
}

async function check(htmlPath: string): Promise<void> {
  const url = pathToFileURL(resolve(htmlPath)).href;
  const browser = await launch();
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const requests = await recordRequests(context, (u) => ["file:", "data:", "blob:"].includes(u.protocol));
    const refusedByCsp: string[] = [];
    context.on("requestfailed", (r) => {
      if (r.failure()?.errorText === "csp") refusedByCsp.push(r.url());
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().includes("Content Security Policy")) errors.push(m.text());
    });
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => "Redoc" in window, undefined, { timeout: 15_000 });

    const wanted = operationIds();
    const rendered = await page.$$eval('[data-section-id^="operation/"]', (sections) =>
      sections.map((s) => s.getAttribute("data-section-id")?.slice("operation/".length)),
    );
    const missing = wanted.filter((id) => !rendered.includes(id));
    // Only the hydrated page answers the search box; the prerendered HTML alone does not.
    await page.fill('[role="search"] input', "statistics");
    const found = await page
      .locator('[data-role="search:results"] li')
      .first()
      .waitFor({ timeout: 10_000 })
      .then(() => page.locator('[data-role="search:results"] li').count())
      .catch(() => 0);
    await page.screenshot({ path: outputPath("static-docs.png") });
    await context.close();

    const problems = [
      ...(wanted.length < 20 ? [`only ${wanted.length} operationIds found in openapi.yaml`] : []),
      ...missing.map((id) => `operation ${id} is not rendered`),
      ...(found === 0 ? ["the search box found nothing: Redoc's script did not take over the page"] : []),
      ...requests.foreign.map((u) => `a request tried to leave the file: ${u}`),
      ...errors.map((e) => `page error: ${e}`),
    ];
    if (problems.length) throw new Error(`${htmlPath} is not a working offline page:\n  ${problems.join("\n  ")}`);
    console.log(
      `static docs ok: ${rendered.length} operations rendered from ${url} with no network, search works` +
        (refusedByCsp.length ? `; refused by the file's own CSP: ${refusedByCsp.join(", ")}` : ""),
    );
  } finally {
    await browser.close();
  }
}

const [command, htmlPath] = process.argv.slice(2);
if ((command !== "inline" && command !== "check") || !htmlPath) {
  console.error("usage: static-docs.ts inline|check <path to the built HTML>");
  process.exit(2);
}
(command === "inline" ? Promise.resolve(inline(htmlPath)) : check(htmlPath)).catch((error: unknown) => {
  console.error(`static docs: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
