/**
 * The frontend's whole flow against a running service, typed by the contract:
 *   API_URL=http://127.0.0.1:8000 npx tsx src/flow.ts
 * Prints one line per step; exits 1 on the first answer the contract or the spec does not lead a
 * frontend to expect, saying what was sent and what came back.
 */
import { randomUUID } from "node:crypto";

import {
  type Api,
  type Schemas,
  type Task,
  type TaskPage,
  UnexpectedAnswer,
  check,
  completeTask,
  etagOf,
  expectEmpty,
  expectProblem,
  expectStatus,
  makeClient,
  refreshTokenOf,
} from "./api.js";
import { commentsFlow } from "./comments.js";
import { createTodoClient } from "./index.js";
import { listsFlow } from "./lists.js";
import { syncFlow } from "./sync.js";
import { timeFlow } from "./time.js";
import { tokensFlow } from "./tokens.js";
import { transferFlow } from "./transfer.js";
import { webhooksFlow } from "./webhooks.js";

const baseUrl = process.env.API_URL ?? "http://127.0.0.1:8000";
const DAY = 24 * 60 * 60 * 1000;
const at = (offsetMs: number): string => new Date(Date.now() + offsetMs).toISOString();

let steps = 0;
async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
  const result = await run();
  steps += 1;
  console.log(`ok   ${name}`);
  return result;
}

const ids = (tasks: readonly Task[]): string[] => tasks.map((t) => t.id);
const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && [...a].sort().join() === [...b].sort().join();

/** The tasks the frontend creates; each filter check compares the server's answer with a predicate. */
const NEW_TASKS: Schemas["TaskCreate"][] = [
  { title: "Buy milk", description: "Two litres, semi-skimmed 🥛", priority: "high", tags: ["home", "errands"], due_date: at(DAY) },
  { title: "Write report", priority: "medium", tags: ["work"], due_date: at(3 * DAY) },
  { title: "Call plumber", priority: "high", tags: ["home", "urgent"], due_date: at(-DAY) },
  { title: "Read book", priority: "low" },
  { title: "Pay rent", priority: "high", tags: ["home"], due_date: at(7 * DAY), is_completed: true },
  { title: "Plan trip", description: "Milk the holiday allowance", priority: "low", tags: ["travel"] },
  { title: "Fix bike", tags: ["Home", "Bike"] },
];

async function listAll(api: Api, userId: string, query: Record<string, unknown>): Promise<TaskPage> {
  return expectStatus(
    await api.GET("/api/{user_id}/tasks", { params: { path: { user_id: userId }, query: { limit: 100, ...query } } }),
    200,
  );
}

/**
 * Save a change the way an editing screen does: send it with the ETag the screen was opened with;
 * on 412 (someone changed the task meanwhile) re-read the task and send the change again.
 */
async function saveWithRetry(
  api: Api,
  userId: string,
  taskId: string,
  change: Schemas["TaskPatch"],
  etag: string,
): Promise<{ task: Task; etag: string; conflicts: number }> {
  let conflicts = 0;
  let ifMatch = etag;
  const path = { user_id: userId, task_id: taskId };
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    const answer = await api.PATCH("/api/{user_id}/tasks/{task_id}", {
      params: { path, header: { "If-Match": ifMatch } },
      body: change,
    });
    if (answer.response.status !== 412) {
      return { task: expectStatus(answer, 200), etag: etagOf(answer.response), conflicts };
    }
    const problem = expectProblem(answer, 412);
    conflicts += 1;
    console.log(`     412 handled (${problem.detail}); re-reading the task and retrying`);
    const fresh = await api.GET("/api/{user_id}/tasks/{task_id}", { params: { path } });
    expectStatus(fresh, 200);
    ifMatch = etagOf(fresh.response);
  }
  throw new UnexpectedAnswer("still 412 after three re-reads");
}

async function main(): Promise<void> {
  let accessToken: string | undefined;
  const api = makeClient(baseUrl, () => accessToken);
  const email = `flow-${Date.now()}-${randomUUID().slice(0, 8)}@example.org`;
  const password = "correct horse battery staple";
  console.log(`flow against ${baseUrl} as ${email}`);

  await step("health and ready", async () => {
    check(expectStatus(await api.GET("/health"), 200).status === "ok", "health is not ok");
    check(expectStatus(await api.GET("/ready"), 200).status === "ready", "not ready");
  });

  await step("the reference where others keep it: /redoc is 301 to /docs", async () => {
    const answer = await api.GET("/redoc", { redirect: "manual" });
    expectEmpty(answer, 301);
    check(answer.response.headers.get("Location") === "/docs", "/redoc does not lead to /docs");
  });

  const user = await step("signup answers 201 with the User", async () => {
    const created = expectStatus(
      await api.POST("/api/auth/signup", { body: { email, password, name: "Ada Lovelace" } }),
      201,
    );
    check(created.email.toLowerCase() === email && created.name === "Ada Lovelace", "signup echoed other data");
    check(!("password" in created) && !("password_hash" in created), "signup leaked a password field");
    return created;
  });

  await step("signup again with the email in capitals: 409 problem+json", async () => {
    const answer = await api.POST("/api/auth/signup", {
      body: { email: email.toUpperCase(), password, name: "Imposter" },
    });
    const problem = expectProblem(answer, 409);
    console.log(`     shown to the user: "${problem.title}: ${problem.detail}" (request ${problem.request_id})`);
  });

  await step("signup with a broken form: 422 with a message per field", async () => {
    const problem = expectProblem(
      await api.POST("/api/auth/signup", { body: { email: "not-an-email", password: "short", name: "Ada" } }),
      422,
    );
    const fields = (problem.errors ?? []).map((e) => e.loc.join("."));
    check(fields.includes("body.email") && fields.includes("body.password"), `errors point at ${fields.join(", ")}`);
    for (const error of problem.errors ?? []) console.log(`     ${error.loc.join(".")}: ${error.msg}`);
  });

  await step("login with a wrong password: 401 problem+json", async () => {
    const answer = await api.POST("/api/auth/login", { body: { email, password: "wrong password!" } });
    expectProblem(answer, 401);
  });

  let tokens = await step("login answers a bearer token pair", async () => {
    const pair = expectStatus(await api.POST("/api/auth/login", { body: { email: email.toUpperCase(), password } }), 200);
    check(pair.token_type === "bearer" && pair.expires_in > 0 && pair.user.id === user.id, "unexpected token pair");
    return pair;
  });
  accessToken = tokens.access_token;
  const userId = user.id;

  await step("get_me and update_me", async () => {
    check(expectStatus(await api.GET("/api/me"), 200).id === userId, "get_me answered another user");
    const renamed = expectStatus(await api.PATCH("/api/me", { body: { name: "Ada King" } }), 200);
    check(renamed.name === "Ada King", "rename did not stick");
  });

  const created = await step(`create ${NEW_TASKS.length} tasks (Location, ETag, Idempotency-Key)`, async () => {
    const tasks: Task[] = [];
    for (const body of NEW_TASKS) {
      const key = randomUUID();
      const answer = await api.POST("/api/{user_id}/tasks", {
        params: { path: { user_id: userId }, header: { "Idempotency-Key": key } },
        body,
      });
      const task = expectStatus(answer, 201);
      check(answer.response.headers.get("Location")?.endsWith(`/api/${userId}/tasks/${task.id}`), "bad Location");
      check(etagOf(answer.response) !== "", "no ETag");
      check(task.title === body.title && task.version === 1, `created ${JSON.stringify(task)}`);
      check(task.tags.every((t) => t === t.toLowerCase()), "tags were not lower-cased");
      if (tasks.length === 0) {
        const replay = await api.POST("/api/{user_id}/tasks", {
          params: { path: { user_id: userId }, header: { "Idempotency-Key": key } },
          body,
        });
        check(expectStatus(replay, 201).id === task.id, "an idempotent retry created a duplicate");
      }
      tasks.push(task);
    }
    check(tasks[0]?.description === NEW_TASKS[0]?.description, "emoji did not round-trip");
    return tasks;
  });
  const all = ids(created);
  const now = Date.now();
  const due = (t: Task): number | null => (t.due_date === null ? null : Date.parse(t.due_date));

  await step("list with filters: status, priority, tag, q, due_before/after", async () => {
    const cases: [string, Record<string, unknown>, (t: Task) => boolean][] = [
      ["status=pending", { status: "pending" }, (t) => !t.is_completed],
      ["status=completed", { status: "completed" }, (t) => t.is_completed],
      ["priority=high", { priority: "high" }, (t) => t.priority === "high"],
      ["tag=home", { tag: ["home"] }, (t) => t.tags.includes("home")],
      ["tag=home&tag=urgent", { tag: ["home", "urgent"] }, (t) => t.tags.includes("home") && t.tags.includes("urgent")],
      ["q=MILK", { q: "MILK" }, (t) => `${t.title} ${t.description ?? ""}`.toLowerCase().includes("milk")],
      ["due_before=now", { due_before: new Date(now).toISOString() }, (t) => (due(t) ?? Infinity) < now],
      ["due_after=now", { due_after: new Date(now).toISOString() }, (t) => (due(t) ?? -Infinity) > now],
    ];
    for (const [label, query, keep] of cases) {
      const page = await listAll(api, userId, query);
      const expected = ids(created.filter(keep));
      check(sameSet(ids(page.tasks), expected), `${label}: got ${page.tasks.map((t) => t.title).join(", ")}`);
      check(page.total === expected.length, `${label}: total ${page.total}, expected ${expected.length}`);
    }
  });

  await step("list sorted: title asc, priority desc, due_date asc (undated last)", async () => {
    const titles = (await listAll(api, userId, { sort: "title", order: "asc" })).tasks.map((t) => t.title);
    check(titles.join() === [...titles].sort().join(), `title order ${titles.join(", ")}`);
    const rank = { low: 0, medium: 1, high: 2 } as const;
    const ranks = (await listAll(api, userId, { sort: "priority", order: "desc" })).tasks.map((t) => rank[t.priority]);
    check(ranks.every((r, i) => i === 0 || r <= (ranks[i - 1] ?? r)), `priority order ${ranks.join(",")}`);
    const dues = (await listAll(api, userId, { sort: "due_date", order: "asc" })).tasks.map(due);
    const dated = dues.filter((d): d is number => d !== null);
    check(dues.slice(0, dated.length).every((d) => d !== null), "undated tasks did not sort last");
    check(dated.every((d, i) => i === 0 || d >= (dated[i - 1] ?? d)), "due dates out of order");
  });

  const offsetOrder = await step("page in offset mode (limit 3) and past the end", async () => {
    const seen: Task[] = [];
    for (let offset = 0; offset < all.length; offset += 3) {
      const page = expectStatus(
        await api.GET("/api/{user_id}/tasks", { params: { path: { user_id: userId }, query: { limit: 3, offset } } }),
        200,
      );
      check(page.total === all.length && page.limit === 3 && page.offset === offset, `page ${JSON.stringify({ ...page, tasks: undefined })}`);
      seen.push(...page.tasks);
    }
    check(seen.length === all.length && sameSet(ids(seen), all), "offset pages repeated or skipped a task");
    const stamps = seen.map((t) => Date.parse(t.created_at));
    check(stamps.every((s, i) => i === 0 || s <= (stamps[i - 1] ?? s)), "default order is not newest first");
    const beyond = await listAll(api, userId, { offset: 100 });
    check(beyond.tasks.length === 0 && beyond.total === all.length, "an offset past the end is not an empty page");
    return ids(seen);
  });

  await step("page in cursor mode (limit 3) until next_cursor is null", async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages += 1) {
      const query = cursor === undefined ? { limit: 3 } : { limit: 3, cursor };
      const page = expectStatus(await api.GET("/api/{user_id}/tasks", { params: { path: { user_id: userId }, query } }), 200);
      check(cursor === undefined || page.offset === null, "offset is not null in cursor mode");
      seen.push(...ids(page.tasks));
      if (page.next_cursor === null) break;
      cursor = page.next_cursor;
    }
    check(seen.join() === offsetOrder.join(), "cursor pages differ from offset pages");
  });

  await step("offset and cursor together: 400 problem+json", async () => {
    const answer = await api.GET("/api/{user_id}/tasks", {
      params: { path: { user_id: userId }, query: { offset: 3, cursor: "whatever" } },
    });
    expectProblem(answer, 400);
  });

  const target = created[0];
  check(target !== undefined, "no task to edit");
  const path = { user_id: userId, task_id: target.id };

  let etag = await step("get_task with ETag, then If-None-Match: 304", async () => {
    const answer = await api.GET("/api/{user_id}/tasks/{task_id}", { params: { path } });
    check(expectStatus(answer, 200).id === target.id, "got another task");
    const tag = etagOf(answer.response);
    expectEmpty(await api.GET("/api/{user_id}/tasks/{task_id}", { params: { path, header: { "If-None-Match": tag } } }), 304);
    return tag;
  });

  etag = await step("edit with If-Match; a concurrent edit gives 412, handled by re-read and retry", async () => {
    // Another tab renames the task after this screen read it: the screen's ETag is now stale.
    const otherTab = makeClient(baseUrl, () => accessToken);
    expectStatus(
      await otherTab.PATCH("/api/{user_id}/tasks/{task_id}", { params: { path }, body: { title: "Buy oat milk" } }),
      200,
    );
    const saved = await saveWithRetry(api, userId, target.id, { priority: "low", due_date: null }, etag);
    check(saved.conflicts === 1, `expected one 412, saw ${saved.conflicts}`);
    const { task } = saved;
    check(task.title === "Buy oat milk" && task.priority === "low" && task.due_date === null, `merged ${JSON.stringify(task)}`);
    check(task.version === 3, `version ${task.version} after two changes`);
    return saved.etag;
  });

  etag = await step("replace with If-Match: omitted fields return to defaults", async () => {
    const answer = await api.PUT("/api/{user_id}/tasks/{task_id}", {
      params: { path, header: { "If-Match": etag } },
      body: { title: "Buy milk and bread" },
    });
    const task = expectStatus(answer, 200);
    check(task.priority === "medium" && task.tags.length === 0 && task.description === null, `replaced ${JSON.stringify(task)}`);
    return etagOf(answer.response);
  });

  await step("complete with If-Match, toggle back with no body, complete again and retry it with its key", async () => {
    const done = await api.PATCH("/api/{user_id}/tasks/{task_id}/complete", {
      params: { path, header: { "If-Match": etag } },
      body: { is_completed: true },
    });
    const completed = expectStatus(done, 200);
    check(completed.is_completed && completed.completed_at !== null, "complete did not set completed_at");
    const toggled = expectStatus(
      await api.PATCH("/api/{user_id}/tasks/{task_id}/complete", { params: { path, header: { "If-Match": etagOf(done.response) } } }),
      200,
    );
    check(!toggled.is_completed && toggled.completed_at === null, "toggle did not reopen the task");
    const key = randomUUID();
    const again = expectStatus(await completeTask(api, path, { is_completed: true }, { key }), 200);
    check(again.is_completed, "could not complete the task");
    const retried = expectStatus(await completeTask(api, path, { is_completed: true }, { key }), 200);
    check(retried.version === again.version, "a completion retried with its Idempotency-Key wrote again");
  });

  await step("stats add up", async () => {
    const stats = expectStatus(await api.GET("/api/{user_id}/stats", { params: { path: { user_id: userId } } }), 200);
    const completed = (await listAll(api, userId, { status: "completed" })).total;
    const { low, medium, high } = stats.by_priority;
    check(stats.total === all.length && stats.completed === completed, `stats ${JSON.stringify(stats)}`);
    check(stats.completed + stats.pending === stats.total && low + medium + high === stats.total, "stats do not add up");
  });

  await step("delete: stale If-Match is 412, current is 204, then 404 problem+json", async () => {
    const stale = etag; // from before the task was completed
    expectProblem(await api.DELETE("/api/{user_id}/tasks/{task_id}", { params: { path, header: { "If-Match": stale } } }), 412);
    const current = await api.GET("/api/{user_id}/tasks/{task_id}", { params: { path } });
    expectStatus(current, 200);
    expectEmpty(
      await api.DELETE("/api/{user_id}/tasks/{task_id}", { params: { path, header: { "If-Match": etagOf(current.response) } } }),
      204,
    );
    const gone = expectProblem(await api.GET("/api/{user_id}/tasks/{task_id}", { params: { path } }), 404);
    check(gone.instance.endsWith(target.id), `404 instance ${gone.instance}`);
  });

  await listsFlow(api, userId, step);
  await commentsFlow(api, userId, step);
  const otherDevice = makeClient(baseUrl, () => accessToken);
  await syncFlow(api, otherDevice, createTodoClient({ baseUrl, session: tokens }), userId, step);
  await timeFlow(api, userId, step);
  await transferFlow(api, baseUrl, userId, step);
  await webhooksFlow(api, userId, step);
  await tokensFlow(api, baseUrl, userId, step);

  tokens = await step("refresh rotates the pair", async () => {
    const pair = expectStatus(await api.POST("/api/auth/refresh", { body: { refresh_token: refreshTokenOf(tokens) } }), 200);
    check(refreshTokenOf(pair) !== refreshTokenOf(tokens) && pair.user.id === userId, "refresh did not rotate");
    return pair;
  });
  accessToken = tokens.access_token;
  await step("the new access token works", async () => {
    check(expectStatus(await api.GET("/api/me"), 200).id === userId, "new token rejected");
  });

  await step("a second login is a second session; ending it ends its access token", async () => {
    const other = expectStatus(await api.POST("/api/auth/login", { body: { email, password } }), 200);
    const { sessions } = expectStatus(await api.GET("/api/me/sessions"), 200);
    const current = sessions.filter((s) => s.current);
    check(sessions.length === 2 && current.length === 1, `sessions ${JSON.stringify(sessions)}`);
    const otherSession = sessions.find((s) => !s.current);
    check(otherSession !== undefined, "the second session is not listed");
    const path = { session_id: otherSession?.id ?? "" };
    expectEmpty(await api.DELETE("/api/me/sessions/{session_id}", { params: { path } }), 204);
    const withOther = makeClient(baseUrl, () => other.access_token);
    expectProblem(await withOther.GET("/api/me"), 401);
    expectProblem(await api.DELETE("/api/me/sessions/{session_id}", { params: { path } }), 404);
    check(expectStatus(await api.GET("/api/me/sessions"), 200).sessions.length === 1, "the session is still listed");
  });

  await step("logout (no access token needed) ends the session: its refresh and access tokens are 401", async () => {
    const anonymous = makeClient(baseUrl);
    expectEmpty(await anonymous.POST("/api/auth/logout", { body: { refresh_token: refreshTokenOf(tokens) } }), 204);
    const answer = await anonymous.POST("/api/auth/refresh", { body: { refresh_token: refreshTokenOf(tokens) } });
    expectProblem(answer, 401);
    check(answer.response.headers.get("WWW-Authenticate")?.startsWith("Bearer"), "401 without WWW-Authenticate: Bearer");
    expectProblem(await api.GET("/api/me"), 401);
  });

  await step("logout-all ends every session at once", async () => {
    const first = expectStatus(await api.POST("/api/auth/login", { body: { email, password } }), 200);
    const second = expectStatus(await api.POST("/api/auth/login", { body: { email, password } }), 200);
    accessToken = first.access_token;
    expectEmpty(await api.POST("/api/auth/logout-all"), 204);
    expectProblem(await api.GET("/api/me"), 401);
    expectProblem(await makeClient(baseUrl, () => second.access_token).GET("/api/me"), 401);
    expectProblem(await api.POST("/api/auth/refresh", { body: { refresh_token: refreshTokenOf(second) } }), 401);
  });

  await step("metrics (no token) count this flow's signup and login by operation and status", async () => {
    const anonymous = makeClient(baseUrl);
    const text = expectStatus(await anonymous.GET("/metrics", { parseAs: "text" }), 200);
    for (const [operation, status] of [["signup", "201"], ["login", "200"]]) {
      const line = `todo_http_requests_total{operation="${operation}",status="${status}"}`;
      check(text.includes(line), `metrics lack ${line}`);
    }
  });

  await step("delete the account, after which its token is 401", async () => {
    accessToken = expectStatus(await api.POST("/api/auth/login", { body: { email, password } }), 200).access_token;
    expectEmpty(await api.DELETE("/api/me", { body: { password } }), 204);
    expectProblem(await api.GET("/api/me"), 401);
  });
}

main().then(
  () => console.log(`flow: ${steps} steps passed`),
  (error: unknown) => {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    console.error(`FAIL after ${steps} steps passed: ${message}`);
    if (!(error instanceof UnexpectedAnswer) && error instanceof Error) console.error(error.stack);
    process.exitCode = 1;
  },
);
