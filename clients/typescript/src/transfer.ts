/**
 * Integrations a frontend offers in its settings (SPEC §13): a calendar feed to subscribe to,
 * and taking one's data out and in again. Export the account (a task's comment with it), import
 * the document into a fresh account, export that one and compare: the same document but for ids
 * and timestamps (and the inbox, which keeps the importing account's own name, colour and
 * place); the comment is the importer's own there. Exports asked for at once are each answered,
 * a busy one after its Retry-After, and so are a feed's polls from several devices at once; a
 * large export read slowly comes whole.
 */
import { type Api, type Schemas, check, expectEmpty, expectProblem, expectStatus, makeClient } from "./api.js";

type Step = <T>(name: string, run: () => Promise<T>) => Promise<T>;
type Export = Schemas["Export"];
const TIMESTAMPS = new Set(["exported_at", "created_at", "updated_at", "completed_at", "last_completed_at", "deleted_at"]);
const COMMENT = "Bring the receipts";

/** The account's document. A worker makes an account's export one at a time (and two at once
 * in all): one asked for meanwhile is 503 `export-busy`, asked again after its Retry-After. */
async function exportOf(api: Api, userId: string, busy?: { refused: number }): Promise<Export> {
  for (let attempt = 0; ; attempt += 1) {
    const answer = await api.GET("/api/{user_id}/export", { params: { path: { user_id: userId } } });
    if (answer.response.status !== 503 || attempt === 5) return expectStatus(answer, 200);
    const problem = expectProblem(answer, 503);
    check(problem.type.endsWith("export-busy"), `a 503 that is not export-busy: ${JSON.stringify(problem)}`);
    if (busy) busy.refused += 1;
    const wait = Number(answer.response.headers.get("Retry-After") ?? "1");
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
  }
}

/** Each list's tasks in document order, ids replaced by places, timestamps by whether set;
 * the inbox by its role alone; each comment at its task's place. */
function comparable(doc: Export): string {
  const lists = new Map(doc.lists.map((list) => [list.id, list.is_inbox ? "inbox" : `${list.name}|${list.color ?? ""}`]));
  const places = new Map<string, number>();
  const byList = new Map<string, unknown[]>();
  for (const task of doc.tasks) {
    const key = lists.get(task.list_id) ?? "?";
    const group = byList.get(key) ?? [];
    places.set(task.id, group.length);
    const fields = Object.entries(task)
      .filter(([name]) => !["id", "list_id", "parent_id"].includes(name))
      .map(([name, value]) => [name, TIMESTAMPS.has(name) ? value !== null && value !== undefined : value]);
    group.push([task.parent_id ? places.get(task.parent_id) : null, fields]);
    byList.set(key, group);
  }
  const others = doc.lists.filter((list) => !list.is_inbox).map((list) => lists.get(list.id));
  const taskKeys = new Map(doc.tasks.map((task) => [task.id, `${lists.get(task.list_id)}#${places.get(task.id)}`]));
  const comments = (doc.comments ?? []).map(({ task_id, body, by_owner, author_name }) => [
    taskKeys.get(task_id),
    body,
    by_owner ?? true,
    author_name ?? null,
  ]);
  return JSON.stringify({ others, tasks: [...byList.entries()].sort(), comments });
}

/** A feed's URL as a calendar app polls it: a feed being written (503 `feed-busy`) is asked
 * again after its Retry-After. */
async function poll(url: string, headers: Record<string, string> = {}): Promise<Response> {
  for (let attempt = 0; ; attempt += 1) {
    const answer = await fetch(url, { headers });
    if (answer.status !== 503 || attempt === 5) return answer;
    const problem = (await answer.json()) as { type?: string };
    check(problem.type?.endsWith("feed-busy") === true, `a 503 that is not feed-busy: ${JSON.stringify(problem)}`);
    await new Promise((resolve) => setTimeout(resolve, Number(answer.headers.get("Retry-After") ?? "1") * 1000));
  }
}

export async function transferFlow(api: Api, baseUrl: string, userId: string, step: Step): Promise<void> {
  await step("a calendar feed: a secret URL serving text/calendar, 304 when unchanged, 404 once revoked", async () => {
    const path = { user_id: userId };
    const feed = expectStatus(await api.POST("/api/{user_id}/calendar-feeds", { params: { path }, body: {} }), 201);
    const [first, ...others] = await Promise.all([0, 1, 2].map(() => poll(feed.url)));  // devices at once
    check(first?.status === 200 && first.headers.get("Content-Type")?.startsWith("text/calendar"), `feed ${first?.status}`);
    const text = await first.text();
    check(text.startsWith("BEGIN:VCALENDAR\r\n") && text.includes("BEGIN:VTODO"), "no VTODO in the feed");
    for (const other of others) check(other.status === 200 && (await other.text()) === text, `a feed polled at once: ${other.status}`);
    const again = await poll(feed.url, { "If-None-Match": first.headers.get("ETag") ?? "" });
    check(again.status === 304, `an unchanged feed answered ${again.status}`);
    const { feeds } = expectStatus(await api.GET("/api/{user_id}/calendar-feeds", { params: { path } }), 200);
    check(feeds.some((f) => f.id === feed.id) && !JSON.stringify(feeds).includes(feed.url), "the listing shows the secret");
    expectEmpty(await api.DELETE("/api/{user_id}/calendar-feeds/{feed_id}", { params: { path: { ...path, feed_id: feed.id } } }), 204);
    check((await fetch(feed.url)).status === 404, "a revoked feed still answers");
  });

  const exported = await step("export the account: lists, tasks (the trash too), a task's comment", async () => {
    const path = { user_id: userId };
    const task = expectStatus(await api.POST("/api/{user_id}/tasks", { params: { path }, body: { title: "Pay the plumber" } }), 201);
    const commentPath = { ...path, task_id: task.id };
    expectStatus(await api.POST("/api/{user_id}/tasks/{task_id}/comments", { params: { path: commentPath }, body: { body: `  ${COMMENT} ` } }), 201);
    const busy = { refused: 0 };  // three at once: each comes, refused ones after their Retry-After
    const asked = exportOf(api, userId, busy);
    const others = await Promise.all([exportOf(api, userId, busy), exportOf(api, userId, busy)]);
    const doc = await asked;
    check(doc.format === "todo-api.export.v1" && doc.tasks.length > 0, `export ${doc.format} of ${doc.tasks.length} tasks`);
    check(others.every((other) => other.tasks.length === doc.tasks.length), `exports at once differ (${busy.refused} refused as busy)`);
    const comment = doc.comments?.find((c) => c.body === COMMENT);
    check(comment?.task_id === task.id && comment.by_owner === true, `the comment in the export: ${JSON.stringify(comment)}`);
    return doc;
  });

  await step("import it into a fresh account, dry run first; export again: the same but ids and timestamps", async () => {
    const email = `transfer-${Date.now()}@example.org`;
    const password = "correct horse battery staple";
    const anonymous = makeClient(baseUrl);
    expectStatus(await anonymous.POST("/api/auth/signup", { body: { email, password, name: "Fresh" } }), 201);
    const login = expectStatus(await anonymous.POST("/api/auth/login", { body: { email, password } }), 200);
    const fresh = makeClient(baseUrl, () => login.access_token);
    const path = { user_id: login.user.id };
    const dry = expectStatus(
      await fresh.POST("/api/{user_id}/import", { params: { path, query: { dry_run: true } }, body: exported }),
      200,
    );
    check(
      dry.dry_run && dry.tasks + dry.trashed === exported.tasks.length && dry.comments === (exported.comments ?? []).length,
      `dry run ${JSON.stringify(dry)}`,
    );
    check((await exportOf(fresh, login.user.id)).tasks.length === 0, "a dry run wrote tasks");
    const made = expectStatus(await fresh.POST("/api/{user_id}/import", { params: { path }, body: exported }), 200);
    check(!made.dry_run && made.tasks + made.trashed === exported.tasks.length, `import ${JSON.stringify(made)}`);
    const again = await exportOf(fresh, login.user.id);
    check(comparable(again) === comparable(exported), "the export of the import differs from the export");
    const shared = new Set(exported.tasks.map((t) => t.id));
    check(!again.tasks.some((t) => shared.has(t.id)), "an import kept an id");
    const moved = again.comments?.find((c) => c.body === COMMENT);
    const onTask = again.tasks.find((t) => t.id === moved?.task_id);
    check(onTask?.title === "Pay the plumber", `the comment's task after the import: ${JSON.stringify(onTask)}`);
    const read = expectStatus(
      await fresh.GET("/api/{user_id}/tasks/{task_id}/comments", { params: { path: { ...path, task_id: onTask.id }, query: {} } }),
      200,
    );
    check(read.comments[0]?.author?.id === login.user.id, `the imported comment's author: ${JSON.stringify(read.comments[0])}`);
    const broken = { ...exported, tasks: [{ id: exported.tasks[0]?.id ?? "", list_id: exported.lists[0]?.id ?? "", title: "" }] };
    const problem = expectProblem(await fresh.POST("/api/{user_id}/import", { params: { path }, body: broken }), 422);
    check(problem.errors?.[0]?.loc.join(".").startsWith("body.tasks.0"), `422 at ${problem.errors?.[0]?.loc.join(".")}`);
    await largeExport(fresh, baseUrl, login.user.id, login.access_token);
    expectEmpty(await fresh.DELETE("/api/me", { body: { password } }), 204);
  });
}

/** An export over 256 KiB is sent as the client reads it: read a part at a time with pauses, it
 * comes whole, as long as its Content-Length says. */
async function largeExport(api: Api, baseUrl: string, userId: string, token: string): Promise<void> {
  const inbox = crypto.randomUUID();
  const tasks = Array.from({ length: 200 }, (_, n) => ({
    id: crypto.randomUUID(), list_id: inbox, title: `Large ${n}`, description: "x".repeat(1500),
  }));
  const doc = { format: "todo-api.export.v1" as const, lists: [{ id: inbox, name: "Inbox", is_inbox: true }], tasks };
  const path = { user_id: userId };
  expectStatus(await api.POST("/api/{user_id}/import", { params: { path }, body: doc }), 200);
  const answer = await fetch(`${baseUrl}/api/${userId}/export`, { headers: { Authorization: `Bearer ${token}` } });
  check(answer.status === 200 && answer.body !== null, `a large export answered ${answer.status}`);
  const length = Number(answer.headers.get("Content-Length"));
  const reader = answer.body.getReader();
  const parts: Uint8Array[] = [];
  for (let part = await reader.read(); !part.done; part = await reader.read()) {
    parts.push(part.value);
    await new Promise((resolve) => setTimeout(resolve, 5));  // a reader slower than the network
  }
  const bytes = Buffer.concat(parts);
  check(length > 256 * 1024 && bytes.length === length, `a large export of ${bytes.length} bytes, Content-Length ${length}`);
  const large = JSON.parse(bytes.toString("utf8")) as Export;
  check(large.tasks.filter((t) => t.title.startsWith("Large ")).length === 200, "a large export lacks tasks");
}
