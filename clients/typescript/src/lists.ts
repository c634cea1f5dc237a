/**
 * The sidebar and the manual order, as a frontend with drag and drop uses them (SPEC §6): lists
 * in the sidebar, subtasks nested under their parent, reordering by moves, and the order read
 * back checked against the order the screen shows.
 */
import {
  type Api,
  type Schemas,
  type Task,
  check,
  etagOf,
  expectEmpty,
  expectProblem,
  expectStatus,
} from "./api.js";

type List = Schemas["List"];
type Step = <T>(name: string, run: () => Promise<T>) => Promise<T>;

/** Byte order, as the contract says positions compare (never localeCompare). */
const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function sidebar(api: Api, userId: string): Promise<List[]> {
  const { lists } = expectStatus(await api.GET("/api/{user_id}/lists", { params: { path: { user_id: userId } } }), 200);
  const positions = lists.map((l) => l.position);
  check(positions.join() === [...positions].sort(byteOrder).join(), "lists are not in position order");
  return lists;
}

/** Every page of one sibling group (a list's top level, or a task's children) in manual order. */
async function manualOrder(api: Api, userId: string, listId: string, parentId: string): Promise<Task[]> {
  const tasks: Task[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 20; pages += 1) {
    const query = { sort: "position" as const, list_id: listId, parent_id: parentId, limit: 2, ...(cursor ? { cursor } : {}) };
    const page = expectStatus(await api.GET("/api/{user_id}/tasks", { params: { path: { user_id: userId }, query } }), 200);
    tasks.push(...page.tasks);
    if (page.next_cursor === null) return tasks;
    cursor = page.next_cursor;
  }
  throw new Error("too many pages");
}

async function move(api: Api, userId: string, task: Task, body: Schemas["TaskMove"]): Promise<Task> {
  const path = { user_id: userId, task_id: task.id };
  return expectStatus(await api.POST("/api/{user_id}/tasks/{task_id}/move", { params: { path }, body }), 200);
}

export async function listsFlow(api: Api, userId: string, step: Step): Promise<void> {
  const [inbox] = await step("the sidebar starts with the inbox alone", async () => {
    const lists = await sidebar(api, userId);
    check(lists.length === 1 && lists[0]?.is_inbox === true && lists[0].name === "Inbox", `sidebar ${JSON.stringify(lists)}`);
    return lists;
  });
  check(inbox !== undefined, "no inbox");

  const [work, home] = await step("create two lists (Location, ETag), placed last", async () => {
    const made: List[] = [];
    for (const body of [{ name: "Work", color: "#1f6feb" }, { name: "Home" }]) {
      const answer = await api.POST("/api/{user_id}/lists", { params: { path: { user_id: userId } }, body });
      const list = expectStatus(answer, 201);
      check(answer.response.headers.get("Location")?.endsWith(`/lists/${list.id}`), "bad Location");
      check(etagOf(answer.response) === '"1"', "no ETag");
      made.push(list);
    }
    const names = (await sidebar(api, userId)).map((l) => l.name);
    check(names.join() === "Inbox,Work,Home", `sidebar ${names.join()}`);
    return made;
  });
  check(work !== undefined && home !== undefined, "lists missing");

  await step("drag Home to the top of the sidebar (If-Match), rename the inbox", async () => {
    const path = { user_id: userId, list_id: home.id };
    const stale = await api.POST("/api/{user_id}/lists/{list_id}/move", { params: { path, header: { "If-Match": '"9"' } }, body: { after_id: null } });
    expectProblem(stale, 412);
    const moved = expectStatus(
      await api.POST("/api/{user_id}/lists/{list_id}/move", { params: { path, header: { "If-Match": '"1"' } }, body: { after_id: null } }),
      200,
    );
    check(moved.version === 2, "a move did not change the version");
    const renamed = expectStatus(
      await api.PATCH("/api/{user_id}/lists/{list_id}", { params: { path: { user_id: userId, list_id: inbox.id } }, body: { name: "Later" } }),
      200,
    );
    check(renamed.name === "Later" && renamed.is_inbox, "the inbox was not renamed");
    const names = (await sidebar(api, userId)).map((l) => l.name);
    check(names.join() === "Home,Later,Work", `sidebar ${names.join()}`);
  });

  const shown = await step("fill Work, nest subtasks under their parent", async () => {
    const tasks: Task[] = [];
    for (const title of ["Plan sprint", "Write spec", "Review PRs", "Ship"]) {
      const answer = await api.POST("/api/{user_id}/tasks", { params: { path: { user_id: userId } }, body: { title, list_id: work.id } });
      tasks.push(expectStatus(answer, 201));
    }
    const [plan] = tasks;
    check(plan !== undefined, "no task");
    const sub = expectStatus(
      await api.POST("/api/{user_id}/tasks", { params: { path: { user_id: userId } }, body: { title: "Estimate", parent_id: plan.id } }),
      201,
    );
    check(sub.list_id === work.id && sub.parent_id === plan.id, "the subtask is not under its parent");
    const review = tasks[2];
    check(review !== undefined, "no task");
    const nested = await move(api, userId, review, { parent_id: plan.id });
    check(nested.parent_id === plan.id && nested.list_id === work.id, "drag into a task did not nest it");
    const children = (await manualOrder(api, userId, work.id, plan.id)).map((t) => t.title);
    check(children.join() === "Estimate,Review PRs", `children ${children.join()}`);
    return tasks.filter((t) => t.id !== review.id);
  });

  await step("reorder by drag and drop; the order read back is the order shown", async () => {
    const order = [...shown];
    const drops: [number, number | null][] = [[2, null], [0, 1], [1, 2], [2, null]]; // [dragged, dropped after]
    for (const [from, after] of drops) {
      const dragged = order[from];
      check(dragged !== undefined, "nothing to drag");
      const target = after === null ? null : order[after];
      await move(api, userId, dragged, { after_id: target === null || target === undefined ? null : target.id });
      order.splice(from, 1);
      const index = target === null || target === undefined ? 0 : order.indexOf(target) + 1;
      order.splice(index, 0, dragged);
      const read = (await manualOrder(api, userId, work.id, "none")).map((t) => t.title);
      check(read.join() === order.map((t) => t.title).join(), `read ${read.join()}, shown ${order.map((t) => t.title).join()}`);
    }
  });

  await step("a parent dropped into its own subtask: 422 at body.parent_id", async () => {
    const parent = shown[0];
    check(parent !== undefined, "no parent");
    const [child] = await manualOrder(api, userId, work.id, parent.id);
    check(child !== undefined, "no child");
    const answer = await api.POST("/api/{user_id}/tasks/{task_id}/move", {
      params: { path: { user_id: userId, task_id: parent.id } },
      body: { parent_id: child.id },
    });
    const problem = expectProblem(answer, 422);
    check(problem.errors?.[0]?.loc.join(".") === "body.parent_id", `422 at ${JSON.stringify(problem.errors)}`);
  });

  await step("move a task to Home with its subtasks; complete it and they complete too", async () => {
    const parent = shown[0];
    check(parent !== undefined, "no parent");
    const moved = await move(api, userId, parent, { list_id: home.id });
    check(moved.list_id === home.id && moved.parent_id === null, "not moved to Home's top level");
    const children = await manualOrder(api, userId, home.id, parent.id);
    check(children.length === 2, "the subtasks did not travel");
    const path = { user_id: userId, task_id: parent.id };
    expectStatus(await api.PATCH("/api/{user_id}/tasks/{task_id}/complete", { params: { path }, body: { is_completed: true } }), 200);
    const after = await manualOrder(api, userId, home.id, parent.id);
    check(after.every((t) => t.is_completed), "completion did not cascade");
    const stats = expectStatus(await api.GET("/api/{user_id}/stats", { params: { path: { user_id: userId }, query: { list_id: home.id } } }), 200);
    check(stats.total === 3 && stats.completed === 3, `Home stats ${JSON.stringify(stats)}`);
  });

  await step("the inbox cannot be deleted (409); deleting Home takes its tasks", async () => {
    const inboxPath = { user_id: userId, list_id: inbox.id };
    expectProblem(await api.DELETE("/api/{user_id}/lists/{list_id}", { params: { path: inboxPath } }), 409);
    const path = { user_id: userId, list_id: home.id };
    const current = await api.GET("/api/{user_id}/lists/{list_id}", { params: { path } });
    expectStatus(current, 200);
    expectEmpty(await api.DELETE("/api/{user_id}/lists/{list_id}", { params: { path, header: { "If-Match": etagOf(current.response) } } }), 204);
    expectProblem(await api.GET("/api/{user_id}/lists/{list_id}", { params: { path } }), 404);
    const names = (await sidebar(api, userId)).map((l) => l.name);
    check(names.join() === "Later,Work", `sidebar ${names.join()}`);
  });
}
