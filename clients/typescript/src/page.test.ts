/**
 * The package as a frontend developer meets it: `npm pack` (its prepack checks the version and
 * builds dist/), the tarball installed into a fresh project, a page written against it,
 * type-checked with the package's declarations, bundled by esbuild and loaded in Chromium. The
 * page is served the way a dev server serves one (its /api proxied to the service, so the page
 * and the API share an origin); it signs up, logs in, lists, creates, and keeps a synced copy
 * in which another device's change shows up live.
 *   API_URL=http://127.0.0.1:8000 node --import tsx --test src/page.test.ts
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { type Server, createServer, request as forward } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";

import { build, stop as stopEsbuild } from "esbuild";
import type { Browser } from "playwright-core";

import { launch, outputPath } from "./browser.js";
import { createTodoClient, ok } from "./index.js";

const API_URL = process.env.API_URL ?? "http://127.0.0.1:8000";
const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const TSC = resolve(PACKAGE_DIR, "node_modules/typescript/bin/tsc");
const work = mkdtempSync(join(tmpdir(), "todo-api-page-"));
const project = join(work, "page"); // a fresh frontend project, the tarball installed in it

let tarball = "";
let packed: string[] = [];
let browser: Browser;
before(async () => {
  const [report] = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--pack-destination", work], { cwd: PACKAGE_DIR, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }),
  ) as { filename: string; files: { path: string }[] }[];
  assert.ok(report, "npm pack reported nothing");
  tarball = join(work, report.filename);
  packed = report.files.map((f) => f.path).sort();
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "page", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], { cwd: project, stdio: "inherit" });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await stopEsbuild(); // its service process would keep this one alive
});

test("the tarball holds the built package and none of its tests or harness", () => {
  for (const needed of ["package.json", "README.md", "dist/index.js", "dist/index.d.ts", "dist/schema.d.ts"]) {
    assert.ok(packed.includes(needed), `${needed} is not packed`);
  }
  const foreign = packed.filter((path) => !/^(package\.json|README\.md|LICENSE|dist\/[\w-]+\.(js|d\.ts|js\.map))$/.test(path));
  assert.deepEqual(foreign, [], "files that are not the package");
  assert.deepEqual(packed.filter((path) => /test|flow|browser|e2e|harness/.test(path)), []);
  const manifest = JSON.parse(readFileSync(join(PACKAGE_DIR, "package.json"), "utf8")) as { version: string; private?: boolean };
  assert.ok(tarball.endsWith(`-${manifest.version}.tgz`));
  assert.equal(manifest.private, undefined, "a private package cannot be published");
});

/** `file` of the fresh project type-checked (tsc --strict) against the package's declarations. */
function typeCheck(file: string): void {
  const compilerOptions = { target: "ES2022", module: "ESNext", moduleResolution: "Bundler", lib: ["ES2023", "DOM", "DOM.Iterable"], strict: true, noEmit: true, types: [] };
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ compilerOptions, files: [file] }));
  execFileSync(process.execPath, [TSC, "-p", project], { stdio: "inherit" });
}

/** The fenced `lang` block of the README's quickstart, its service and email made this run's. */
function quickstart(lang: "sh" | "ts", email: string): string {
  const readme = readFileSync(resolve(PACKAGE_DIR, "../../README.md"), "utf8");
  const section = readme.slice(readme.indexOf("### Quickstart"));
  const block = new RegExp("```" + lang + "\\n([\\s\\S]*?)```").exec(section)?.[1];
  assert.ok(block, `no ${lang} block in the README's quickstart`);
  return block.replaceAll("http://127.0.0.1:8000", API_URL).replaceAll("ada@example.org", email);
}

test("the README's quickstart in curl: signup to a first task, line by line", (t) => {
  if (spawnSync("jq", ["--version"]).status !== 0) return t.skip("jq is not installed");
  const script = quickstart("sh", `curl-${randomUUID()}@example.org`);
  assert.equal(script.trim().split("\n").length, 6);
  const output = execFileSync("bash", ["-euo", "pipefail", "-c", script], { encoding: "utf8" });
  const page = JSON.parse(output.slice(output.lastIndexOf('{"tasks"'))) as { tasks: { title: string }[] };
  assert.deepEqual(page.tasks.map((task) => task.title), ["My first task"]);
});

test("the README's quickstart in TypeScript: type-checked and run with the packed package", async () => {
  writeFileSync(join(project, "quickstart.ts"), quickstart("ts", `ts-${randomUUID()}@example.org`));
  typeCheck("quickstart.ts");
  await build({ entryPoints: [join(project, "quickstart.ts")], absWorkingDir: project, bundle: true, format: "esm", platform: "node", target: "node20", outfile: join(project, "quickstart.mjs") });
  const output = execFileSync(process.execPath, [join(project, "quickstart.mjs")], { encoding: "utf8" });
  assert.equal(output.trim(), "[ 'My first task' ]");
});

/** The page's code: what a frontend writes with the package, nothing else. */
const PAGE = `
import { ApiProblem, Replica, createTodoClient, ok } from "todo-api-client";

const config = JSON.parse(document.getElementById("config")!.textContent!) as { email: string; password: string };
const log = (line: string): void => {
  const p = document.createElement("p");
  p.textContent = line;
  document.getElementById("log")!.append(p);
};

const client = createTodoClient({ baseUrl: location.origin, onLogout: (reason) => log("logged out: " + reason) });
try {
  await client.signup({ email: config.email, password: config.password, name: "Page" });
  await client.login({ email: config.email, password: config.password });
  const { tasks } = await ok(client.api.GET("/api/{user_id}/tasks"));
  log("listed " + tasks.length);
  const made = await ok(client.api.POST("/api/{user_id}/tasks", { body: { title: "Made in the page" } }));
  log("created " + made.title);
  const replica = new Replica(client, {
    onChange: (change) => {
      if (change.kind === "task" && change.data && "title" in change.data) log("change " + change.data.title);
    },
  });
  await replica.start();
  log("synced " + replica.tasks.size);
  (window as unknown as { titles(): string[] }).titles = () => [...replica.tasks.values()].map((t) => t.title).sort();
} catch (error) {
  log(error instanceof ApiProblem ? "problem " + error.status + " " + error.detail : "error " + String(error));
}
`;

/** A dev server: the page and its bundle, /api proxied to the service (streams included). */
async function devServer(html: string, bundle: string): Promise<{ origin: string; close(): Promise<void> }> {
  const api = new URL(API_URL);
  const server: Server = createServer((incoming, outgoing) => {
    const path = incoming.url ?? "/";
    if (path.startsWith("/api/")) {
      const upstream = forward(
        { host: api.hostname, port: api.port, path, method: incoming.method, headers: { ...incoming.headers, host: api.host } },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      upstream.on("error", () => outgoing.destroy());
      outgoing.on("close", () => upstream.destroy()); // the page went: so does its stream upstream
      incoming.pipe(upstream);
      return;
    }
    const script = path === "/app.js";
    outgoing.writeHead(200, { "Content-Type": script ? "text/javascript" : "text/html; charset=utf-8" });
    outgoing.end(script ? bundle : html);
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((done) => (server.closeAllConnections(), server.close(() => done()))),
  };
}

test("a page bundled from the tarball logs in, lists, creates, and sees another device's change live", async () => {
  writeFileSync(join(project, "main.ts"), PAGE);
  typeCheck("main.ts");
  const { outputFiles } = await build({ entryPoints: [join(project, "main.ts")], absWorkingDir: project, bundle: true, format: "esm", platform: "browser", target: "es2022", write: false });
  const bundle = outputFiles?.[0]?.text ?? "";
  assert.ok(bundle.includes("Last-Event-ID"), "the bundle does not hold the package");

  const email = `page-${randomUUID()}@example.org`;
  const password = "a long enough passphrase";
  const html = `<!doctype html><title>Todo</title><script type="application/json" id="config">${JSON.stringify({ email, password })}</script><div id="log"></div><script type="module" src="/app.js"></script>`;
  const site = await devServer(html, bundle);
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  try {
    await page.goto(site.origin);
    const log = page.locator("#log");
    await log.getByText(/^synced \d+$/).waitFor({ timeout: 30_000 });
    const lines = await log.locator("p").allTextContents();
    assert.equal(lines[0], "listed 0", lines.join(" | "));
    assert.equal(lines[1], "created Made in the page");
    assert.ok(lines.includes("change Made in the page"), "the full sync missed the page's task");

    const device = createTodoClient({ baseUrl: API_URL });
    await device.login({ email, password });
    await ok(device.api.POST("/api/{user_id}/tasks", { body: { title: "From another device" } }));
    await log.getByText("change From another device").waitFor({ timeout: 15_000 });
    const titles = await page.evaluate(() => (window as unknown as { titles(): string[] }).titles());
    assert.deepEqual(titles, ["From another device", "Made in the page"]);
    await page.screenshot({ path: outputPath("package-page.png") });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await site.close();
  }
});

/** A single-page app in browser mode, on another local origin than the service's (a dev server
 * the service allows in development with no configuration): its refresh token in an HttpOnly
 * cookie, the browser's own EventSource opened with the stream cookie. */
const BROWSER_PAGE = `
import { ApiProblem, createTodoClient } from "todo-api-client";

const config = JSON.parse(document.getElementById("config")!.textContent!) as { api: string; email: string; password: string };
const log = (line: string): void => {
  const p = document.createElement("p");
  p.textContent = line;
  document.getElementById("log")!.append(p);
};

const client = createTodoClient({ baseUrl: config.api, browserMode: true, onLogout: (reason) => log("logged out: " + reason) });
try {
  const resumed = await client.resume();
  if (resumed) log("resumed " + resumed.user.email);
  else {
    await client.login({ email: config.email, password: config.password });
    log("logged in; refresh token readable: " + (client.session?.refresh_token !== undefined) + "; cookies: " + JSON.stringify(document.cookie));
  }
  const stream = client.nativeEvents({
    onOpen: () => log("stream open"),
    onChange: (change) => {
      if (change.kind === "task" && change.data && "title" in change.data) log("change " + change.data.title);
    },
  });
  void stream.done.then((reason) => log("stream stopped: " + reason));
  (window as unknown as { logout(): Promise<void> }).logout = () => client.logout();
} catch (error) {
  log(error instanceof ApiProblem ? "problem " + error.status + " " + error.detail : "error " + String(error));
}
`;

test("a page in browser mode keeps its refresh token from scripts and follows /events with a native EventSource", async () => {
  writeFileSync(join(project, "browser-mode.ts"), BROWSER_PAGE);
  typeCheck("browser-mode.ts");
  const { outputFiles } = await build({ entryPoints: [join(project, "browser-mode.ts")], absWorkingDir: project, bundle: true, format: "esm", platform: "browser", target: "es2022", write: false });
  const bundle = outputFiles?.[0]?.text ?? "";

  const email = `native-${randomUUID()}@example.org`;
  const password = "a long enough passphrase";
  const device = createTodoClient({ baseUrl: API_URL });
  await device.signup({ email, password, name: "Native" });
  await device.login({ email, password });
  const html = `<!doctype html><title>Todo</title><script type="application/json" id="config">${JSON.stringify({ api: API_URL, email, password })}</script><div id="log"></div><script type="module" src="/app.js"></script>`;
  const site = await devServer(html, bundle); // its /api proxy unused: the page calls API_URL across origins
  assert.notEqual(new URL(site.origin).port, new URL(API_URL).port);
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  const log = page.locator("#log");
  try {
    await page.goto(site.origin);
    await log.getByText("stream open").waitFor({ timeout: 30_000 });
    assert.equal(await log.locator("p").first().textContent(), 'logged in; refresh token readable: false; cookies: ""');
    const cookies = await context.cookies(); // every path's (cookies(url) filters by the url's path)
    const refresh = cookies.find((cookie) => cookie.name === "refresh_token");
    const stream = cookies.find((cookie) => cookie.name === "stream_token");
    assert.ok(refresh && stream, `the browser kept no cookies: ${JSON.stringify(cookies)}`);
    assert.deepEqual([refresh.path, refresh.httpOnly, refresh.secure, refresh.sameSite], ["/api/auth", true, true, "Strict"]);
    assert.deepEqual([stream.path, stream.httpOnly, stream.secure, stream.sameSite], [`/api/${device.userId}/events`, true, true, "Strict"]);

    await ok(device.api.POST("/api/{user_id}/tasks", { body: { title: "From another device" } }));
    await log.getByText("change From another device").waitFor({ timeout: 15_000 });

    await page.reload(); // a new page load: the session comes back from the cookie
    await log.getByText(`resumed ${email}`).waitFor({ timeout: 30_000 });
    await log.getByText("stream open").waitFor({ timeout: 15_000 });
    await ok(device.api.POST("/api/{user_id}/tasks", { body: { title: "After the reload" } }));
    await log.getByText("change After the reload").waitFor({ timeout: 15_000 });

    await page.evaluate(() => (window as unknown as { logout(): Promise<void> }).logout());
    await log.getByText(/^stream stopped: (session-ended|closed)$/).waitFor({ timeout: 15_000 });
    assert.deepEqual((await context.cookies()).map((cookie) => cookie.name), [], "logout left cookies behind");
    await page.screenshot({ path: outputPath("package-page-browser-mode.png") });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await site.close();
  }
});
