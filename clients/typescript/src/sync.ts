/**
 * Sync across tabs and devices, as a frontend keeps a local copy (SPEC §7) with the package's
 * sync helper (`Replica`): a full sync through /changes, then live events through /events (fetch
 * streaming with the bearer header: a browser's EventSource cannot send it), while a second
 * client writes: creates, edits, moves, trash and restore, a batch. The local copy must end
 * equal to a fresh full listing. Also: the trash page, clear-completed, an atomic batch with a
 * stale if_match, and 304 on the pages; clearing a list that is not the caller's is 422.
 */
import { type Api, type Schemas, type Task, check, expectEmpty, expectProblem, expectStatus } from "./api.js";
import { Replica, type TodoClient } from "./index.js";

export type Step = <T>(name: string, run: () => Promise<T>) => Promise<T>;

async function fullListing(api: Api, userId: string): Promise<Task[]> {
  const tasks: Task[] = [];
  let cursor: string | undefined;
  for (;;) {
    const query = { limit: 100, ...(cursor ? { cursor } : {}) };
    const page = expectStatus(await api.GET("/api/{user_id}/tasks", { params: { path: { user_id: userId }, query } }), 200);
    tasks.push(...page.tasks);
    if (page.next_cursor === null) return tasks;
    cursor = page.next_cursor;
  }
}

const canonical = (tasks: Iterable<Task>): string =>
  JSON.stringify([...tasks].sort((a, b) => (a.id < b.id ? -1 : 1)));

export async function converged(api: Api, userId: string, copy: Replica): Promise<boolean> {
  const truth = canonical(await fullListing(api, userId));
  for (let tries = 0; tries < 50; tries += 1) {
    if (canonical(copy.tasks.values()) === truth) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

/** `device` is the package's client on the session `api` uses. */
export async function syncFlow(api: Api, otherDevice: Api, device: TodoClient, userId: string, step: Step): Promise<void> {
  const path = { user_id: userId };
  const copy = new Replica(device, { pageSize: 2 });
  await step("full sync through /changes fills the local copy", async () => {
    await copy.pull();
    check(canonical(copy.tasks.values()) === canonical(await fullListing(api, userId)), "full sync differs from the listing");
    check(copy.lists.size >= 1, "the full sync has no lists");
  });

  await copy.start(); // catches up, then follows /events
  const written = await step("another device writes while the stream follows", async () => {
    const made: Task[] = [];
    for (const title of ["Synced one", "Synced two", "Synced three"]) {
      made.push(expectStatus(await otherDevice.POST("/api/{user_id}/tasks", { params: { path }, body: { title } }), 201));
    }
    const [one, two, three] = made as [Task, Task, Task];
    expectStatus(await otherDevice.PATCH("/api/{user_id}/tasks/{task_id}", { params: { path: { ...path, task_id: one.id } }, body: { title: "Synced one, edited" } }), 200);
    expectStatus(await otherDevice.POST("/api/{user_id}/tasks/{task_id}/move", { params: { path: { ...path, task_id: three.id } }, body: { parent_id: two.id } }), 200);
    expectEmpty(await otherDevice.DELETE("/api/{user_id}/tasks/{task_id}", { params: { path: { ...path, task_id: two.id } } }), 204);
    const batch = expectStatus(await otherDevice.POST("/api/{user_id}/tasks/batch", { params: { path }, body: { operations: [
      { op: "create", body: { title: "From a batch" } },
      { op: "complete", task_id: one.id, body: { is_completed: true } },
    ] } }), 200);
    check(batch.results.map((r) => r.status).join() === "201,200", `batch results ${JSON.stringify(batch.results)}`);
    return { one, two, three };
  });
  await step("the live copy equals a fresh full listing", async () => {
    check(await converged(api, userId, copy), "the local copy did not converge through /events");
    check(!copy.tasks.has(written.two.id) && !copy.tasks.has(written.three.id), "trashed tasks are still in the copy");
  });
  await copy.stop();

  await step("trash page, restore with the subtask, and the copy follows by /changes", async () => {
    const trash = expectStatus(await api.GET("/api/{user_id}/trash", { params: { path } }), 200);
    check(trash.tasks.some((t) => t.id === written.three.id && t.deleted_at !== null), "the subtask is not in the trash");
    const restored = expectStatus(await otherDevice.POST("/api/{user_id}/trash/{task_id}/restore", { params: { path: { ...path, task_id: written.two.id } } }), 200);
    check(restored.deleted_at === null, "a restored task has deleted_at");
    const before = (await fullListing(api, userId)).length;
    const cleared = expectStatus(await otherDevice.POST("/api/{user_id}/tasks/clear-completed", { params: { path }, body: {} }), 200);
    const after = (await fullListing(api, userId)).length;
    check(cleared.count >= 1 && cleared.count === before - after, `clear-completed moved ${cleared.count} of ${before - after}`);
    const stale = { list_id: "00000000-0000-4000-8000-000000000000" }; // no list of the caller's
    const refused = expectProblem(await otherDevice.POST("/api/{user_id}/tasks/clear-completed", { params: { path }, body: stale }), 422);
    check(refused.errors?.[0]?.loc.join() === "body,list_id", `clear-completed of no list: ${JSON.stringify(refused)}`);
    await copy.pull();
    check(copy.tasks.has(written.three.id) && !copy.tasks.has(written.one.id), "the copy missed the restore or the clear");
    check(await converged(api, userId, copy), "the copy differs from the listing after /changes");
  });

  await step("Last-Event-ID resumes with exactly what the copy missed", async () => {
    const before = copy.since;
    expectStatus(await otherDevice.POST("/api/{user_id}/tasks", { params: { path }, body: { title: "While offline" } }), 201);
    const replayed: string[] = [];
    const resumed = device.events({
      ...(before === undefined ? {} : { lastEventId: before }),
      onChange: (change) => change.data && "title" in change.data && replayed.push(change.data.title),
    });
    for (let tries = 0; tries < 50 && replayed.length === 0; tries += 1) await new Promise((resolve) => setTimeout(resolve, 100));
    await resumed.close();
    check(replayed.join() === "While offline", `replayed ${replayed.join()}`);
    check(await copy.pull() === 1 && await converged(api, userId, copy), "the copy did not catch up");
  });

  await step("an atomic batch with a stale if_match changes nothing (409, others 424)", async () => {
    const target = [...copy.tasks.values()][0];
    check(target, "no task to edit");
    const answer = await otherDevice.POST("/api/{user_id}/tasks/batch", { params: { path }, body: { atomic: true, operations: [
      { op: "create", body: { title: "Never" } },
      { op: "update", task_id: target.id, if_match: `"${target.version + 7}"`, body: { title: "Never" } },
    ] } });
    const problem = expectProblem(answer, 409) as Schemas["BatchFailed"];
    check(problem.results.map((r) => r.status).join() === "424,412", `results ${JSON.stringify(problem.results)}`);
    check(await copy.pull() === 0, "a failed atomic batch changed something");
  });

  await step("pages carry a weak ETag: 304 until something changes", async () => {
    const first = await api.GET("/api/{user_id}/tasks", { params: { path } });
    const tag = first.response.headers.get("ETag") ?? "";
    check(tag.startsWith('W/"'), `tasks page ETag ${tag}`);
    const again = await api.GET("/api/{user_id}/tasks", { params: { path, header: { "If-None-Match": tag } } });
    expectEmpty(again, 304);
  });
}
