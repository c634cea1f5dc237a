/**
 * The interactive console (/console, Swagger UI) in Chromium against a running service (API_URL,
 * set by src/e2e.ts): it renders every operation of the served contract, no request leaves the
 * service's origin, its Content-Security-Policy is never violated, and a developer's session works:
 * log in with "Try it out", "Authorize" with the access token, and GET /api/me answers 200 with the
 * user (before Authorize, the same call shows the 401 problem+json as the service wrote it).
 * Screenshots: test-output/console.png, test-output/console-get-me.png.
 * Run: API_URL=http://127.0.0.1:8000 node --import tsx --test src/console.test.ts
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import type { Browser, Locator, Page } from "playwright-core";

import type { Schemas } from "./api.js";
import { launch, outputPath, recordRequests } from "./browser.js";

const API_URL = process.env.API_URL ?? "http://127.0.0.1:8000";
const API_ORIGIN = new URL(API_URL).origin;
const METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);

let browser: Browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The element id Swagger UI gives each operation of the served contract: operations-<tag>-<operationId>. */
async function operationBlockIds(): Promise<string[]> {
  const response = await fetch(`${API_URL}/openapi.json`);
  assert.equal(response.status, 200);
  type Operations = Record<string, Record<string, { operationId?: string; tags?: string[] }>>;
  const document = (await response.json()) as { paths: Operations; webhooks?: Operations };
  const ids: string[] = [];
  for (const item of Object.values(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (!METHODS.has(method)) continue;
      assert.ok(operation.operationId && operation.tags?.length, `${method} operation without id or tag`);
      ids.push(`operations-${operation.tags[0]}-${operation.operationId}`);
    }
  }
  // The webhooks the service sends (OpenAPI 3.1's top-level `webhooks`), which Swagger UI lists
  // too: operations-webhooks-<method><name, each non-word character an underscore>.
  for (const [name, item] of Object.entries(document.webhooks ?? {})) {
    for (const method of Object.keys(item)) {
      if (METHODS.has(method)) ids.push(`operations-webhooks-${method}${name.replace(/\W/g, "_")}`);
    }
  }
  return ids;
}

/** Open an operation, press "Try it out" (and fill its JSON body), press Execute; the answer's status and body as shown. */
async function tryItOut(page: Page, blockId: string, body?: unknown): Promise<{ status: string; shown: string; block: Locator }> {
  const block = page.locator(`#${blockId}`);
  if (!(await block.locator(".opblock-body").isVisible())) await block.locator(".opblock-summary-control").click();
  const tryOut = block.locator("button.try-out__btn");
  if ((await tryOut.textContent())?.trim() === "Try it out") await tryOut.click();
  if (body !== undefined) await block.locator("textarea.body-param__text").fill(JSON.stringify(body));
  // An earlier answer of this block would satisfy the wait below before the new one is shown.
  const clear = block.locator("button.btn-clear");
  if (await clear.isVisible()) await clear.click();
  await block.locator(".live-responses-table").waitFor({ state: "detached", timeout: 5_000 });
  await block.locator("button.execute").click();
  const status = block.locator(".live-responses-table tr.response .response-col_status").first();
  await status.waitFor({ timeout: 20_000 });
  const shown = (await block.locator(".live-responses-table tr.response .response-col_description").first().textContent()) ?? "";
  return { status: (await status.textContent())?.trim() ?? "", shown, block };
}

describe("the /console page", () => {
  test("Swagger UI renders every operation, keeps to the service's origin, and Authorize + Try it out reach GET /api/me", async (t) => {
    const expected = await operationBlockIds();
    assert.ok(expected.length > 0, "no operations in the served contract");
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    t.after(() => context.close());
    const requests = await recordRequests(context, (url) => url.origin === API_ORIGIN);
    const sentToMe: (string | undefined)[] = [];
    context.on("request", (request) => {
      if (request.url() === `${API_URL}/api/me`) sentToMe.push(request.headers()["authorization"]);
    });
    await context.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener("securitypolicyviolation", (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    const errors: string[] = [];
    const page = await context.newPage();
    page.on("pageerror", (error) => errors.push(error.message));

    const response = await page.goto(`${API_URL}/console`);
    assert.equal(response?.status(), 200);
    await page.locator(".opblock").first().waitFor({ timeout: 30_000 });
    const rendered = await page.$$eval(".opblock", (blocks) => blocks.map((b) => b.id));
    assert.deepEqual([...rendered].sort(), [...expected].sort(), "the console's operations are not the contract's");
    await page.screenshot({ path: outputPath("console.png") });

    // An account to log in with; the console itself does the logging in.
    const email = `console-${Date.now()}@example.org`;
    const password = "correct horse battery staple";
    const signup = await fetch(`${API_URL}/api/auth/signup`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email, password, name: "Console" }),
    });
    assert.equal(signup.status, 201);
    const user = (await signup.json()) as Schemas["User"];

    const refused = await tryItOut(page, "operations-me-get_me");
    assert.equal(refused.status, "401", "GET /api/me before Authorize");
    assert.match(refused.shown, /urn:todo-api:problem:unauthorized/, "the problem+json is not shown as it is");

    const [loginAnswer, login] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${API_URL}/api/auth/login`),
      tryItOut(page, "operations-auth-login", { email, password }),
    ]);
    assert.equal(login.status, "200", `login through the console: ${login.shown.slice(0, 300)}`);
    const { access_token: token } = (await loginAnswer.json()) as Schemas["TokenPair"];
    t.after(() =>
      fetch(`${API_URL}/api/me`, {
        method: "DELETE",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({ password }),
      }),
    );
    assert.ok(login.shown.includes(token), "the console does not show the access token to paste");

    await page.locator(".scheme-container button.authorize").click();
    // the bearer scheme's form (the modal also holds the stream cookie's, which a browser sets)
    const modal = page.locator(".modal-ux");
    const bearer = modal.locator("form").filter({ hasText: "bearerAuth" });
    await bearer.locator("input").first().fill(token);
    await bearer.locator("button.authorize").click();
    await modal.locator("button.btn-done").first().click(); // one per scheme: each closes the modal

    const me = await tryItOut(page, "operations-me-get_me");
    assert.equal(me.status, "200", `GET /api/me after Authorize: ${me.shown.slice(0, 300)}`);
    assert.ok(me.shown.includes(user.id) && me.shown.includes(email), "the console does not show the user");
    await me.block.screenshot({ path: outputPath("console-get-me.png") });
    assert.deepEqual(sentToMe, [undefined, `Bearer ${token}`], "Authorization sent to /api/me");

    const violations = await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
    assert.deepEqual(errors, [], "the page threw");
    assert.deepEqual(violations, [], "the page broke its Content-Security-Policy");
    assert.deepEqual(requests.foreign, [], "requests left the service's origin");
    console.log(`${rendered.length} operations rendered; ${requests.all.length} requests, all to ${API_ORIGIN}`);
  });
});
