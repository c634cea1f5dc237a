/**
 * The live-events helper (src/events.ts) across the ends of its streams, against a service whose
 * access tokens live a few seconds (`make e2e` starts one with ACCESS_TOKEN_TTL=3):
 *   API_URL=http://127.0.0.1:8001 npx tsx src/stream-ends.ts
 * The server ends the stream at the token's exp; the helper refreshes and reconnects after the
 * last change it applied, missing nothing another device wrote meanwhile; a logout of its session
 * ends the stream for good and the helper stops. Exits 1 on the first failed check.
 */
import { randomUUID } from "node:crypto";

import { type Schemas, check, expectEmpty, expectStatus, makeClient } from "./api.js";
import { LiveStream } from "./events.js";
import { LocalCopy, converged, pull } from "./sync.js";

const baseUrl = process.env.API_URL ?? "http://127.0.0.1:8001";
const MAX_TTL_S = 10;

async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
  const result = await run();
  console.log(`ok   ${name}`);
  return result;
}

async function until(condition: () => boolean, withinMs: number, what: string): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!condition()) {
    check(Date.now() < deadline, `${what}: not within ${withinMs} ms`);
    await new Promise((resume) => setTimeout(resume, 50));
  }
}

async function main(): Promise<void> {
  const anonymous = makeClient(baseUrl);
  const email = `streams-${randomUUID()}@example.org`;
  const password = "a long enough passphrase";
  const user = expectStatus(await anonymous.POST("/api/auth/signup", { body: { email, password, name: "Streams" } }), 201);
  const login = async (): Promise<Schemas["TokenPair"]> =>
    expectStatus(await anonymous.POST("/api/auth/login", { body: { email, password } }), 200);
  let tokens = await login();
  check(tokens.expires_in <= MAX_TTL_S, `access tokens live ${tokens.expires_in} s: start the service with ACCESS_TOKEN_TTL=3`);
  const api = makeClient(baseUrl, () => tokens.access_token);
  const renew = async (): Promise<string> => {
    tokens = expectStatus(await anonymous.POST("/api/auth/refresh", { body: { refresh_token: tokens.refresh_token } }), 200);
    return tokens.access_token;
  };
  const path = { user_id: user.id };
  const write = async (title: string): Promise<void> => {
    const device = await login(); // another device, with a token of its own
    expectStatus(await makeClient(baseUrl, () => device.access_token).POST("/api/{user_id}/tasks", { params: { path }, body: { title } }), 201);
  };

  const copy = new LocalCopy();
  await pull(api, user.id, copy);
  const live = new LiveStream(baseUrl, user.id, copy, { token: () => tokens.access_token, renew });
  await live.open();

  await step("at the token's exp the stream ends; the helper refreshes and follows on", async () => {
    await write("Before exp");
    await until(() => live.connections >= 2, (tokens.expires_in + 5) * 1000, "no reconnection after exp");
    check(live.ended === undefined, `the helper stopped: ${live.ended}`);
    await write("After exp");
    check(await converged(api, user.id, copy), "the copy missed a change across the reconnection");
    check(live.events === 2, `applied ${live.events} changes`);
  });

  await step("a logout of its session ends the stream for good: the helper stops", async () => {
    const connections = live.connections;
    expectEmpty(await anonymous.POST("/api/auth/logout", { body: { refresh_token: tokens.refresh_token } }), 204);
    await until(() => live.ended !== undefined, 2000, "the helper did not stop");
    check(live.ended === "session-ended", `ended: ${live.ended}`);
    check(live.connections === connections, "the helper tried to reconnect");
  });
  await live.close();
}

main().then(
  () => console.log("stream ends: all checks passed"),
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
