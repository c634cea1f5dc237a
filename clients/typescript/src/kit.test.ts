/**
 * The package (src/index.ts) against a real service whose access tokens live a few seconds
 * (`make e2e` starts one with ACCESS_TOKEN_TTL=3):
 *   API_URL=http://127.0.0.1:8001 npm run test:kit
 * Single-flight refresh, a reused refresh token handled as a logout, and /events followed across
 * a token's exp, a lost connection and a logout.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { type Server, Socket, createServer } from "node:net";
import { after, describe, test } from "node:test";

import { ApiProblem, type LogoutReason, type TodoClient, createTodoClient, ok } from "./index.js";

const API_URL = process.env.API_URL ?? "http://127.0.0.1:8001";
const MAX_TTL_S = 10;
const password = "a long enough passphrase";

/** A fetch that counts the refreshes it sends. */
function counting(): { fetch: typeof fetch; refreshes: () => number } {
  let refreshes = 0;
  return {
    fetch: (input, init) => {
      if (String(input instanceof Request ? input.url : input).endsWith("/api/auth/refresh")) refreshes += 1;
      return fetch(input, init);
    },
    refreshes: () => refreshes,
  };
}

async function loggedIn(options: Partial<Parameters<typeof createTodoClient>[0]> = {}, baseUrl = API_URL): Promise<{ client: TodoClient; email: string }> {
  const email = `kit-${randomUUID()}@example.org`;
  const client = createTodoClient({ baseUrl, ...options });
  await client.signup({ email, password, name: "Kit" });
  const pair = await client.login({ email, password });
  assert.ok(pair.expires_in <= MAX_TTL_S, `access tokens live ${pair.expires_in} s: start the service with ACCESS_TOKEN_TTL=3`);
  return { client, email };
}

async function until(condition: () => boolean, withinMs: number, what: string): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `${what}: not within ${withinMs} ms`);
    await new Promise((resume) => setTimeout(resume, 50));
  }
}

/** Waits until the service refuses the client's access token (past its exp and the service's
 * allowance for clock skew), asking it directly, not through the client. */
async function untilExpired(client: TodoClient): Promise<void> {
  const headers = { Authorization: `Bearer ${client.session?.access_token ?? ""}` };
  const deadline = Date.now() + (MAX_TTL_S + 60) * 1000;
  while ((await fetch(`${API_URL}/api/me`, { headers })).status !== 401) {
    assert.ok(Date.now() < deadline, "the service still accepts the access token");
    await new Promise((resume) => setTimeout(resume, 250));
  }
}

describe("tokens", { concurrency: true }, () => {
  test("calls refused at once for an expired token share one refresh, then all succeed", async () => {
    const counter = counting();
    const { client } = await loggedIn({ fetch: counter.fetch });
    const task = await ok(client.api.POST("/api/{user_id}/tasks", { body: { title: "Before expiry" } }));
    const before = client.session?.refresh_token;
    await untilExpired(client);
    const answers = await Promise.all([
      ok(client.api.GET("/api/{user_id}/tasks")),
      ok(client.api.GET("/api/{user_id}/tasks/{task_id}", { params: { path: { task_id: task.id } } })),
      ok(client.api.GET("/api/{user_id}/lists")),
      ok(client.api.GET("/api/{user_id}/stats")),
      ok(client.api.GET("/api/me")),
    ]);
    assert.equal(counter.refreshes(), 1, "one refresh for five refused calls");
    assert.equal(answers[1].title, "Before expiry");
    assert.notEqual(client.session?.refresh_token, before, "the pair was not rotated");
  });

  test("a refresh token used elsewhere ends the session: one logout, each waiting call a 401 problem", async () => {
    const logouts: LogoutReason[] = [];
    const sessions: (string | undefined)[] = [];
    const { client } = await loggedIn({ onLogout: (reason) => logouts.push(reason), onSession: (s) => sessions.push(s?.user.id) });
    const stolen = client.session?.refresh_token ?? "";
    const elsewhere = await fetch(`${API_URL}/api/auth/refresh`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: stolen }),
    });
    assert.equal(elsewhere.status, 200);
    await untilExpired(client);
    const results = await Promise.allSettled([
      ok(client.api.GET("/api/{user_id}/tasks")),
      ok(client.api.GET("/api/{user_id}/lists")),
      ok(client.api.GET("/api/me")),
    ]);
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.ok(result.reason instanceof ApiProblem, `not an ApiProblem: ${String(result.reason)}`);
      assert.equal(result.reason.status, 401);
      assert.ok(result.reason.title && result.reason.detail && result.reason.request_id, "a problem without its fields");
    }
    assert.deepEqual(logouts, ["refresh-refused"]);
    assert.equal(client.session, undefined);
    assert.equal(sessions.at(-1), undefined, "onSession did not hear the end");
  });

  test("a problem answer is thrown with the contract's fields", async () => {
    const { client } = await loggedIn();
    const refused = await ok(client.api.POST("/api/{user_id}/tasks", { body: { title: " " } })).catch((error: unknown) => error);
    assert.ok(refused instanceof ApiProblem);
    assert.equal(refused.status, 422);
    assert.equal(refused.type.length > 0, true);
    assert.deepEqual(refused.errors.map((e) => e.loc.join(".")), ["body.title"]);
    await client.logout();
  });
});

/** A TCP proxy in front of the service whose connections can be cut, and new ones refused. */
async function proxy(): Promise<{ url: string; cut(): void; resume(): void; close(): Promise<void> }> {
  const target = new URL(API_URL);
  const sockets = new Set<Socket>();
  let refusing = false;
  const server: Server = createServer((inbound) => {
    if (refusing) return void inbound.destroy();
    const outbound = new Socket();
    outbound.connect(Number(target.port), target.hostname);
    for (const [a, b] of [[inbound, outbound], [outbound, inbound]] as const) {
      sockets.add(a);
      a.pipe(b);
      a.on("error", () => b.destroy());
      a.on("close", () => (sockets.delete(a), b.destroy()));
    }
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    resume: () => {
      refusing = false;
    },
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  };
}

/** The feed's position now, for a user without changes yet: where a stream starts so that a
 * reconnection before its first event misses nothing. */
async function position(client: TodoClient): Promise<string> {
  const page = await ok(client.api.GET("/api/{user_id}/changes"));
  assert.equal(page.has_more, false);
  return page.next_since;
}

describe("events", () => {
  const opened: { close(): Promise<void> }[] = [];
  after(async () => {
    for (const closable of opened.reverse()) await closable.close();
  });

  test("a lost connection: it reconnects from the last id, and a change made meanwhile arrives once", async () => {
    const cable = await proxy();
    opened.push(cable);
    const { client, email } = await loggedIn({}, cable.url);
    const writer = createTodoClient({ baseUrl: API_URL });
    await writer.login({ email, password });
    const seen: string[] = [];
    const stream = client.events({ lastEventId: await position(client), onChange: (change) => change.kind === "task" && seen.push((change.data as { title: string }).title) });
    opened.push(stream);
    await until(() => stream.connections === 1, 5000, "the stream did not open");
    await ok(writer.api.POST("/api/{user_id}/tasks", { body: { title: "one" } }));
    await until(() => seen.length === 1, 5000, "the first change did not arrive");
    cable.cut();
    await ok(writer.api.POST("/api/{user_id}/tasks", { body: { title: "two" } }));
    const connections = stream.connections;
    cable.resume();
    await until(() => seen.length >= 2 && stream.connections > connections, 20_000, "the change made while cut did not arrive");
    await ok(writer.api.POST("/api/{user_id}/tasks", { body: { title: "three" } }));
    await until(() => seen.length >= 3, 5000, "a change after the reconnection did not arrive");
    assert.deepEqual(seen, ["one", "two", "three"]);
    assert.equal(stream.stopped, undefined);
    await stream.close();
    assert.equal(stream.stopped, "closed");
  });

  test("at the token's exp the stream ends; it refreshes and follows on; a logout stops it for good", async () => {
    const logouts: LogoutReason[] = [];
    const { client, email } = await loggedIn({ onLogout: (reason) => logouts.push(reason) });
    const writer = createTodoClient({ baseUrl: API_URL });
    await writer.login({ email, password });
    const seen: string[] = [];
    const stream = client.events({ lastEventId: await position(client), onChange: (change) => change.kind === "task" && seen.push((change.data as { title: string }).title) });
    opened.push(stream);
    await until(() => stream.connections === 1, 5000, "the stream did not open");
    await ok(writer.api.POST("/api/{user_id}/tasks", { body: { title: "Before exp" } }));
    const first = client.session?.access_token;
    await until(() => stream.connections >= 2, (MAX_TTL_S + 5) * 1000, "no reconnection after exp");
    assert.notEqual(client.session?.access_token, first, "it reconnected without a refresh");
    await ok(writer.api.POST("/api/{user_id}/tasks", { body: { title: "After exp" } }));
    await until(() => seen.length === 2, 5000, "the change after exp did not arrive");
    assert.deepEqual(seen, ["Before exp", "After exp"]);

    const connections = stream.connections;
    const refresh = client.session?.refresh_token ?? "";
    const loggedOut = await fetch(`${API_URL}/api/auth/logout`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: refresh }),
    });
    assert.equal(loggedOut.status, 204);
    assert.equal(await Promise.race([stream.done, new Promise((r) => setTimeout(() => r("still open"), 3000))]), "session-ended");
    assert.equal(stream.connections, connections, "it tried to reconnect");
    assert.deepEqual(logouts, ["session-ended"]);
    assert.equal(client.session, undefined);
  });
});
