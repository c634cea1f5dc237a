/**
 * Real-browser checks against a running service (src/e2e.ts starts one and sets these):
 *   API_URL         the service, e.g. http://127.0.0.1:8000
 *   ALLOWED_ORIGIN  an origin listed in the service's CORS_ORIGINS, e.g. http://127.0.0.1:8001;
 *                   this test serves a page there (so the port must be free)
 * Run: node --import tsx --test src/browser.test.ts
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import type { Browser } from "playwright-core";

import { launch, outputPath, recordRequests, servePage } from "./browser.js";
import type { Schemas } from "./api.js";

const API_URL = process.env.API_URL ?? "http://127.0.0.1:8000";
const API_ORIGIN = new URL(API_URL).origin;
const ALLOWED_ORIGIN = process.env.ALLOWED_ORIGIN;

let browser: Browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Every operation in the contract the service serves, with its summary. */
async function contractOperations(): Promise<{ id: string; summary: string }[]> {
  const response = await fetch(`${API_URL}/openapi.json`);
  assert.equal(response.status, 200);
  const document = (await response.json()) as { paths: Record<string, Record<string, unknown>> };
  const operations: { id: string; summary: string }[] = [];
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item)) {
      const { operationId, summary } = operation as { operationId?: string; summary?: string };
      if (operationId && summary) operations.push({ id: operationId, summary });
    }
  }
  return operations;
}

describe("the /docs page", () => {
  test("Redoc renders every operation, with no request leaving the service's origin", async () => {
    const operations = await contractOperations();
    assert.ok(operations.length >= 20, `only ${operations.length} operations in the contract`);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const requests = await recordRequests(context, (url) => url.origin === API_ORIGIN);
    const blockedByPage: string[] = [];
    context.on("requestfailed", (request) => {
      if (request.failure()?.errorText === "csp") blockedByPage.push(request.url());
    });
    const errors: string[] = [];
    const page = await context.newPage();
    page.on("pageerror", (error) => errors.push(error.message));

    const response = await page.goto(`${API_URL}/docs`, { waitUntil: "networkidle" });
    assert.equal(response?.status(), 200);
    await page.locator('[data-section-id^="operation/"]').first().waitFor({ timeout: 30_000 });

    const rendered = await page.$$eval('[data-section-id^="operation/"]', (sections) =>
      sections.map((s) => ({ id: s.getAttribute("data-section-id")?.slice("operation/".length), heading: s.querySelector("h2")?.textContent?.trim() })),
    );
    for (const { id, summary } of operations) {
      const section = rendered.find((r) => r.id === id);
      assert.ok(section, `operation ${id} is not rendered`);
      assert.equal(section.heading, summary, `operation ${id} heading`);
    }
    await page.screenshot({ path: outputPath("docs.png") });
    await context.close();

    assert.deepEqual(errors, [], "the page threw");
    assert.deepEqual(requests.foreign, [], "requests left the service's origin");
    assert.ok(requests.all.some((url) => url.endsWith("/openapi.json")), "the contract was not loaded");
    const own = requests.all.filter((url) => new URL(url).origin === API_ORIGIN).length;
    console.log(
      `${operations.length} operations rendered; ${own} requests, all to ${API_ORIGIN}` +
        (blockedByPage.length ? `; refused by the page's own CSP before leaving: ${blockedByPage.join(", ")}` : ""),
    );
  });
});

/** What a page's fetch came to: an answer, or the TypeError a browser gives for a refused request. */
type Outcome = { status: number; body: unknown; etag: string | null; location: string | null } | { refused: string };

const PAGE = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>frontend</title></head><body>
<script>
  window.call = async (url, init) => {
    try {
      const response = await fetch(url, init);
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : null,
               etag: response.headers.get("ETag"), location: response.headers.get("Location") };
    } catch (error) {
      return { refused: String(error) };
    }
  };
</script></body></html>`;

declare global {
  interface Window {
    call(url: string, init?: RequestInit): Promise<Outcome>;
  }
}

describe("CORS from a browser page on another origin", () => {
  test("a listed origin: preflighted requests with Authorization and JSON bodies succeed", async (t) => {
    assert.ok(ALLOWED_ORIGIN, "set ALLOWED_ORIGIN to an origin listed in the service's CORS_ORIGINS");
    const site = await servePage(Number(new URL(ALLOWED_ORIGIN).port), PAGE);
    t.after(() => site.close());
    assert.equal(site.origin, ALLOWED_ORIGIN);
    const context = await browser.newContext();
    t.after(() => context.close());
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    const preflights: { method: string; url: string }[] = [];
    cdp.on("Network.requestWillBeSent", ({ request }) => {
      const method = request.headers["Access-Control-Request-Method"];
      if (request.method === "OPTIONS" && method) preflights.push({ method, url: request.url });
    });
    await cdp.send("Network.enable");
    await page.goto(site.origin);

    const called = new Set<string>();
    const call = async (path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown; etag: string | null; location: string | null }> => {
      called.add(`${API_URL}${path}`);
      const outcome = await page.evaluate(([url, options]) => window.call(url, options), [`${API_URL}${path}`, init] as const);
      assert.ok(!("refused" in outcome), `${init.method ?? "GET"} ${path} was refused: ${"refused" in outcome ? outcome.refused : ""}`);
      return outcome;
    };
    const json = (method: string, body: unknown, token?: string): RequestInit => ({
      method,
      headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });

    const email = `cors-${Date.now()}@example.org`;
    const password = "correct horse battery staple";
    const signup = await call("/api/auth/signup", json("POST", { email, password, name: "Cors" }));
    assert.equal(signup.status, 201, JSON.stringify(signup.body));
    const login = await call("/api/auth/login", json("POST", { email, password }));
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const { access_token: token, user } = login.body as Schemas["TokenPair"];
    t.after(() => fetch(`${API_URL}/api/me`, { ...json("DELETE", { password }, token) }));
    const bearer = { Authorization: `Bearer ${token}` };

    const me = await call("/api/me", { headers: bearer });
    assert.equal(me.status, 200);
    assert.equal((me.body as Schemas["User"]).id, user.id);
    const renamed = await call("/api/me", json("PATCH", { name: "Cors Renamed" }, token));
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));

    const created = await call(`/api/${user.id}/tasks`, {
      ...json("POST", { title: "From the browser", tags: ["cors"] }, token),
      headers: { "Content-Type": "application/json", ...bearer, "Idempotency-Key": crypto.randomUUID() },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.ok(created.etag, "ETag is not exposed to the page");
    assert.ok(created.location?.startsWith(`/api/${user.id}/tasks/`), "Location is not exposed to the page");
    const task = created.body as Schemas["Task"];
    const patched = await call(`/api/${user.id}/tasks/${task.id}`, {
      ...json("PATCH", { priority: "high" }, token),
      headers: { "Content-Type": "application/json", ...bearer, "If-Match": created.etag },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const stale = await call(`/api/${user.id}/tasks/${task.id}`, {
      method: "DELETE",
      headers: { ...bearer, "If-Match": created.etag },
    });
    assert.equal(stale.status, 412, "a stale If-Match from the browser");
    assert.equal((stale.body as Schemas["Problem"]).status, 412);

    const deleted = await call("/api/me", json("DELETE", { password }, token));
    assert.equal(deleted.status, 204);
    // Each call sent JSON or Authorization, so the first call to each URL needed a preflight
    // (later ones may reuse the preflight cache, Access-Control-Max-Age).
    const preflighted = new Set(preflights.map((p) => p.url));
    for (const url of called) assert.ok(preflighted.has(url), `no preflight seen for ${url}`);
    const methods = [...new Set(preflights.map((p) => p.method))].join(", ");
    console.log(`${preflights.length} preflights (${methods}) answered for ${ALLOWED_ORIGIN}; ${called.size} URLs called`);
  });

  test("an origin that is not listed is refused by the browser", async (t) => {
    // In development every http://localhost:* and http://127.0.0.1:* page is allowed (a dev
    // server's): a page on the IPv6 loopback is an origin neither listed nor of those.
    const site = await servePage(0, PAGE, "::1");
    t.after(() => site.close());
    assert.notEqual(site.origin, ALLOWED_ORIGIN);
    const context = await browser.newContext();
    t.after(() => context.close());
    const page = await context.newPage();
    await page.goto(site.origin);
    const attempts: [string, RequestInit][] = [
      ["/health", {}],
      ["/api/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"email":"a@b.io","password":"whatever1"}' }],
      ["/api/me", { headers: { Authorization: "Bearer not-a-token" } }],
    ];
    for (const [path, init] of attempts) {
      const outcome = await page.evaluate(([url, options]) => window.call(url, options), [`${API_URL}${path}`, init] as const);
      assert.ok("refused" in outcome, `${init.method ?? "GET"} ${path} from ${site.origin} was answered: ${JSON.stringify(outcome)}`);
      assert.match(outcome.refused, /TypeError/);
    }
  });
});

describe("a reminder reaches a browser page", () => {
  test("a page on the service's origin streams /events with fetch and gets the task's reminder", async (t) => {
    const email = `reminder-${Date.now()}@example.org`;
    const password = "correct horse battery staple";
    const post = (path: string, body: unknown) =>
      fetch(`${API_URL}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    assert.equal((await post("/api/auth/signup", { email, password, name: "Reminded" })).status, 201);
    const login = await post("/api/auth/login", { email, password });
    assert.equal(login.status, 200);
    const { access_token: token, user } = (await login.json()) as Schemas["TokenPair"];
    t.after(() =>
      fetch(`${API_URL}/api/me`, {
        method: "DELETE",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({ password }),
      }),
    );
    const context = await browser.newContext();
    t.after(() => context.close());
    const page = await context.newPage();
    assert.equal((await page.goto(`${API_URL}/console`))?.status(), 200);
    // Whole seconds: the event's fire_at is written to the second.
    const at = new Date(Math.ceil(Date.now() / 1000) * 1000 + 2000).toISOString().replace(".000Z", "Z");

    // In the page (/console: its CSP allows connect-src 'self'): EventSource cannot send Authorization, so the stream is read with fetch.
    const got = await page.evaluate(
      async ({ userId, token, at }) => {
        const auth = { Authorization: `Bearer ${token}` };
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), 20_000);
        try {
          const stream = await fetch(`/api/${userId}/events`, { headers: auth, signal: controller.signal });
          if (stream.status !== 200 || !stream.body) return { error: `events: ${stream.status}` };
          const created = await fetch(`/api/${userId}/tasks`, {
            method: "POST",
            headers: { ...auth, "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
            body: JSON.stringify({ title: "Call the dentist", reminders: [{ at }] }),
          });
          const task = await created.json();
          if (created.status !== 201) return { error: `create: ${created.status} ${JSON.stringify(task)}` };
          const reader = stream.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return { error: "the stream ended" };
            buffer += value;
            let end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              const frame = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const lines = frame.split("\n");
              if (!lines.includes("event: reminder")) continue;
              const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
              controller.abort();
              return { taskId: task.id as string, data: JSON.parse(data) as unknown, seenAt: Date.now() };
            }
          }
        } catch (error) {
          return { error: String(error) };
        } finally {
          clearTimeout(timer);
        }
      },
      { userId: user.id, token, at },
    );
    assert.ok(!("error" in got), `no reminder in the page: ${"error" in got ? got.error : ""}`);
    assert.deepEqual(got.data, { task_id: got.taskId, title: "Call the dentist", fire_at: at });
    console.log(`reminder for ${at} seen by the page ${got.seenAt - Date.parse(at)} ms after fire_at`);
  });
});
